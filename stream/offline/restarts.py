"""kill -9 each worker of a live run in turn, and time what the dashboard shows.

For every worker: its cold start (spawn -> first heartbeat, models loaded), how long after the
kill it is shown "down", and how long until it is "ok" again (the restart backoff of 1 s plus
its cold start). Also checks that predictions never repeat or go back in time.

    .venv/bin/python -m stream.offline.restarts [ROUNDS]

It also reports, recording, how much captured media each restart of a capture worker lost.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path

from stream import config
from stream.app.pipeline import Pipeline
from stream.app.sinks import MemorySink
from stream.offline.procfs import alive
from stream.offline.procfs import workers as procfs_workers
from stream.process.stage import RunOptions


def _wait_state(pipe: Pipeline, name: str, state: str, after: float, timeout: float = 120.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pipe.step(0.01)
        for t, n, s in pipe.sup.state_changes:
            if n == name and s == state and t >= after:
                return t - after
    raise RuntimeError(f"{name} never became {state}")


def live_restarts(rounds: int = 3, pause_s: float = 2.0) -> dict:
    cfg = config.load("live")
    mem = MemorySink()
    pipe = Pipeline(cfg, RunOptions(sources={"video": "synthetic", "audio": "synthetic"}), [mem])
    pipe.start()
    spawned = {n: p.spawned for n, p in pipe.sup.procs.items()}
    cold = {n: next(t for t, w, s in pipe.sup.state_changes if w == n) - spawned[n] for n in pipe.workers}
    out: dict = {}
    try:
        for name in pipe.workers:
            down, back = [], []
            for _ in range(rounds):
                time.sleep(pause_s)
                t0 = time.monotonic()
                os.kill(pipe.sup.procs[name].popen.pid, signal.SIGKILL)
                down.append(_wait_state(pipe, name, "down", t0))
                back.append(_wait_state(pipe, name, "ok", t0))
            out[name] = {"cold_start_s": round(cold[name], 2),
                         "shown_down_s_median": round(statistics.median(down), 3),
                         "back_ok_s_median": round(statistics.median(back), 2),
                         "back_ok_s_max": round(max(back), 2)}
            print(name, out[name], file=sys.stderr, flush=True)
    finally:
        pipe.stop()
    ts = [p["t"] for p in mem.predictions]
    out["predictions"] = len(ts)
    out["repeated_or_backwards"] = sum(1 for a, b in zip(ts, ts[1:], strict=False) if b <= a)
    return out


def recording_restarts(rounds: int = 2) -> dict:
    """Record (synthetic camera and microphone), kill the video and audio workers in turn:
    how much captured media each restart lost (kill time minus the last second written)."""
    import tempfile

    from stream.app.sinks import RecordingSink
    from stream.session.format import Session

    root = Path(tempfile.mkdtemp(prefix="restart-rec-")) / "rec"
    rec = RecordingSink(root, progress=False)
    pipe = Pipeline(config.load("live"), RunOptions(sources={"video": "synthetic", "audio": "synthetic"}),
                    [MemorySink(), rec])
    pipe.start()
    kills: dict[str, list[float]] = {"video": [], "audio": []}
    try:
        for _ in range(rounds):
            for name in kills:
                time.sleep(3.0)
                t0 = time.monotonic()
                os.kill(pipe.sup.procs[name].popen.pid, signal.SIGKILL)
                kills[name].append(t0 - rec.t0)  # session seconds (the sink's clock starts at the origin)
                _wait_state(pipe, name, "ok", t0)
        time.sleep(3.0)
    finally:
        pipe.stop()
    s = Session(root)
    out = {}
    for name, ts in kills.items():
        gaps = [g for g in s.manifest.get("gaps", []) if g["stream"] == name]
        lost = [round(t - g["from"], 2) for t, g in zip(ts, gaps, strict=False)]
        out[name] = {"restarts": len(ts), "gaps": len(gaps), "lost_s": lost,
                     "gap_s": [round(g["to"] - g["from"], 2) for g in gaps]}
    ids = [f[0] for f in s.frames_index]
    out["frames_decodable"] = f"{sum(1 for _ in s.frames())}/{len(ids)}"
    out["frame_ids_unique_and_in_order"] = ids == list(range(len(ids)))
    return out


def stop_times(rounds: int = 3) -> dict:
    """``live`` (synthetic camera and microphone) from launch to first prediction, then SIGTERM
    to the launcher and every worker gone."""
    import subprocess

    first, stop = [], []
    for _ in range(rounds):
        t0 = time.monotonic()
        p = subprocess.Popen([sys.executable, "launch.py", "live", "--video", "synthetic", "--audio",
                              "synthetic", "--headless"], cwd=Path(__file__).resolve().parents[2],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        p.stdout.readline()
        first.append(time.monotonic() - t0)
        workers = set(procfs_workers(p.pid))
        t1 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        while any(alive(w) for w in workers):
            time.sleep(0.005)
        stop.append(time.monotonic() - t1)
    return {"first_prediction_s_median": round(statistics.median(first), 2),
            "stop_s_median": round(statistics.median(stop), 3), "stop_s_max": round(max(stop), 3)}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(json.dumps({"stop": stop_times(n), "live": live_restarts(n),
                      "recording": recording_restarts(max(1, n - 1))}, indent=1))
