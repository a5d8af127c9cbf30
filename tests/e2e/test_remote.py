"""A worker on a second host: its own network namespace (a veth link) and its own monotonic
clock (a time namespace, 30 minutes ahead). Fusion runs here and maps it onto its clock."""

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import zmq

from stream import config as config_mod
from stream.app.pipeline import Pipeline
from stream.app.replay import replay_config, replay_options
from stream.app.sinks import MemorySink
from stream.core.clock import now_ns
from stream.core.keys import create_keys, load_keys
from stream.core.transport import Subscriber
from stream.process.stage import RunOptions
from stream.process.supervisor import free_port
from stream.session.format import Session
from tests import netns

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(netns.why_not() is not None, reason=str(netns.why_not()))]

ROOT = Path(__file__).resolve().parents[2]
AHEAD_S = 1800


def remote_config(tmp_path: Path, host: netns.Host) -> config_mod.Config:
    keys = create_keys(tmp_path / "keys")
    p = tmp_path / "remote.toml"
    p.write_text(f'[net]\ntransport = "tcp"\nhost = "{host.here}"\ncurve_dir = "{keys}"\n'
                 f'join_port = {free_port(host.here)}\nremote = {{ video = "tcp://{host.there}:5710" }}\n'
                 '[run]\ndevice = "cpu"\nheartbeat_s = 0.5\n')
    return config_mod.load(str(p))


def start_remote(host: netns.Host, cfg: config_mod.Config, *extra: str) -> subprocess.Popen:
    """``launch.py worker video --join ...`` on the other host, as a user there would run it."""
    return subprocess.Popen([*host.prefix(), sys.executable, "launch.py", "worker", "video", "--join",
                             f"tcp://{cfg.net.host}:{cfg.net.join_port}", "--keys", cfg.net.curve_dir,
                             *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def key(preds: list[dict]) -> list[tuple]:
    return [(p["t"], p["intent"], p["confidence"], p["addressed"]) for p in preds]


def test_replay_through_a_remote_worker_is_bit_identical_and_its_clock_is_found(tmp_path):
    session = Session(str(ROOT / "demo" / "session"))
    with netns.second_host(AHEAD_S, delay_ms=5) as host:
        cfg = replay_config(remote_config(tmp_path, host), 0.0)
        worker = start_remote(host, cfg)
        mem = MemorySink()
        pipe = Pipeline(cfg, replay_options(session, cfg, end=12.0), [mem])
        assert pipe.run() == 0
        out, _ = worker.communicate(timeout=30)
        assert worker.returncode == 0, out[-2000:]
        e = pipe.sup.hosts.estimate("video")
    assert e is not None
    assert abs(e.offset_ns - AHEAD_S * 10**9) < 1_000_000  # within 1 ms of the namespace's shift
    assert e.rtt_ns >= 2 * host.delay_ms * 1e6
    assert pipe.sup.health["video"]["clock"]["offset_ms"] == pytest.approx(AHEAD_S * 1e3, abs=1)

    local_cfg = replay_config(config_mod.from_dict({"run": {"device": "cpu"}}), 0.0)
    local = MemorySink()
    assert Pipeline(local_cfg, replay_options(session, local_cfg, end=12.0), [local]).run() == 0
    assert len(mem.predictions) >= 50
    assert key(mem.predictions) == key(local.predictions)


def test_live_spoken_command_is_answered_with_the_remote_video_on_our_clock(tmp_path, media):
    with netns.second_host(AHEAD_S) as host:
        cfg = remote_config(tmp_path, host)
        worker = start_remote(host, cfg, "--source", str(media["face"]))
        frames: list[tuple[int, int]] = []  # (capture time, arrival here), both on our clock
        done = threading.Event()

        def watch() -> None:
            keys = load_keys(cfg.net.curve_dir)
            sub = Subscriber(zmq.Context.instance(), [cfg.net.remote["video"]], ["video"],
                             curve=keys.for_client())
            while not done.is_set():
                if (m := sub.recv(100)) is not None and m.topic == "video":
                    frames.append((m.t_start, now_ns()))
            sub.close()

        t = threading.Thread(target=watch)
        t.start()
        mem = MemorySink()
        opts = RunOptions(sources={"video": "synthetic", "audio": str(media["wav"])})
        try:
            assert Pipeline(replace(cfg, run=replace(cfg.run, speed=1.0)), opts, [mem]).run() == 0
        finally:
            done.set()
            t.join()
        out, _ = worker.communicate(timeout=30)
        assert worker.returncode == 0, out[-2000:]
    fired = [p for p in mem.predictions if p["intent"] == "HassTurnOn"]
    assert fired and all(p["addressed"] >= 0.5 for p in fired), [p["text"] for p in mem.predictions]
    assert fired[0]["t"] >= media["speech_end"] - 0.3
    assert fired[0]["modalities"]["video"] == "ok"  # fresh frames from the remote camera in its window
    # Each frame was released when its capture time came on *our* clock, and reached us soon after.
    lags = sorted(arrived - captured for captured, arrived in frames)
    assert len(frames) >= 30
    assert 0 < lags[0] and lags[len(lags) // 2] < 1_000_000_000, lags[:: max(1, len(lags) // 10)]


def test_a_remote_worker_that_dies_shows_away_and_rejoins(tmp_path):
    """Nothing here can restart a remote worker: it is shown `away`; started again on its host,
    it joins the running assistant, its clock is estimated afresh and its frames come back."""
    with netns.second_host(AHEAD_S) as host:
        cfg = remote_config(tmp_path, host)
        cfg = replace(cfg, run=replace(cfg.run, duration_s=40.0, silent_restart_s=3.0))
        first = start_remote(host, cfg, "--source", "synthetic")
        second: list[subprocess.Popen] = []
        mem = MemorySink()
        pipe = Pipeline(cfg, RunOptions(sources={"video": "synthetic", "audio": "synthetic"}), [mem])

        def state() -> str:
            return pipe.sup.health.get("video", {}).get("state", "")

        def wait_for(s: str) -> None:
            deadline = time.monotonic() + 60
            while state() != s and time.monotonic() < deadline:
                time.sleep(0.1)

        def crash_and_restart() -> None:
            wait_for("ok")
            os.kill(pipe.sup.health["video"]["pid"], signal.SIGKILL)  # (its own pid space is ours)
            wait_for("away")
            second.append(start_remote(host, cfg, "--source", "synthetic"))

        t = threading.Thread(target=crash_and_restart, daemon=True)
        t.start()
        assert pipe.run() == 0
        t.join(5)
        first.wait(30)
        out, _ = second[0].communicate(timeout=30)
        assert second[0].returncode == 0, out[-2000:]
    seen = [s for _, n, s in pipe.sup.state_changes if n == "video"]
    assert seen[-4:] == ["ok", "away", "starting", "ok"]
    assert pipe.sup.health["video"]["clock"]["offset_ms"] == pytest.approx(AHEAD_S * 1e3, abs=1)
    vids = [p["modalities"]["video"] for p in mem.predictions]
    assert "missing" in vids and vids[-1] == "ok"  # gone, then back
