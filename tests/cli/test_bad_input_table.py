"""Every bad input is one clean line: the table of what users (and a hostile tester) tried.

Each case runs the real command line in-process and must end with exit code 2, exactly one
line on stderr that starts with ``error:`` and names what was wrong, no traceback, and
nothing half-written (the paths a case names must not exist afterwards).
"""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from stream.cli import main

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo" / "session"
VIDEO = DEMO / "video" / "seg_000000.mp4"
AUDIO = DEMO / "audio" / "seg_000000.wav"


def session(d: Path) -> Path:
    s = d / "s"
    if not s.exists():
        shutil.copytree(DEMO, s, ignore=shutil.ignore_patterns("features"))
    return s


def edit(d: Path, rel: str, text: str | None, append: bool = False) -> Path:
    """A copy of the demo session with one file replaced (None: deleted)."""
    s = session(d)
    f = s / rel
    if text is None:
        f.unlink()
    elif append:
        f.write_text(f.read_text() + text)
    else:
        f.write_text(text)
    return s


def file(d: Path, name: str = "f", text: str = "x") -> Path:
    (d / name).write_text(text)
    return d / name


def torn_words_model(d: Path) -> Path:
    """The shipped fusion model with its text prior's words model cut short (idf of 3 n-grams)."""
    import torch

    ck = torch.load(ROOT / "models" / "fusion.pt", weights_only=True)
    ck["text_prior"]["lexical"]["idf"] = torch.ones(3)
    torch.save(ck, d / "m.pt")
    return d / "m.pt"


def toml(d: Path, text: str) -> str:
    return str(file(d, "c.toml", text))


def jl(d: Path, name: str, *rows: str) -> str:
    return str(file(d, name, "".join(r + "\n" for r in rows)))


def imp(d: Path, *extra: str) -> list[str]:
    """``import`` of a good video into a new directory, with ``extra``."""
    return ["import", str(d / "new"), "--video", str(VIDEO), *extra]


def text(d: Path, *rows: str) -> list[str]:
    return imp(d, "--text", jl(d, "t.jsonl", *rows))


def labels(d: Path, *rows: str) -> list[str]:
    return imp(d, "--labels", jl(d, "l.jsonl", *rows))


def replay(d: Path | str, *extra: str) -> list[str]:
    return ["replay", str(d), "--headless", "--speed", "max", *extra]


def cfg(d: Path, text: str) -> list[str]:
    return replay(DEMO, "--config", toml(d, text))


def live(*extra: str) -> list[str]:
    return ["live", "--video", "none", "--audio", "synthetic", "--headless", "--duration", "1", *extra]


def train(d: Path, *extra: str) -> list[str]:
    return ["train", str(DEMO), "--out", str(d / "m.pt"), *extra]


def two_keys(d: Path) -> list[str]:
    assert main(["keys", str(d / "k")]) == 0
    return ["keys", str(d / "k")]


ON = '"intent": "HassTurnOn"'
Case = Callable[[Path], list[str]]

# id -> (argv, built in a fresh temporary directory; a word the line must hold; paths that must
# not exist afterwards: nothing half-written)
CASES: dict[str, tuple[Case, str, tuple[str, ...]]] = {
    # -- import ----------------------------------------------------------------------------
    "import_into_a_file": (lambda d: ["import", str(file(d)), "--video", str(VIDEO)], "f", ()),
    "import_into_a_full_dir": (lambda d: ["import", str(session(d)), "--video", str(VIDEO)], "already exists",
                               ()),
    "import_nothing": (lambda d: ["import", str(d / "new")], "--video", ("new",)),
    "import_missing_video": (lambda d: ["import", str(d / "new"), "--video", str(d / "no.mp4")], "no.mp4",
                             ("new",)),
    "import_audio_as_video": (lambda d: ["import", str(d / "new"), "--video", str(AUDIO)], "seg_000000.wav",
                              ("new",)),
    "import_video_as_audio": (lambda d: ["import", str(d / "new"), "--audio", str(VIDEO)], "seg_000000.mp4",
                              ("new",)),
    "import_text_nan_time": (lambda d: text(d, '{"t": NaN, "text": "hi"}'), "t.jsonl:1", ("new",)),
    "import_text_infinite_time": (lambda d: text(d, '{"t": Infinity, "text": "hi"}'), "t.jsonl", ("new",)),
    "import_text_negative_time": (lambda d: text(d, '{"t": -3, "text": "hi"}'), "t.jsonl:1", ("new",)),
    "import_text_string_time": (lambda d: text(d, '{"t": "soon", "text": "hi"}'), "t.jsonl:1", ("new",)),
    "import_text_not_json": (lambda d: text(d, '{"t": 0.1, "text": "a"}', "nope", '{"t": 0.2, "text": "b"}'),
                             "t.jsonl:2", ("new",)),
    "import_text_a_list": (lambda d: text(d, "[1, 2]"), "t.jsonl:1", ("new",)),
    "import_text_number_text": (lambda d: text(d, '{"t": 0.1, "text": 5}'), "t.jsonl:1", ("new",)),
    "import_labels_string_end": (lambda d: labels(d, f'{{"start": 0.1, "end": "x", {ON}}}'), "l.jsonl:1",
                                 ("new",)),
    "import_labels_nan_start": (lambda d: labels(d, f'{{"start": NaN, "end": 0.5, {ON}}}'), "l.jsonl:1",
                                ("new",)),
    "import_labels_end_before_start": (lambda d: labels(d, f'{{"start": 0.5, "end": 0.1, {ON}}}'),
                                       "l.jsonl:1", ("new",)),
    "import_labels_unknown_intent": (lambda d: labels(d, '{"start": 0.1, "end": 0.5, "intent": "HassFly"}'),
                                     "HassFly", ("new",)),
    "import_labels_missing_field": (lambda d: labels(d, f'{{"start": 0.1, {ON}}}'), "l.jsonl:1", ("new",)),
    "import_labels_past_the_media": (lambda d: labels(d, f'{{"start": 50, "end": 51, {ON}}}'), "labels",
                                     ("new",)),
    # -- sessions that are not right -------------------------------------------------------
    "replay_missing_dir": (lambda d: replay(d / "nope"), "nope", ()),
    "replay_not_a_session": (lambda d: replay(d), "manifest.json", ()),
    "replay_manifest_a_list": (lambda d: replay(edit(d, "manifest.json", "[]")), "manifest.json", ()),
    "replay_manifest_bad_json": (lambda d: replay(edit(d, "manifest.json", "{")), "manifest.json", ()),
    "replay_manifest_newer": (lambda d: replay(edit(d, "manifest.json", json.dumps(
        {"format": "stream-session", "version": 99}))), "version 99", ()),
    "replay_manifest_foreign": (lambda d: replay(edit(d, "manifest.json", '{"format": "x"}')),
                                "manifest.json", ()),
    "replay_frames_not_numbers": (lambda d: replay(edit(d, "video/frames.csv", "frame,segment,index,t\n"
                                                        "a,b,c,d\n0,0,0,0.0\n")), "frames.csv:2", ()),
    "replay_frames_torn_tail_is_fine_but_a_gone_segment_is_not": (
        lambda d: replay(edit(d, "video/frames.csv", "frame,segment,index,t\n0,0,0,0.0\n0,99,0,1.0\n1,99")),
        "seg_000099.mp4", ()),
    "replay_frames_torn_midway": (lambda d: replay(edit(d, "video/frames.csv",
                                                        "frame,segment,index,t\n0,0,0\n1,0,1,0.06\n")),
                                  "frames.csv", ()),
    "replay_chunks_not_numbers": (lambda d: replay(edit(d, "audio/chunks.csv", "segment,offset,t,n\n"
                                                        "1,x,2,3\n0,0,0.0,1536\n")), "chunks.csv:2", ()),
    "replay_chunks_wrong_header": (lambda d: replay(edit(d, "audio/chunks.csv", "a,b\n0,0\n")),
                                   "chunks.csv:1", ()),
    "replay_video_segment_gone": (lambda d: replay(edit(d, "video/seg_000003.mp4", None)), "seg_000003.mp4",
                                  ()),
    "replay_audio_segment_gone": (lambda d: replay(edit(d, "audio/seg_000002.wav", None)), "seg_000002.wav",
                                  ()),
    "replay_text_bad_line": (lambda d: replay(edit(d, "text.jsonl", '{"t": 1, "text": "a"}\nnope\n'
                                                   '{"t": 2, "text": "b"}\n')), "text.jsonl:2", ()),
    "replay_speed_nan": (lambda d: ["replay", str(DEMO), "--speed", "nan"], "--speed", ()),
    "replay_speed_inf": (lambda d: ["replay", str(DEMO), "--speed", "inf"], "--speed", ()),
    "replay_speed_negative": (lambda d: ["replay", str(DEMO), "--speed", "-2"], "--speed", ()),
    "replay_speed_word": (lambda d: ["replay", str(DEMO), "--speed", "fast"], "--speed", ()),
    "replay_start_past_end": (lambda d: replay(DEMO, "--start", "1000"), "--start", ()),
    "replay_start_negative": (lambda d: replay(DEMO, "--start", "-1"), "--start", ()),
    "replay_start_nan": (lambda d: replay(DEMO, "--start", "nan"), "--start", ()),
    "replay_start_a_word": (lambda d: replay(DEMO, "--start", "soon"), "--start", ()),
    "replay_end_before_start": (lambda d: replay(DEMO, "--start", "5", "--end", "2"), "--end", ()),
    "replay_predictions_into_a_file": (lambda d: replay(DEMO, "--predictions", str(file(d) / "p.jsonl")),
                                       "p.jsonl", ()),
    "replay_model_missing": (lambda d: replay(DEMO, "--model", str(d / "m.pt")), "m.pt", ()),
    "replay_model_not_a_checkpoint": (lambda d: replay(DEMO, "--model", str(file(d, "m.pt", "hello"))),
                                      "m.pt", ()),
    "replay_model_a_directory": (lambda d: replay(DEMO, "--model", str(d)), "", ()),
    "replay_from_features_without_cache": (lambda d: replay(session(d), "--from-features"), "features", ()),
    # -- configs ---------------------------------------------------------------------------
    "config_missing": (lambda d: replay(DEMO, "--config", str(d / "c.toml")), "c.toml", ()),
    "config_not_toml": (lambda d: cfg(d, "[run\n"), "c.toml", ()),
    "config_unknown_key": (lambda d: cfg(d, "[run]\nspeeed = 2\n"), "speeed", ()),
    "config_wrong_type": (lambda d: cfg(d, '[run]\nmax_restarts = "x"\n'), "run.max_restarts", ()),
    "config_nan_number": (lambda d: cfg(d, "[fusion]\nhop_s = nan\n"), "fusion.hop_s", ()),
    "config_negative_window": (lambda d: cfg(d, "[fusion]\nwindow_s = -1\n"), "window_s", ()),
    "config_bad_transport": (lambda d: cfg(d, '[net]\ntransport = "udp"\n'), "transport", ()),
    "config_missing_curve_dir": (lambda d: cfg(d, f'[net]\ntransport = "tcp"\ncurve_dir = "{d}/k"\n'),
                                 "curve_dir", ()),
    "config_open_host_without_keys": (lambda d: cfg(d, '[net]\ntransport = "tcp"\nhost = "0.0.0.0"\n'),
                                      "0.0.0.0", ()),
    # -- eval and train --------------------------------------------------------------------
    "eval_no_labels": (lambda d: ["eval", str(edit(d, "labels.jsonl", None))], "labels.jsonl", ()),
    "eval_labels_string_end": (lambda d: ["eval", str(edit(d, "labels.jsonl",
                                                           f'{{"start": 1, "end": "x", {ON}}}\n'))],
                               "labels.jsonl:1", ()),
    "eval_labels_nan": (lambda d: ["eval", str(edit(d, "labels.jsonl",
                                                    f'{{"start": NaN, "end": 2, {ON}}}\n'))],
                        "labels.jsonl:1", ()),
    "eval_out_into_a_file": (lambda d: ["eval", str(DEMO), "--out", str(file(d) / "r")], "r", ()),
    "eval_bad_model": (lambda d: ["eval", str(DEMO), "--out", str(d / "r"), "--model",
                                  str(file(d, "m.pt", "hello"))], "m.pt", ("r",)),
    "eval_model_words_model_torn": (lambda d: ["eval", str(DEMO), "--out", str(d / "r"), "--model",
                                               str(torn_words_model(d))], "m.pt", ("r",)),
    "eval_models_missing": (lambda d: ["eval", str(DEMO), "--out", str(d / "r"), "--ablation", "--models",
                                       str(d / "m.pt")], "m.pt", ("r",)),
    "eval_missing_session": (lambda d: ["eval", str(d / "nope")], "nope", ()),
    "train_out_into_a_file": (lambda d: ["train", str(DEMO), "--out", str(file(d) / "m.pt")], "m.pt", ()),
    "train_missing_session": (lambda d: ["train", str(d / "nope"), "--out", str(d / "m.pt")], "nope",
                              ("m.pt",)),
    "train_zero_epochs": (lambda d: train(d, "--epochs", "0"), "--epochs", ("m.pt",)),
    "train_val_missing": (lambda d: train(d, "--val", str(d / "v")), "v", ("m.pt",)),
    "train_text_prior_missing": (lambda d: train(d, "--text-prior", str(d / "p.pt")), "p.pt", ("m.pt",)),
    "train_text_prior_not_a_checkpoint": (lambda d: train(d, "--text-prior", str(file(d, "p.pt"))), "p.pt",
                                          ("m.pt",)),
    "train_text_lexical_too_big": (lambda d: ["train-text", "--lexical", "1.5", "--out", str(d / "t.pt")],
                                   "--lexical", ("t.pt",)),
    "train_text_lexical_nan": (lambda d: ["train-text", "--lexical", "nan", "--out", str(d / "t.pt")],
                               "--lexical", ("t.pt",)),
    # -- live and record (checked before anything starts) ---------------------------------
    "live_video_missing": (lambda d: ["live", "--video", str(d / "v.mp4"), "--audio", "none", "--headless"],
                           "v.mp4", ()),
    "live_audio_not_audio": (lambda d: ["live", "--video", "none", "--audio", str(file(d, "a.wav")),
                                        "--headless"], "a.wav", ()),
    "live_duration_nan": (lambda d: live("--duration", "nan"), "duration", ()),
    "live_duration_negative": (lambda d: live("--duration", "-5"), "duration", ()),
    "live_speed_nan": (lambda d: live("--speed", "nan"), "speed", ()),
    "live_source_without_spec": (lambda d: live("--source", "video"), "--source", ()),
    "live_source_unknown_modality": (lambda d: live("--source", "smell=1"), "smell", ()),
    "live_record_into_a_file": (lambda d: live("--record", str(file(d) / "rec")), "rec", ()),
    "live_predictions_into_a_file": (lambda d: live("--predictions", str(file(d) / "p.jsonl")), "p.jsonl",
                                     ()),
    "record_into_a_file": (lambda d: ["record", str(file(d)), "--video", "synthetic"], "f", ()),
    "record_into_a_full_dir": (lambda d: ["record", str(session(d)), "--video", "synthetic"], "not empty",
                               ()),
    "record_duration_nan": (lambda d: ["record", str(d / "rec"), "--duration", "nan"], "duration", ("rec",)),
    "record_missing_video": (lambda d: ["record", str(d / "rec"), "--video", str(d / "v.mp4"), "--audio",
                                        "none"], "v.mp4", ("rec",)),
    # -- say, keys, corpus -----------------------------------------------------------------
    "say_nothing": (lambda d: ["say", "  "], "say", ()),
    "say_too_long": (lambda d: ["say", "x" * 1001], "1001", ()),
    "keys_over_keys": (two_keys, "already holds keys", ()),
    "keys_into_a_file": (lambda d: ["keys", str(file(d))], "f", ()),
    "corpus_scale_zero": (lambda d: ["corpus", str(d / "c"), "--scale", "0"], "--scale", ("c",)),
    "corpus_scale_nan": (lambda d: ["corpus", str(d / "c"), "--scale", "nan"], "--scale", ("c",)),
    "corpus_into_a_file": (lambda d: ["corpus", str(file(d))], "f", ()),
}


def _hang(*_) -> None:
    raise TimeoutError("the command hung")


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_clean_line(case, tmp_path, capsys):
    make, needle, absent = CASES[case]
    argv = make(tmp_path)
    capsys.readouterr()
    signal.signal(signal.SIGALRM, _hang)
    signal.alarm(120)  # a hang fails the case instead of the whole suite
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    finally:
        signal.alarm(0)
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert code == 2, (code, err)
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
    for p in absent:
        assert not (tmp_path / p).exists(), f"{p} was left behind"
