"""asr-eval on a small session of known speech: both paths, matched by time, word error rates."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from stream.cli import main
from stream.encoders.audio import SR, to_mono_16k
from stream.offline.media import espeak
from stream.session.importer import import_session
from stream.session.records import SPEECH_FILE, write_speech

pytestmark = pytest.mark.integration
SAID = ["turn on the kitchen lights", "pause the music", "what is the weather like today"]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """Three commands (espeak-ng en-us) 1.5 s apart, with their reference transcripts."""
    d = tmp_path_factory.mktemp("asr")
    pieces, refs, t = [np.zeros(SR, np.float32)], [], 1.0
    for text in SAID:
        x = to_mono_16k(*espeak(text))
        refs.append({"start": round(t, 3), "end": round(t + len(x) / SR, 3), "text": text,
                     "voice": "espeak-ng:en-us"})
        pieces += [x, np.zeros(int(1.5 * SR), np.float32)]
        t += len(x) / SR + 1.5
    sf.write(d / "a.wav", np.concatenate(pieces), SR)
    out = d / "session"
    import_session(out, None, d / "a.wav", None, None, [])
    write_speech(out / SPEECH_FILE, refs)
    return out


def test_the_report_puts_both_paths_side_by_side(session, capsys):
    assert main(["asr-eval", str(session), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    utts = report["utterances"]
    assert [u["ref"] for u in utts] == SAID
    # Each utterance got a streaming final matched by time, and its own whole decode.
    assert all(u["stream"] and u["whole"] for u in utts)
    overall = report["overall"]
    assert overall["utterances"] == 3 and overall["insertions"] == 0
    # Clear speech: both paths mostly right, and streaming loses no more than a word on
    # whole-utterance decoding (17 reference words).
    assert overall["wer_whole"] <= 0.2 and overall["wer_stream"] <= overall["wer_whole"] + 1 / 17
    assert set(report["voices"]) == {"espeak-ng:en-us"} and set(report["sessions"]) == {"session"}


def test_sessions_of_the_same_name_in_two_splits_are_reported_apart(session, tmp_path, capsys):
    """val/spoken_00 and test/spoken_00: two sessions, named as `eval` names them."""
    for split in ("val", "test"):
        shutil.copytree(session, tmp_path / split / "session")
    assert main(["asr-eval", str(tmp_path / "val" / "session"), str(tmp_path / "test" / "session"),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["sessions"]) == {"val_session", "test_session"}
    assert all(v["utterances"] == 3 for v in report["sessions"].values())
    assert report["overall"]["utterances"] == 6


def test_a_session_without_references_is_one_line(tmp_path, capsys):
    x = np.zeros(SR, np.float32)
    sf.write(tmp_path / "a.wav", x, SR)
    import_session(tmp_path / "s", None, tmp_path / "a.wav", None, None, [])
    assert main(["asr-eval", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "speech.jsonl: missing" in err[0]


def test_a_bad_reference_line_names_the_file_and_line(session, tmp_path, capsys):
    s = tmp_path / "s"
    shutil.copytree(session, s)
    (s / SPEECH_FILE).write_text('{"start": 1.0, "end": 0.5, "text": "x"}\n')
    assert main(["asr-eval", str(s)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{s / SPEECH_FILE}:1: utterance ends" in err


def test_vad_ends_finds_each_utterance_end_and_a_higher_cue_catches_no_fewer(session):
    from stream.config import Config
    from stream.offline.vad_ends import utterance_ends

    r = utterance_ends(str(session), [0.5, 0.8, 1.01], Config())
    assert r["utterances"] == 3
    caught, void = [r[t][0] for t in (0.5, 0.8, 1.01)], [r[t][1] for t in (0.5, 0.8, 1.01)]
    assert caught == sorted(caught) and caught[-1] == 3  # above 1: every last speech chunk
    assert void == sorted(void) and void[-1] > 0  # ... and every speech chunk followed by speech
