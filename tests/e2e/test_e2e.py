"""The real thing: launch.py starts the worker processes on real media files."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stream.offline import procfs
from stream.offline.procfs import alive
from stream.offline.procfs import workers as worker_pids
from stream.process.rundir import running_assistants

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def launch(*args, timeout=180):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


def live_config(tmp_path) -> str:
    """The live config as a file of its own (runs are private and never collide: no ports)."""
    p = tmp_path / "test.toml"
    p.write_text("[run]\nheartbeat_s = 0.5\n")
    return str(p)


def predictions(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_spoken_command_over_face_video_gives_intent_addressed(media, tmp_path):
    r = launch("live", "--config", live_config(tmp_path), "--video", str(media["face"]),
               "--audio", str(media["wav"]), "--headless")
    assert r.returncode == 0, r.stderr[-2000:]
    preds = predictions(r.stdout)
    assert len(preds) >= 15  # ~4 s of 200 ms windows
    for key in ("t", "intent", "confidence", "addressed", "modalities", "latency_ms"):
        assert key in preds[0]
    fired = [p for p in preds if p["intent"] == "HassTurnOn"]
    assert fired, [p["text"] for p in preds]
    assert all(p["addressed"] >= 0.5 for p in fired)
    assert fired[0]["t"] >= media["speech_end"] - 0.3  # not before it was said
    assert not [p for p in preds if p["intent"] not in ("none", "HassTurnOn")]


def test_same_speech_with_nobody_in_view_gives_none(media, tmp_path):
    r = launch("live", "--config", live_config(tmp_path), "--video", str(media["noface"]),
               "--audio", str(media["wav"]), "--headless")
    assert r.returncode == 0, r.stderr[-2000:]
    preds = predictions(r.stdout)
    heard = [p for p in preds if "kitchen" in p.get("text", "")]
    assert heard, "the speech was transcribed"
    assert all(p["intent"] == "none" for p in preds)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_ends_everything_cleanly(tmp_path, sig):
    """Every worker gone, exit 0, the run directory removed; how fast is in ``bench``."""
    p = subprocess.Popen([sys.executable, "launch.py", "live", "--config", live_config(tmp_path),
                          "--video", "synthetic", "--audio", "synthetic", "--headless"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()  # the first prediction: everything is running
    assert line.startswith("{"), p.stderr.read()[-2000:]
    workers = set(worker_pids(p.pid))
    assert len(workers) == 5
    rundir = next(Path(a["dir"]) for a in running_assistants() if a["pid"] == p.pid)
    p.send_signal(sig)
    assert p.wait(30) == 0, p.stderr.read()[-2000:]
    time.sleep(0.2)
    assert not [w for w in workers if alive(w)]
    assert not rundir.exists()


def test_a_killed_worker_is_restarted_and_predictions_go_on(tmp_path):
    p = subprocess.Popen([sys.executable, "launch.py", "live", "--config", live_config(tmp_path),
                          "--video", "synthetic", "--audio", "synthetic", "--headless"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().startswith("{")
        before = worker_pids(p.pid)
        names = {n: w for w, n in before.items()}
        video = [names["video"]]
        # Video gives way to hearing on a busy machine (a lower CPU priority), the rest do not.
        assert {procfs.nice(w) - procfs.nice(p.pid) for w in before} == {0, 10}
        assert procfs.nice(video[0]) - procfs.nice(p.pid) == 10
        # Lean processes: the recogniser (CTranslate2) and the launcher never load torch; the
        # torch workers are forked from one fork server that imported it (shared pages).
        for pid in (names["asr"], p.pid):
            assert b"libtorch" not in Path(f"/proc/{pid}/maps").read_bytes()
        assert names["asr"] in procfs.children(p.pid)
        assert len({procfs.parent(names[n]) for n in ("video", "audio", "text", "fusion")}
                   - {p.pid}) == 1
        os.kill(video[0], signal.SIGKILL)
        # Predictions continue while video is gone, with video marked missing...
        seen_missing, seen_back = False, False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (seen_missing and seen_back):
            line = p.stdout.readline()
            assert line, f"the launcher stopped: {p.stderr.read()[-2000:]}"
            pred = json.loads(line)
            if pred["modalities"]["video"] == "missing":
                seen_missing = True
            elif seen_missing and pred["modalities"]["video"] == "ok":
                seen_back = True  # ...and come back once the supervisor restarted it
        assert seen_missing and seen_back
        assert len(worker_pids(p.pid)) == 5
    finally:
        p.terminate()
        _, err = p.communicate(timeout=10)
    assert "warning: video: killed by SIGKILL; restarting" in err  # the cause, not a log line


def test_a_launcher_killed_while_starting_leaves_no_worker_behind(tmp_path):
    p = subprocess.Popen([sys.executable, "launch.py", "live", "--config", live_config(tmp_path),
                          "--video", "synthetic", "--audio", "synthetic", "--headless"],
                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(workers := set(worker_pids(p.pid))) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(workers) == 5
    p.kill()  # while the workers still load their models: no clean-up from the launcher
    p.wait()
    deadline = time.monotonic() + 90
    while [w for w in workers if alive(w)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [w for w in workers if alive(w)]


def test_two_assistants_side_by_side_and_say_reaches_the_one_asked(tmp_path):
    cmd = [sys.executable, "launch.py", "live", "--config", live_config(tmp_path), "--video", "none",
           "--audio", "synthetic", "--headless"]
    a = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    b = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for p in (a, b):  # both run: no port to collide on
            assert p.stdout.readline().startswith("{"), p.stderr.read()[-2000:]
        r = launch("say", "--pid", str(b.pid), "turn on the kitchen lights")
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 60
        heard = None
        while time.monotonic() < deadline and heard is None:
            pred = json.loads(b.stdout.readline())
            if pred["text"] == "turn on the kitchen lights":
                heard = pred
        assert heard is not None and heard["intent"] == "HassTurnOn" and heard["addressed"] >= 0.5
        a.terminate()
        out, _ = a.communicate(timeout=10)
        assert "kitchen" not in out  # the other one never heard it
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.terminate()
                p.wait(10)


def _worker(launcher: int, name: str) -> int:
    return next(w for w, n in worker_pids(launcher).items() if n == name)


def test_a_restarted_worker_may_take_longer_to_load_than_the_silence_limit(tmp_path):
    cfg = tmp_path / "quick.toml"
    cfg.write_text("[run]\nsilent_restart_s = 2.0\n")  # less than the text worker's cold start
    p = subprocess.Popen([sys.executable, "launch.py", "live", "--config", str(cfg), "--video", "synthetic",
                          "--audio", "synthetic", "--headless"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().startswith("{")
        os.kill(_worker(p.pid, "text"), signal.SIGKILL)
        states = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (states and states[-1] == "ok" and "missing" in states):
            states.append(json.loads(p.stdout.readline())["modalities"]["text"])
        assert "missing" in states and states[-1] == "ok"  # gone, then back by itself
    finally:
        p.terminate()
        _, err = p.communicate(timeout=10)
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert warnings == ["warning: text: killed by SIGKILL; restarting"], warnings


def test_a_worker_that_cannot_come_back_is_given_up_and_the_run_says_so(media, tmp_path):
    video = tmp_path / "face.mp4"
    video.write_bytes(Path(media["face"]).read_bytes())
    cfg = tmp_path / "once.toml"
    cfg.write_text("[run]\nmax_restarts = 1\n[video]\nloop = true\n")
    p = subprocess.Popen([sys.executable, "launch.py", "live", "--config", str(cfg), "--video", str(video),
                          "--audio", "none", "--headless"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().startswith("{")
        video.unlink()  # the restarted worker will not find it
        os.kill(_worker(p.pid, "video"), signal.SIGKILL)
        out, err = p.communicate(timeout=120)  # the run ends by itself: its only source is gone
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 1, err[-2000:]
    assert "video: killed by SIGKILL; restarting" in err
    assert "video file not found; gave up after 1 restarts in a row" in err
    assert err.strip().splitlines()[-1] == "error: lost video (gave up restarting)"


def test_a_restarted_fusion_resumes_after_its_last_prediction(tmp_path):
    p = subprocess.Popen([sys.executable, "launch.py", "live", "--config", live_config(tmp_path),
                          "--video", "synthetic", "--audio", "synthetic", "--headless"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ts = [json.loads(p.stdout.readline())["t"] for _ in range(5)]
        os.kill(_worker(p.pid, "fusion"), signal.SIGKILL)
        killed_at = ts[-1]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and ts[-1] < killed_at + 3.0:
            ts.append(json.loads(p.stdout.readline())["t"])
    finally:
        p.terminate()
        _, err = p.communicate(timeout=10)
    assert ts[-1] >= killed_at + 3.0, err[-2000:]  # predictions came back...
    assert all(b >= a for a, b in zip(ts, ts[1:], strict=False)), ts  # ...never repeating the past
    assert "fusion: killed by SIGKILL; restarting" in err


def test_a_bus_on_tcp_with_keys_from_files_works_end_to_end_and_lets_no_stranger_in(tmp_path):
    """`keys DIR`, then net.curve_dir: predictions flow, `say` gets through with the client key
    from the run's discovery file; a peer without keys can neither type nor listen."""
    import zmq

    r = launch("keys", str(tmp_path / "keys"))
    assert r.returncode == 0, r.stderr
    cfg = tmp_path / "tcp.toml"
    cfg.write_text(f'[run]\nheartbeat_s = 0.5\n[net]\ntransport = "tcp"\ncurve_dir = "{tmp_path / "keys"}"\n')
    p = subprocess.Popen([sys.executable, "launch.py", "live", "--config", str(cfg), "--video", "none",
                          "--audio", "synthetic", "--headless"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().startswith("{"), p.stderr.read()[-2000:]
        me = next(a for a in running_assistants() if a["pid"] == p.pid)
        assert me["say"].startswith("tcp://127.0.0.1:")
        ctx = zmq.Context.instance()
        push = ctx.socket(zmq.PUSH)  # a stranger: knows the port, has no key
        push.linger = 0
        push.connect(me["say"])
        if push.poll(500, zmq.POLLOUT):  # it never gets that far: the handshake fails
            try:  # (the pipe may be dropped between the poll and the send: as refused)
                push.send(json.dumps({"text": "unlock the front door"}).encode(), zmq.NOBLOCK)
            except zmq.Again:
                pass
        spy = ctx.socket(zmq.SUB)
        spy.setsockopt(zmq.SUBSCRIBE, b"")
        spy.connect(json.loads((Path(me["dir"]) / "fusion.spec.json").read_text())["endpoints"]["fusion"])
        r = launch("say", "--pid", str(p.pid), "turn on the kitchen lights")
        assert r.returncode == 0, r.stderr
        texts = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "turn on the kitchen lights" not in texts:
            texts.append(json.loads(p.stdout.readline())["text"])
        assert "turn on the kitchen lights" in texts
        assert "unlock the front door" not in texts
        assert not spy.poll(200)  # heard nothing of the bus
        push.close(0)
        spy.close(0)
    finally:
        p.terminate()
        p.wait(30)


def test_every_worker_killed_in_turn_comes_back_and_predictions_never_repeat():
    """kill -9 of each of the five workers in one live run: each is shown down, then ok again."""
    from stream.offline.restarts import live_restarts

    r = live_restarts(rounds=1, pause_s=1.0)
    assert set(r) >= {"video", "audio", "asr", "text", "fusion"}
    for name in ("video", "audio", "asr", "text", "fusion"):
        assert r[name]["shown_down_s_median"] < r[name]["back_ok_s_median"], r[name]
    assert r["predictions"] > 0 and r["repeated_or_backwards"] == 0
