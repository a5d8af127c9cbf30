"""What every worker process shares: sockets, start handshake, heartbeats, stop.

A worker is started by the supervisor with a JSON :class:`Spec`. It binds
its PUB socket, subscribes to its inputs and to the supervisor's control
socket, heartbeats, and waits for ``start`` (which carries the session's
time origin) before producing anything: no message is lost to a PUB/SUB
slow joiner. It stops on SIGINT/SIGTERM, on a ``stop`` control message, or
when its parent dies.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import zmq

from stream import config as config_mod
from stream.core.clock import now_ns
from stream.core.message import Message
from stream.core.transport import Publisher, Subscriber

WM_IDLE_NS = 100_000_000  # send a bare watermark when idle this long


@dataclass
class Spec:
    name: str
    config: dict[str, Any]
    endpoints: dict[str, str]  # worker name -> its PUB endpoint; "control", "say"
    options: dict[str, Any] = field(default_factory=dict)  # mode specific (files, session)

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def loads(s: str) -> Spec:
        return Spec(**json.loads(s))


class Runtime:
    """The plumbing of one worker; the worker module keeps only its stage logic."""

    def __init__(self, spec: Spec, inputs: list[str], topics: list[str]) -> None:
        self.spec = spec
        self.name = spec.name
        self.cfg = config_mod.from_dict(spec.config)
        self.ctx = zmq.Context.instance()
        hwm = 0 if self.cfg.run.replay else self.cfg.net.hwm  # replay: lossless
        self.pub = Publisher(self.ctx, spec.endpoints[self.name], hwm=hwm)
        self.inputs = inputs
        self.sub = Subscriber(self.ctx, [spec.endpoints[i] for i in inputs],
                              topics + ["hb"], hwm=hwm) if inputs else None
        self.control = Subscriber(self.ctx, [spec.endpoints["control"]], ["ctl"])
        self.stop = threading.Event()
        self.seq: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()  # drops, errors ... shown on the dashboard
        self.gauges: dict[str, Any] = {}
        self.heard: set[str] = set()  # inputs whose heartbeat reached us
        self.origin_ns: int | None = None
        self.ended = False  # "end" control: sources stop and send EOS
        self.watermark = -1
        self.last_send = 0
        self.last_hb = 0
        self.hb_ns = int(self.cfg.run.heartbeat_s * 1e9)
        self.parent = os.getppid()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop.set())

    # -- publishing --------------------------------------------------------
    def publish(self, topic: str, t_start: int, t_end: int, parts=(), meta=None,
                stages=None, watermark: int | None = None, stream: str | None = None) -> None:
        if watermark is not None:
            self.watermark = max(self.watermark, watermark)
        s = stream or self.name
        msg = Message(stream=s, seq=self.seq[topic], t_start=t_start, t_end=t_end,
                      watermark=self.watermark, parts=list(parts), meta=meta or {},
                      stages=dict(stages or {}), topic=topic)
        self.seq[topic] += 1
        self.pub.send(msg)
        self.last_send = now_ns()

    def advance(self, watermark: int) -> None:
        self.watermark = max(self.watermark, watermark)

    def tick(self) -> None:
        """Call often: control messages, heartbeats, idle watermarks, parent check."""
        now = now_ns()
        while (m := self.control.recv(0)) is not None:
            cmd = m.meta.get("cmd")
            target = m.meta.get("to", "*")
            if target not in ("*", self.name):
                continue
            if cmd == "start" and self.origin_ns is None:
                self.origin_ns = int(m.meta["origin_ns"])
                self.last_hb = 0  # tell the supervisor at once
            elif cmd == "end":
                self.ended = True
            elif cmd == "stop":
                self.stop.set()
        if os.getppid() != self.parent:  # supervisor gone: do not linger
            self.stop.set()
        if now - self.last_hb >= self.hb_ns:
            self.last_hb = now
            self.heartbeat()
        elif self.origin_ns is not None and now - self.last_send >= WM_IDLE_NS:
            self.publish("wm", self.watermark, self.watermark)

    def heartbeat(self) -> None:
        meta = {"pid": os.getpid(), "started": self.origin_ns is not None,
                "inputs": sorted(self.heard), "ended": self.ended,
                "stats": dict(self.stats), "gauges": self.gauges}
        if self.sub is not None:
            meta["stats"].update({f"invalid.{k}": v for k, v in self.sub.invalid.items()})
            meta["stats"].update({f"gap.{k}": v for k, v in self.sub.gaps.items()})
        self.publish("hb", self.watermark, self.watermark, meta=meta)

    # -- receiving ---------------------------------------------------------
    def recv(self, timeout_ms: int = 50) -> Message | None:
        """Next data message from the inputs (heartbeats are absorbed here)."""
        if self.sub is None:
            time.sleep(timeout_ms / 1000)
            return None
        while True:
            m = self.sub.recv(timeout_ms)
            if m is None:
                return None
            if m.topic == "hb":
                self.heard.add(m.stream)
                self.on_heartbeat(m)
                timeout_ms = 0
                continue
            return m

    def on_heartbeat(self, m: Message) -> None:
        """Hook: fusion uses input heartbeats to advance watermarks."""

    # -- lifecycle ---------------------------------------------------------
    def wait_start(self) -> bool:
        """Heartbeat until the supervisor says start; False if stopped first."""
        while not self.stop.is_set() and self.origin_ns is None:
            self.tick()
            if self.sub is not None:
                self.recv(20)
            else:
                time.sleep(0.02)
        return self.origin_ns is not None

    def end_of_stream(self) -> None:
        """A source ended: promise nothing more, then idle (heartbeating) until told to stop."""
        from stream.fusion.align import EOS

        self.ended = True
        self.publish("wm", EOS, EOS, watermark=EOS)
        while not self.stop.is_set():
            self.tick()
            time.sleep(0.05)

    def close(self) -> None:
        self.heartbeat()
        self.pub.close()
        if self.sub is not None:
            self.sub.close()
        self.control.close()


def worker_main(run) -> None:
    """Entry point of ``python -m workers.X SPEC_JSON``: errors become one line and exit 2."""
    from stream.core.transport import TransportError
    from stream.encoders.weights import ModelMissing
    from stream.sources.devices import DeviceError

    arg = sys.argv[1]
    spec = Spec.loads(open(arg[1:]).read() if arg.startswith("@") else arg)
    try:
        run(spec)
    except (DeviceError, ModelMissing, config_mod.ConfigError, TransportError) as e:
        print(f"{spec.name}: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:
        pass
