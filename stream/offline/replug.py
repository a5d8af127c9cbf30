"""Unplug and replug, many times: the virtual room's microphone and a network camera.

For each cycle: how long until the modality shows ``missing`` after the device goes, and
``ok`` after it comes back; and whether any worker restarted or printed a traceback.

    .venv/bin/python -m stream.offline.replug [CYCLES]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable

from stream import config
from stream.app.pipeline import Pipeline
from stream.app.sinks import MemorySink
from stream.offline import media
from stream.offline.network_camera import MjpegCamera
from stream.offline.virtual_room import VirtualRoom
from stream.process.stage import RunOptions


def _until(pipe: Pipeline, mem: MemorySink, stream: str, state: str, after: float,
           timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pipe.step(0.02)
        if mem.predictions and mem.predictions[-1]["modalities"][stream] == state:
            return time.monotonic() - after
    raise RuntimeError(f"{stream} never {state}")


def _cycles(sources: dict[str, str], stream: str, unplug: Callable[[], None],
            replug: Callable[[], None], n: int) -> dict:
    mem = MemorySink()
    pipe = Pipeline(config.load("live"), RunOptions(sources=sources), [mem])
    pipe.start()
    gone, back = [], []
    try:
        _until(pipe, mem, stream, "ok", time.monotonic())
        for _ in range(n):
            t = time.monotonic()
            unplug()
            gone.append(_until(pipe, mem, stream, "missing", t))
            t = time.monotonic()
            replug()
            back.append(_until(pipe, mem, stream, "ok", t))
        logs = "".join(p.log.read_text(errors="replace") for p in pipe.sup.procs.values())
    finally:
        pipe.stop()  # (the logs go with the run directory)
    return {"cycles": n, "missing_after_s_median": round(statistics.median(gone), 2),
            "ok_after_s_median": round(statistics.median(back), 2), "ok_after_s_max": round(max(back), 2),
            "worker_restarts": sum(p.restarts for p in pipe.sup.procs.values()),
            "tracebacks": logs.count("Traceback")}


def microphone(n: int) -> dict:
    with VirtualRoom(48000, 2) as room:
        return _cycles({"video": "none", "audio": "default"}, "audio", room.unplug, room.replug, n)


def camera(n: int) -> dict:
    cams = [MjpegCamera(media.carphone_path()).__enter__()]
    port = cams[0].port

    def unplug() -> None:
        cams[-1].__exit__()

    def replug() -> None:
        cams.append(MjpegCamera(media.carphone_path(), port=port).__enter__())

    try:
        return _cycles({"video": cams[0].url(), "audio": "none"}, "video", unplug, replug, n)
    finally:
        cams[-1].__exit__()


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    print(json.dumps({"microphone": microphone(n), "camera": camera(n)}, indent=1))
