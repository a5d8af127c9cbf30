"""Sessions: format, import errors, record, crash safety, deterministic replay, eval, demo."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from stream.encoders.audio import to_mono_16k
from stream.intent.intent_set import names
from stream.offline import media as testdata
from stream.offline.evaluate import grid_predictions, score
from stream.session.format import AudioWriter, Session, VideoWriter, write_manifest
from stream.session.importer import import_session
from tests.e2e.test_e2e import ROOT, launch, live_config, predictions

pytestmark = pytest.mark.e2e


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def imported(media, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("imp")
    text = write_jsonl(d / "text.jsonl", [{"t": 3.3, "text": "pause the music"}])
    labels = write_jsonl(d / "labels.jsonl", [
        {"start": 0.6, "end": round(media["speech_end"], 2), "intent": "HassTurnOn"},
        {"start": 3.3, "end": 3.8, "intent": "HassMediaPause"}])
    out = d / "session"
    import_session(out, media["face"], media["wav"], text, labels, names())
    return out


# -- format and reader ------------------------------------------------------------
def test_import_keeps_frames_timestamps_and_samples(media, imported):
    s = Session(imported)
    assert s.streams == ["video", "audio", "text"]
    src = testdata.read_video(media["face"])
    frames = list(s.frames())
    assert len(frames) == len(src) == 120
    np.testing.assert_allclose([f.t for f in frames], np.arange(120) / 29.97, atol=1e-3)
    for f, g in zip(frames[::20], src[::20], strict=True):  # MPEG-4 is lossy, but close
        assert cv2.PSNR(f.image, g) > 30
    x, sr = sf.read(media["wav"], dtype="float32")
    want = to_mono_16k(x, sr)
    (t0, got), = s.audio_runs()
    assert t0 == 0.0 and len(got) == len(want)
    assert np.abs(got - want).max() < 1e-4  # 16-bit PCM
    assert s.labels()[0]["intent"] == "HassTurnOn"
    # Playable in an ordinary player: every segment is a normal MP4 / WAV, listed in order.
    m3u = (imported / "video.m3u").read_text().split()
    assert m3u[0] == "video/seg_000000.mp4" and all((imported / p).is_file() for p in m3u)


def test_seek_returns_frames_from_there(imported):
    frames = list(Session(imported).frames(start=2.0, end=3.0))
    assert frames and all(2.0 <= f.t < 3.0 for f in frames)
    assert len(frames) == 30


def test_reader_recovers_time_of_every_sample_across_a_dropout(tmp_path):
    write_manifest(tmp_path, complete=False, source="test")
    aw = AudioWriter(tmp_path)
    aw.add(np.full(1536, 0.1, np.float32), 0.0)
    aw.add(np.full(1536, 0.2, np.float32), 0.096)
    aw.add(np.full(1536, 0.3, np.float32), 0.5)  # 0.3 s lost in between
    aw.close()
    runs = Session(tmp_path).audio_runs()
    assert [round(t, 3) for t, _ in runs] == [0.0, 0.5]
    assert [len(x) for _, x in runs] == [3072, 1536]


# -- crash safety ------------------------------------------------------------------
def test_recorder_killed_mid_write_leaves_a_readable_session(tmp_path):
    out = tmp_path / "rec"
    p = subprocess.Popen([sys.executable, "launch.py", "record", str(out), "--config",
                          live_config(tmp_path), "--video", "synthetic", "--audio", "synthetic"],
                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True)
    # Wait until recording has really run for a few seconds.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        csv = out / "video" / "frames.csv"
        if csv.is_file() and len(csv.read_text().splitlines()) > 45:
            break
        time.sleep(0.2)
    t_kill = Session(out).duration_s
    os.killpg(p.pid, signal.SIGKILL)  # the launcher and every worker, no clean-up at all
    p.wait()
    s = Session(out)
    assert not s.manifest["complete"]
    frames = list(s.frames())
    assert len(frames) == len(s.frames_index) >= 45
    runs = s.audio_runs()
    assert runs and sum(len(x) for _, x in runs) > 16000 * 2
    assert s.duration_s >= t_kill - 1.0


def test_record_from_files_then_replay_reads_the_same_frames(media, tmp_path):
    out = tmp_path / "rec"
    r = launch("record", str(out), "--config", live_config(tmp_path), "--video", str(media["face"]),
               "--audio", str(media["wav"]))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "recording" in r.stderr and "MB" in r.stderr
    s = Session(out)
    assert s.manifest["complete"]
    src = testdata.read_video(media["face"])
    frames = list(s.frames())
    assert len(frames) == len(src)  # every frame, including any the encoder skipped
    gaps = np.diff([f.t for f in frames])
    assert abs(np.median(gaps) - 1 / 29.97) < 0.002
    assert any(e["source"] == "asr" and "kitchen" in e["text"].lower() for e in s.text_events())
    assert any(p["intent"] == "HassTurnOn" for p in s.predictions())
    x, sr = sf.read(media["wav"], dtype="float32")
    (t0, got), = s.audio_runs()
    want = to_mono_16k(x, sr)
    n = min(len(got), len(want))
    assert n >= len(want) - 1536 and np.abs(got[:n] - want[:n]).max() < 1e-4


# -- import errors -------------------------------------------------------------------
@pytest.mark.parametrize("case,needle", [
    ("missing_video", "video file not found"),
    ("bad_video", "not a readable video"),
    ("bad_audio", "not a readable audio"),
    ("short_media", "shorter than the labels"),
    ("bad_json", "labels.jsonl:2: bad JSON"),
    ("end_before_start", "labels.jsonl:1: span ends"),
    ("overlap", "labels.jsonl:2: span overlaps the span on line 1"),
    ("unknown_intent", "unknown intent 'HassMakeCoffee' (known: none, HassBroadcast"),
    ("bad_text", "text.jsonl:1: field 't' must be a finite number"),
    ("bad_slots", "labels.jsonl:1: field 'slots' must map names to strings or finite numbers"),
])
def test_import_errors_name_the_file_and_line_and_write_nothing(media, tmp_path, case, needle):
    d = tmp_path
    video, audio = str(media["face"]), str(media["wav"])
    text = write_jsonl(d / "text.jsonl", [{"t": 1.0, "text": "hi"}])
    labels = write_jsonl(d / "labels.jsonl", [{"start": 0.5, "end": 2.0, "intent": "HassTurnOn"}])
    if case == "missing_video":
        video = str(d / "nope.mp4")
    elif case == "bad_video":
        (d / "bad.mp4").write_text("nope")
        video = str(d / "bad.mp4")
    elif case == "bad_audio":
        (d / "bad.wav").write_text("nope")
        audio = str(d / "bad.wav")
    elif case == "short_media":
        write_jsonl(labels, [{"start": 1.0, "end": 9.0, "intent": "HassTurnOn"}])
    elif case == "bad_json":
        write_jsonl(labels, [{"start": 0.5, "end": 1.0, "intent": "HassTurnOn"}, '{"start": 2,'])
    elif case == "end_before_start":
        write_jsonl(labels, [{"start": 2.0, "end": 1.0, "intent": "HassTurnOn"}])
    elif case == "overlap":
        write_jsonl(labels, [{"start": 0.5, "end": 2.0, "intent": "HassTurnOn"},
                             {"start": 1.5, "end": 2.5, "intent": "HassTurnOff"}])
    elif case == "unknown_intent":
        write_jsonl(labels, [{"start": 0.5, "end": 2.0, "intent": "HassMakeCoffee"}])
    elif case == "bad_text":
        write_jsonl(text, [{"t": "soon", "text": "hi"}])
    elif case == "bad_slots":
        write_jsonl(labels, [{"start": 0.5, "end": 2.0, "intent": "HassTurnOn", "slots": {"area": [1]}}])
    out = d / "out"
    r = launch("import", str(out), "--video", video, "--audio", audio, "--text", str(text),
               "--labels", str(labels))
    assert r.returncode == 2
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and needle in err[0], r.stderr
    assert not out.exists()
    assert not [p for p in d.iterdir() if p.name.startswith(".out")]


# -- replay ---------------------------------------------------------------------------
def _without_latency(preds):
    return [{k: v for k, v in p.items() if k != "latency_ms"} for p in preds]


def test_replay_at_two_speeds_gives_identical_predictions(imported, tmp_path):
    cfg = live_config(tmp_path)
    a = launch("replay", str(imported), "--config", cfg, "--speed", "max", "--headless",
               "--predictions", str(tmp_path / "max.jsonl"))
    b = launch("replay", str(imported), "--config", cfg, "--speed", "1", "--headless")
    assert a.returncode == 0 and b.returncode == 0, a.stderr[-2000:] + b.stderr[-2000:]
    pa, pb = _without_latency(predictions(a.stdout)), _without_latency(predictions(b.stdout))
    assert pa == pb
    assert len(pa) >= 20
    assert {"HassTurnOn", "HassMediaPause"} <= {p["intent"] for p in pa}
    assert _without_latency([json.loads(x) for x in (tmp_path / "max.jsonl").read_text().splitlines()]) == pa


def test_fusion_only_replay_from_cached_features_equals_the_full_replay(imported, tmp_path):
    import shutil

    sess = tmp_path / "copy"
    shutil.copytree(imported, sess, ignore=shutil.ignore_patterns("features"))
    cfg = live_config(tmp_path)
    r = launch("replay", str(sess), "--config", cfg, "--speed", "max", "--headless", "--cache-features")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (sess / "features" / "meta.json").is_file()
    f = launch("replay", str(sess), "--config", cfg, "--from-features")
    assert f.returncode == 0, f.stderr[-2000:]
    assert _without_latency(predictions(f.stdout)) == _without_latency(predictions(r.stdout))
    # Without a cache it says so plainly.
    shutil.rmtree(sess / "features")
    f = launch("replay", str(sess), "--from-features")
    assert f.returncode == 2 and "no up-to-date feature cache" in f.stderr


def test_replay_slice_starts_and_ends_where_asked(imported, tmp_path):
    r = launch("replay", str(imported), "--config", live_config(tmp_path), "--speed", "max",
               "--start", "3.0", "--end", "4.0", "--headless")
    assert r.returncode == 0, r.stderr[-2000:]
    ts = [p["t"] for p in predictions(r.stdout)]
    assert ts and 3.0 < min(ts) and max(ts) <= 4.2
    assert "HassMediaPause" in {p["intent"] for p in predictions(r.stdout)}


def test_replay_loop_goes_round_again(imported, tmp_path):
    p = subprocess.Popen([sys.executable, "launch.py", "replay", str(imported), "--config",
                          live_config(tmp_path), "--speed", "max", "--end", "2.0", "--loop",
                          "--headless"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        ts = []
        while not ts or ts[-1] < 4.5:
            ts.append(json.loads(p.stdout.readline())["t"])
        assert ts == sorted(ts)  # time keeps going forward through the loop
    finally:
        p.terminate()
        p.wait(10)


def test_replay_of_a_missing_session_is_one_line(tmp_path):
    r = launch("replay", str(tmp_path / "none"))
    assert r.returncode == 2 and "no such session" in r.stderr and "Traceback" not in r.stderr


# -- eval -------------------------------------------------------------------------------
def P(t, intent, event=False, conf=0.9):
    return {"t": t, "intent": intent, "confidence": conf, "addressed": 1.0, "event": event,
            "modalities": {}}


def test_eval_metrics_on_hand_made_sets():
    spans = [{"start": 1.0, "end": 2.0, "intent": "HassTurnOn"},
             {"start": 5.0, "end": 6.0, "intent": "HassTurnOff"}]
    preds = [P(t / 2, "none") for t in range(0, 24)]  # 0 .. 11.5 s every 0.5 s
    by_t = {p["t"]: p for p in preds}
    by_t[2.5]["intent"] = by_t[3.0]["intent"] = "HassTurnOn"      # right, 0.5 s after the end
    by_t[6.0]["intent"] = "HassTurnOn"                              # wrong for span 2
    by_t[10.0]["intent"] = by_t[10.5]["intent"] = "HassGetWeather"  # one false trigger
    r = score(preds, spans, duration_s=12.0)
    assert r["event_accuracy"] == 0.5
    assert [e["right"] for e in r["events"]] == [True, False]
    assert r["events"][0]["latency_s"] == 0.5
    assert r["false_triggers"] == 1 and r["false_triggers_per_min"] == 5.0
    # Windows: labels at t in [1,2) and [5,6) -> 4 positives; none of them predicted right.
    classes, m = r["_confusion"]
    assert m.sum() == 24
    assert r["per_class_f1"]["HassTurnOn"] == 0.0


def test_the_grid_holds_a_texts_answer_when_the_text_came_on_the_grid():
    preds = [P(0.2, "none"), P(0.3, "none", event=True), P(0.4, "none"),
             P(0.6, "HassTurnOn", event=True),  # a text at 0.6 s: the grid window answered it
             P(0.8, "HassTurnOn"), P(0.8, "HassTurnOn", event=True)]  # a text 0.3 ms before 0.8 s
    assert [(p["t"], p["event"]) for p in grid_predictions(preds, 0.2)] == [
        (0.2, False), (0.4, False), (0.6, True), (0.8, False)]
    # The onset is the answer's time (without it in the grid: the next window's, 0.8 s).
    r = score(preds, [{"start": 0.0, "end": 0.1, "intent": "HassTurnOff"}], 1.0, grace_s=0.1)
    assert r["false_trigger_list"] == [{"t": 0.6, "intent": "HassTurnOn"}]


def test_eval_scores_slots_of_the_spans_that_carry_them():
    spans = [{"start": 1.0, "end": 2.0, "intent": "HassLightSet",
              "slots": {"area": "kitchen", "brightness": 30}},
             {"start": 5.0, "end": 6.0, "intent": "HassTurnOn", "slots": {"name": "desk lamp"}},
             {"start": 9.0, "end": 10.0, "intent": "HassTurnOff", "slots": {"area": "office"}},
             {"start": 13.0, "end": 14.0, "intent": "HassGetWeather"}]
    preds = [P(t / 2, "none") for t in range(0, 34)]
    by_t = {p["t"]: p for p in preds}
    for t in (2.0, 2.5, 3.0):  # right, slots as labelled (brightness as a float) in most of them
        by_t[t].update(intent="HassLightSet",
                       slots={"area": "kitchen", "brightness": 30.0, "domain": "light"})
    by_t[3.0]["slots"] = {"area": "kitchen"}
    by_t[6.0].update(intent="HassTurnOn", slots={"name": "desk lamp"})
    by_t[6.5].update(intent="HassTurnOn", slots={"name": "reading light"})  # a tie: first seen wins
    by_t[10.0].update(intent="HassTurnOn", slots={"area": "office"})  # wrong intent
    by_t[14.0].update(intent="HassGetWeather", slots={})
    r = score(preds, spans, duration_s=17.0)
    assert [e.get("slots_right") for e in r["events"]] == [True, True, False, None]
    assert r["slot_accuracy_spoken"] == 1.0  # of the two spans with slots whose intent was right
    assert r["action_accuracy_spoken"] == 0.75  # intent and slots: 3 of 4 spans


def test_eval_writes_report_and_pictures(imported, tmp_path):
    out = tmp_path / "report"
    r = launch("eval", str(imported), "--config", live_config(tmp_path), "--json", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads(r.stdout)
    assert rep["overall"]["event_accuracy"] == 1.0
    assert rep["overall"]["false_triggers_per_min"] == 0.0
    for pic in rep["sessions"][0]["pictures"]:
        assert Path(pic).stat().st_size > 10_000 and Path(pic).read_bytes()[:4] == b"\x89PNG"


def test_eval_needs_labels(tmp_path):
    write_manifest(tmp_path, complete=True, source="test")
    VideoWriter(tmp_path, 15).close()
    r = launch("eval", str(tmp_path))
    assert r.returncode == 2 and "labels.jsonl: missing" in r.stderr


def test_train_needs_labels_with_known_intents(imported, tmp_path):
    import shutil

    r = launch("train", str(tmp_path), "--out", str(tmp_path / "m.pt"))
    assert r.returncode == 2 and "manifest.json: missing" in r.stderr
    sess = tmp_path / "s"
    shutil.copytree(imported, sess, ignore=shutil.ignore_patterns("features"))
    (sess / "labels.jsonl").unlink()
    r = launch("train", str(sess), "--out", str(tmp_path / "m.pt"))
    assert r.returncode == 2 and "labels.jsonl: missing" in r.stderr
    write_jsonl(sess / "labels.jsonl", [{"start": 0.5, "end": 1.0, "intent": "HassTurnOn"},
                                        {"start": 2.0, "end": 3.0, "intent": "HassFlyToTheMoon"}])
    r = launch("train", str(sess), "--out", str(tmp_path / "m.pt"))
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1
    assert "labels.jsonl:2: intent 'HassFlyToTheMoon' is not one the model knows" in err[0]
    assert not (tmp_path / "m.pt").exists()


# -- demo -------------------------------------------------------------------------------
def test_demo_headless_runs_end_to_end(tmp_path):
    r = launch("demo", "--config", live_config(tmp_path), "--headless", "--speed", "max")
    assert r.returncode == 0, r.stderr[-2000:]
    preds = predictions(r.stdout)
    fired = {p["intent"] for p in preds}
    assert {"HassTurnOn", "HassGetWeather", "HassMediaPause"} <= fired
    # The timer sentence is spoken with nobody facing the camera (a TV): never an intent.
    assert "HassStartTimer" not in fired
    assert any("timer" in p["text"] for p in preds)


def test_a_recording_survives_its_writers_being_killed(tmp_path):
    """kill -9 of the video, audio and text workers while recording: they come back and append;
    the session stays readable, in order, complete, and says what happened. The run still
    ends at its duration."""
    from tests.e2e.test_e2e import _worker

    out = tmp_path / "rec"
    p = subprocess.Popen([sys.executable, "launch.py", "record", str(out), "--config",
                          live_config(tmp_path), "--video", "synthetic", "--audio", "synthetic",
                          "--duration", "16"],
                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        csv = out / "video" / "frames.csv"
        while time.monotonic() < deadline and not (csv.is_file() and len(csv.read_text().splitlines()) > 30):
            time.sleep(0.2)
        for name in ("video", "audio", "text"):
            os.kill(_worker(p.pid, name), signal.SIGKILL)
        _, err = p.communicate(timeout=180)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err[-2000:]
    assert "did not drain" not in err  # ended at its duration, restarts or not
    s = Session(out)
    assert s.manifest["complete"]
    assert sorted(r.split(":")[0] for r in s.manifest["restarts"]) == ["audio", "text", "video"]
    assert {g["stream"] for g in s.manifest["gaps"]} == {"audio", "video"}
    ids, ts = [f[0] for f in s.frames_index], [f[3] for f in s.frames_index]
    assert ids == list(range(len(ids)))  # no frame id twice
    assert all(b > a for a, b in zip(ts, ts[1:], strict=False))  # no time going back (no replay from 0)
    assert len(list(s.frames())) == len(ids)  # every indexed frame decodes
    video_gap = next(g for g in s.manifest["gaps"] if g["stream"] == "video")
    assert video_gap["to"] > video_gap["from"] and ts[-1] > video_gap["to"]  # recorded after it too
    chunk_ts = [c[2] for c in s.chunks_index]
    assert all(b > a for a, b in zip(chunk_ts, chunk_ts[1:], strict=False))
