"""Hostile inputs against the real fusion process: does it stay up, honest and bounded?

This process plays every producer fusion listens to (video, audio, text) and the
supervisor, and sends a mix of valid messages and well-formed envelopes that lie:
missing, unknown, misshapen, mistyped or non-finite parts, wrong meta types, times
far in the future or past, sequence jumps, unknown streams, and garbage frames.
It reports, per kind, what fusion counted; whether it stayed alive; whether any
prediction held a non-finite number; and how its resident memory grew.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import msgpack
import numpy as np
import zmq

from stream.config import Config
from stream.core.clock import now_ns
from stream.core.message import Control, Message, Topic, encode
from stream.modalities.registry import modalities
from stream.process.runtime import Spec
from stream.process.stage import RunOptions

STREAMS = ("video", "audio", "text")
REPO = Path(__file__).resolve().parents[2]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Forger:
    """Valid and hostile messages for each stream, with per-stream sequence numbers."""

    def __init__(self, cfg: Config) -> None:
        self.schemas = {m.name: m.parts(cfg) for m in modalities(cfg) if m.name in STREAMS}
        self.seq: Counter[str] = Counter()
        self.origin = 0

    def valid_parts(self, stream: str) -> dict[str, np.ndarray]:
        return {n: np.zeros(f.shape, f.dtype) for n, f in self.schemas[stream].items() if not f.optional}

    def message(self, stream: str, t: int, parts=None, meta=None, seq=None) -> Message:
        meta = meta if meta is not None else {"video": {}, "audio": {"vad": 0.1},
                                              "text": {"text": "hello", "source": "asr"}}[stream]
        s = self.seq[stream] if seq is None else seq
        self.seq[stream] = s + 1
        return Message(stream, s, t, t, t, self.valid_parts(stream) if parts is None else parts,
                       dict(meta), topic="text" if stream == "text" else stream)

    def hostile(self, kind: str, stream: str, t: int) -> list:
        """Frames of one hostile message of ``kind`` (what fusion should count it as)."""
        if kind == "bad_meta" and stream == "video":
            stream = "audio"  # video's meta is never read: nothing there to lie about
        good = self.valid_parts(stream)
        name = next(n for n, f in self.schemas[stream].items() if f.cache and not f.optional)
        part = good[name]
        if kind == "missing_part":
            return encode(self.message(stream, t, {k: v for k, v in good.items() if k != name}))
        if kind == "unknown_part":
            return encode(self.message(stream, t, {**good, "extra": np.zeros(3, np.float32)}))
        if kind == "bad_shape":
            return encode(self.message(stream, t, {**good, name: np.zeros((*part.shape, 2), part.dtype)}))
        if kind == "bad_dtype":
            return encode(self.message(stream, t, {**good, name: part.astype(np.int16)}))
        if kind == "nonfinite":
            bad = np.full(part.shape, np.nan, part.dtype) if part.dtype.kind == "f" else part
            return encode(self.message(stream, t, {**good, name: bad}))
        if kind == "bad_meta":
            meta = {"video": {}, "audio": {"vad": "loud"}, "text": {"text": 5, "source": "typed"}}[stream]
            return encode(self.message(stream, t, meta=meta))
        if kind == "far_future":
            return encode(self.message(stream, t + 3600 * 10**9))
        if kind == "far_past":
            return encode(self.message(stream, self.origin - 3600 * 10**9))
        if kind == "unknown_stream":
            return encode(Message("smell", 0, t, t, t, {"x": np.zeros(2, np.float32)}, topic=stream))
        if kind == "garbage":
            return [stream.encode(), os.urandom(64)]
        if kind == "header_lies":
            frames = encode(self.message(stream, t))
            h = msgpack.unpackb(frames[1])
            h["parts"] = h["parts"][:-1]  # one part fewer than the frames carry
            return [frames[0], msgpack.packb(h), *frames[2:]]
        raise ValueError(kind)


# What fusion must count each kind as (the receiver's own reasons; "invalid": the envelope).
EXPECT = {"missing_part": "missing_part", "unknown_part": "unknown_part", "bad_shape": "bad_shape",
          "bad_dtype": "bad_shape", "nonfinite": "nonfinite", "bad_meta": "bad_meta",
          "far_future": "future", "far_past": "past", "unknown_stream": "unknown_stream",
          "garbage": "invalid", "header_lies": "invalid"}
KINDS = ("missing_part", "unknown_part", "bad_shape", "bad_dtype", "nonfinite", "bad_meta",
         "far_future", "far_past", "unknown_stream", "garbage", "header_lies")


def _spawn_fusion(cfg: Config, d: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    eps = {n: f"ipc://{d}/{n}" for n in (*STREAMS, "fusion", "control")}
    spec = Spec("fusion", cfg.to_dict(), eps, RunOptions(streams=list(STREAMS), workers=["fusion"]),
                list(STREAMS), os.getpid())
    (d / "fusion.spec.json").write_text(spec.dumps())
    log = open(d / "fusion.log", "wb")
    p = subprocess.Popen([sys.executable, "-m", "workers.fusion", f"@{d / 'fusion.spec.json'}"],
                         cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    return p, eps


class _Bus:
    def __init__(self, eps: dict[str, str]) -> None:
        ctx = zmq.Context.instance()
        self.pubs = {}
        for n in (*STREAMS, "control"):
            s = ctx.socket(zmq.PUB)
            s.sndhwm = 0
            s.linger = 0
            s.bind(eps[n])
            self.pubs[n] = s
        self.sub = ctx.socket(zmq.SUB)
        self.sub.linger = 0
        for t in (Topic.HEARTBEAT, Topic.PREDICTION):
            self.sub.setsockopt(zmq.SUBSCRIBE, t.encode())
        self.sub.connect(eps["fusion"])
        self.predictions: list[dict] = []
        self.hb: dict = {}

    def send(self, stream: str, frames: list) -> None:
        self.pubs[stream].send_multipart(frames, copy=False)

    def heartbeat_all(self, t: int) -> None:
        for s in STREAMS:
            self.send(s, encode(Message(s, 0, t, t, t, meta={"pid": 0}, topic=Topic.HEARTBEAT)))

    def control(self, cmd: str, **kw) -> None:
        self.send("control", encode(Message("control", 0, 0, 0, 0, meta={"cmd": cmd, "to": "*", **kw},
                                            topic=Topic.CONTROL)))

    def drain(self, timeout_ms: int = 0) -> None:
        from stream.core.message import decode

        while self.sub.poll(timeout_ms):
            timeout_ms = 0
            m = decode(self.sub.recv_multipart())
            if m.topic == Topic.HEARTBEAT:
                self.hb = m.meta
            else:
                self.predictions.append(m.meta)

    def close(self) -> None:
        for s in (*self.pubs.values(), self.sub):
            s.close(0)


def _start(bus: _Bus, fusion: subprocess.Popen, forger: Forger, log: Path, startup_s: float) -> None:
    """Heartbeat as every input until fusion has heard them all, then start it."""
    deadline = time.monotonic() + startup_s
    while set(bus.hb.get("inputs", [])) < set(STREAMS):
        if time.monotonic() > deadline or fusion.poll() is not None:
            raise RuntimeError(f"fusion did not come up: {log.read_text()[-500:]}")
        bus.heartbeat_all(-1)
        bus.drain(100)
    forger.origin = origin = now_ns()
    while not bus.hb.get("started"):
        bus.control(Control.START, origin_ns=origin)
        bus.drain(100)
    for _ in range(10):  # valid traffic first: fusion is past its first windows
        for s in STREAMS:
            bus.send(s, encode(forger.message(s, now_ns())))
        bus.drain(50)


def _attack(bus: _Bus, fusion: subprocess.Popen, forger: Forger, n: int,
            rate: float) -> tuple[Counter[str], int]:
    """Every kind in turn, from each stream in turn, among valid traffic; (sent, RSS after warm-up)."""
    sent: Counter[str] = Counter()
    rss0 = 0
    for i in range(n):
        kind, stream = KINDS[i % len(KINDS)], STREAMS[(i // len(KINDS)) % len(STREAMS)]
        t = now_ns()
        bus.send(stream, forger.hostile(kind, stream, t))
        sent[kind] += 1
        if i % 20 == 0:  # real traffic too: windows close and predictions flow meanwhile
            for s in STREAMS:
                bus.send(s, encode(forger.message(s, t)))
            bus.drain()
            # Paced (a flood beyond what fusion reads is shed at its queue's high-water mark and
            # counted as gaps: that is the HWM's job, measured elsewhere; this measures fusion).
            time.sleep(20 / rate)
        if not rss0 and i >= n // 10:
            rss0 = _rss_kb(fusion.pid)  # after warm-up: the model ran, buffers filled
        if i % max(n // 10, 1) == 0:
            print(f"{i} {_rss_kb(fusion.pid) / 1024:.1f} MB", file=sys.stderr, flush=True)
    return sent, rss0


def _report(sent: Counter[str], stats: dict, predictions: list[dict]) -> dict:
    counted: Counter[str] = Counter()
    for k, v in stats.items():
        head, reason = k.split(".", 1) if "." in k else ("", k)
        counted["invalid" if head == "invalid" else reason] += v
    expected: Counter[str] = Counter()
    for kind, k in sent.items():
        expected[EXPECT[kind]] += k
    nonfinite = sum(1 for p in predictions if not all(math.isfinite(x) for x in _numbers(p)))
    return {"sent": dict(sent), "expected": dict(expected), "counted": {r: counted[r] for r in expected},
            "stats": stats, "predictions": len(predictions), "nonfinite_predictions": nonfinite}


def run_hostile(n: int = 10_000, cfg: Config | None = None, startup_s: float = 120.0,
                rate: float = 2000.0) -> dict:
    """Send ``n`` hostile messages (every kind, round robin over streams) among valid ones,
    ``rate`` a second."""
    cfg = cfg or Config()
    d = Path(tempfile.mkdtemp(prefix="hostile-"))
    os.chmod(d, 0o700)
    fusion, eps = _spawn_fusion(cfg, d)
    bus = _Bus(eps)
    forger = Forger(cfg)
    try:
        _start(bus, fusion, forger, d / "fusion.log", startup_s)
        sent, rss0 = _attack(bus, fusion, forger, n, rate)
        time.sleep(1.0)
        bus.hb = {}
        while not bus.hb:  # a heartbeat sent after the last message was handled
            bus.drain(200)
        alive = fusion.poll() is None
        rss1 = _rss_kb(fusion.pid) if alive else 0
    finally:
        bus.control(Control.STOP)
        try:
            fusion.wait(10)
        except subprocess.TimeoutExpired:
            fusion.kill()
        bus.close()
        shutil.rmtree(d, ignore_errors=True)
    return {**_report(sent, bus.hb.get("stats", {}), bus.predictions), "alive": alive,
            "rss_mb": [round(rss0 / 1024, 1), round(rss1 / 1024, 1)],
            "rss_growth_pct": round(100 * (rss1 - rss0) / max(rss0, 1), 2)}


def _numbers(obj) -> list[float]:
    if isinstance(obj, bool):
        return []
    if isinstance(obj, int | float):
        return [float(obj)]
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _numbers(v)]
    return []


if __name__ == "__main__":
    print(json.dumps(run_hostile(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000), indent=1))
