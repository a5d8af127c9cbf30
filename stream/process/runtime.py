"""What every worker process shares: sockets, start handshake, heartbeats, the stage loop, stop.

A worker is started by the supervisor with a JSON :class:`Spec`. It binds its
PUB socket, subscribes to its inputs and to the supervisor's control socket,
heartbeats, and waits for ``start`` (which carries the session's time origin)
before producing anything: no message is lost to a PUB/SUB slow joiner. It
stops on SIGINT/SIGTERM, on a ``stop`` control message, or when its parent
dies. Its logic is a :class:`~stream.process.stage.Stage`, run by
:func:`run_worker`.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import zmq

from stream import config as config_mod
from stream.core.clock import now_ns
from stream.core.keys import authenticate, bus_keys, stop_authenticators
from stream.core.message import EOS, Control, Message, Topic
from stream.core.transport import Publisher, Subscriber
from stream.errors import StreamError
from stream.process.stage import Output, RunOptions, Stage, StageContext

WM_IDLE_NS = 100_000_000  # send a bare watermark when idle this long
# ... and one that moved on, this soon: the ASR's silent chunks and the text worker's passing
# time send nothing else, and a typed line's window waits on both (at 100 ms, lines waited out
# fusion's 50 ms event deadline: typed p95 ~80 ms).
WM_MOVED_NS = 20_000_000


@dataclass
class Spec:
    name: str
    config: dict[str, Any]
    endpoints: dict[str, str]  # worker name -> its PUB endpoint; "control", "say"
    options: RunOptions = field(default_factory=RunOptions)
    inputs: list[str] = field(default_factory=list)  # the streams this worker listens to
    parent_pid: int = 0  # the supervisor's: a worker whose parent is gone exits (even one that
    # lost it while importing, before it could have read its parent's pid itself); -1: remote

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def loads(s: str) -> Spec:
        d = json.loads(s)
        d["options"] = RunOptions(**d.get("options", {}))
        return Spec(**d)


def _watch(pid: int) -> int | None:
    """A pidfd that turns readable when ``pid`` exits: a forked worker's parent is the fork
    server, not the supervisor, so ``getppid`` cannot tell. -1: already gone; None: cannot."""
    if pid <= 0:
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return -1
    except (OSError, AttributeError):
        return None


class Runtime:
    """The plumbing of one worker: its sockets, heartbeats and control."""

    def __init__(self, spec: Spec) -> None:
        self.name = spec.name
        self.cfg = config_mod.from_dict(spec.config)
        self.ctx = zmq.Context.instance()
        self.stats: Counter[str] = Counter()  # drops, errors ... shown on the dashboard
        keys = bus_keys(self.cfg.net.curve_dir)  # TCP: CURVE, only authorized peers get in
        server, client = (keys.for_server(), keys.for_client()) if keys else (None, None)
        if keys is not None:
            authenticate(self.ctx, keys, self.stats)
        hwm = 0 if self.cfg.run.replay else self.cfg.net.hwm  # replay: lossless
        self.pub = Publisher(self.ctx, spec.endpoints[self.name], hwm=hwm, curve=server)
        self.inputs = spec.inputs
        self.sub = Subscriber(self.ctx, [spec.endpoints[i] for i in spec.inputs],
                              [*spec.inputs, Topic.WATERMARK, Topic.HEARTBEAT],
                              hwm=hwm, curve=client) if spec.inputs else None
        self.control = Subscriber(self.ctx, [spec.endpoints["control"]], [Topic.CONTROL], curve=client)
        self.stop = threading.Event()
        self.seq: Counter[str] = Counter()
        self.gauges: dict[str, Any] = {}
        self.heard: set[str] = set()  # inputs whose heartbeat reached us
        self.origin_ns: int | None = None
        self.ended = False  # "end" control: sources stop and send EOS
        self.watermark = -1
        self.last_send = 0
        self.sent_wm = -1  # the watermark the last message carried
        self.last_hb = 0
        self.hb_ns = int(self.cfg.run.heartbeat_s * 1e9)
        self.parent = spec.parent_pid or os.getppid()
        self.parent_fd = _watch(self.parent)
        self.host: Any = None  # a remote worker's link to the fusion host (its clock exchanges)
        self.on_heartbeat = lambda m: None  # fusion advances an input's watermark by its heartbeats
        self.loading = True  # in the stage's setup: a stop signal interrupts it at once
        self._poller: tuple[tuple, zmq.Poller] | None = None  # (wake sockets, poller) of recv
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, *_) -> None:
        self.stop.set()
        if self.loading:  # a model load may take many seconds and never looks at ``stop``
            raise KeyboardInterrupt

    # -- publishing --------------------------------------------------------
    def publish(self, topic: str, t_start: int, t_end: int, parts: dict | None = None, meta=None,
                stages=None, watermark: int | None = None) -> None:
        if watermark is not None:
            self.watermark = max(self.watermark, watermark)
        msg = Message(stream=self.name, seq=self.seq[topic], t_start=t_start, t_end=t_end,
                      watermark=self.watermark, parts=dict(parts or {}), meta=meta or {},
                      stages=dict(stages or {}), topic=topic)
        self.seq[topic] += 1
        self.pub.send(msg)
        self.last_send, self.sent_wm = now_ns(), self.watermark

    def send(self, out: Output) -> None:
        self.publish(out.topic, out.t_start, out.t_end, out.parts, out.meta, out.stages, out.watermark)

    def _parent_gone(self) -> bool:
        if self.parent <= 0:  # a remote worker: its link to the fusion host says
            return False
        if self.parent_fd is None:  # no pidfd here: ask whether the pid still exists (a forked
            try:                    # worker's parent is the fork server: getppid cannot tell)
                os.kill(self.parent, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                pass
            return False
        return self.parent_fd < 0 or bool(select.select([self.parent_fd], [], [], 0)[0])

    def advance(self, watermark: int) -> None:
        self.watermark = max(self.watermark, watermark)

    def tick(self) -> None:
        """Call often: control messages, heartbeats, idle watermarks, parent check."""
        now = now_ns()
        while (m := self.control.recv(0)) is not None:
            cmd = m.meta.get("cmd")
            if m.meta.get("to", "*") not in ("*", self.name):
                continue
            if cmd == Control.START and self.origin_ns is None:
                self.origin_ns = int(m.meta["origin_ns"])
                self.last_hb = 0  # tell the supervisor at once
            elif cmd == Control.END:
                self.ended = True
            elif cmd == Control.STOP:
                self.stop.set()
            elif cmd == Control.LOST and m.meta.get("stream") in self.inputs:
                # Given up by the supervisor: nothing more will come from it.
                self.on_heartbeat(Message(str(m.meta["stream"]), 0, EOS, EOS, EOS))
        if self._parent_gone():  # supervisor gone: do not linger
            self.stop.set()
        if self.host is not None and self.host.silent_s() > self.cfg.run.silent_restart_s:
            self.stats["fusion_host_silent"] += 1  # a remote worker whose run is gone ends too
            self.stop.set()
        if now - self.last_hb >= self.hb_ns:
            self.last_hb = now
            self.heartbeat()
        elif self.origin_ns is not None and now - self.last_send >= (
                WM_MOVED_NS if self.watermark > self.sent_wm else WM_IDLE_NS):
            self.publish(Topic.WATERMARK, self.watermark, self.watermark)

    def heartbeat(self) -> None:
        meta = {"pid": os.getpid(), "started": self.origin_ns is not None,
                "inputs": sorted(self.heard), "ended": self.ended,
                "stats": dict(self.stats), "gauges": self.gauges}
        if self.sub is not None:
            meta["stats"].update({f"invalid.{k}": v for k, v in self.sub.invalid.items()})
            meta["stats"].update({f"gap.{k}": v for k, v in self.sub.gaps.items()})
        self.publish(Topic.HEARTBEAT, self.watermark, self.watermark, meta=meta)

    # -- receiving ---------------------------------------------------------
    def recv(self, timeout_ms: int = 50, wake: tuple = ()) -> Message | None:
        """Next data message from the inputs (heartbeats are absorbed here); None after
        ``timeout_ms``, or at once when one of the ``wake`` sockets has something to read."""
        if wake:
            if self._poller is None or self._poller[0] != wake:
                poller = zmq.Poller()
                for sock in (*wake, *([self.sub.sock] if self.sub else [])):
                    poller.register(sock, zmq.POLLIN)
                self._poller = (wake, poller)
            ready = dict(self._poller[1].poll(timeout_ms))
            if self.sub is None or self.sub.sock not in ready:
                return None
            timeout_ms = 0
        if self.sub is None:
            return None
        while True:
            m = self.sub.recv(timeout_ms)
            if m is None:
                return None
            if m.topic == Topic.HEARTBEAT:
                self.heard.add(m.stream)
                self.on_heartbeat(m)
                timeout_ms = 0
                continue
            return m

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
        """Nothing more will come: promise it, then idle (heartbeating) until told to stop."""
        self.ended = True
        self.publish(Topic.WATERMARK, EOS, EOS, watermark=EOS)
        while not self.stop.is_set():
            self.tick()
            time.sleep(0.05)

    def close(self) -> None:
        self.heartbeat()
        self.pub.close()
        if self.sub is not None:
            self.sub.close()
        self.control.close()


def _loop(rt: Runtime, stage: Stage) -> None:
    """The stage's turns until it is done or the worker is stopped."""
    told_end = False
    while not rt.stop.is_set() and not stage.done:
        rt.tick()
        if rt.ended and not told_end:
            told_end = True
            stage.end()
        m = rt.recv(10, stage.wake)
        outs = stage.process(m) if m is not None else []
        outs += stage.poll()
        for out in outs[:-1]:
            rt.send(out)
        # The turn's promise rides on its last message: a window waiting on this stream closes
        # now, not at the next idle watermark ~100 ms on.
        rt.advance(stage.watermark)
        if outs:
            rt.send(outs[-1])
        if rt.sub is None and not stage.wake and not outs:
            time.sleep(0.01)  # nothing to wait on: do not spin


def run_worker(stage: Stage, spec: Spec, host: Any = None) -> None:
    """Set the stage up, wait for start, run its turns; at its end, end of stream."""
    rt = Runtime(spec)
    rt.host = host
    stage.setup(StageContext(rt.cfg, spec.options, spec.endpoints, spec.inputs, rt.stats, rt.gauges))
    rt.loading = False
    rt.on_heartbeat = lambda m: stage.on_heartbeat(m.stream, m.watermark)
    try:
        if not rt.wait_start():
            return
        assert rt.origin_ns is not None
        stage.start(rt.origin_ns)
        _loop(rt, stage)
        if stage.done:
            for out in stage.finish():
                rt.send(out)
    finally:
        stage.close()
    if stage.done:
        rt.end_of_stream()
    rt.close()


def worker_main(stage_cls: type[Stage]) -> None:
    """Entry point of ``python -m workers.X @SPEC_FILE`` (started by the supervisor) or
    ``python -m workers.X --join ENDPOINT --keys DIR --name NAME [--source SPEC]`` (on another
    host, see :mod:`stream.process.hosts`): errors become one line and exit 2."""
    code, host, name = 0, None, "worker"
    try:
        if sys.argv[1] == "--join":
            spec, host = join(sys.argv[2:])
        else:
            arg = sys.argv[1]
            spec = Spec.loads(open(arg[1:]).read() if arg.startswith("@") else arg)
        name = spec.name
        run_worker(stage_cls(), spec, host)
        if host is not None and host.silent_s() > spec.config["run"]["silent_restart_s"]:
            print(f"{name}: the fusion host went silent; leaving", file=sys.stderr, flush=True)
            code = 1
    except StreamError as e:
        print(f"{name}: {e}", file=sys.stderr, flush=True)
        code = 2
    except KeyboardInterrupt:
        pass
    if host is not None:
        host.stop()
    _leave(code)


def join(argv: list[str]) -> tuple[Spec, Any]:
    """A remote worker joins a running assistant: its spec from the fusion host, its keys and
    (optionally) its source from this one; returns once its clock is mapped onto fusion's."""
    import argparse

    from stream.core.keys import load_keys
    from stream.process.hosts import HostClient

    p = argparse.ArgumentParser(prog="worker")
    p.add_argument("endpoint")
    p.add_argument("--keys", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--source")
    p.add_argument("--plugin", action="append", default=[])  # modules this host agrees to import
    p.add_argument("--timeout", type=float, default=60.0)
    a = p.parse_args(argv)
    keys = load_keys(a.keys)
    host = HostClient(zmq.Context.instance(), a.endpoint, keys.for_client(), a.name)
    text, _ = host.join_run(a.timeout)
    spec = Spec.loads(text)
    spec.config["net"]["curve_dir"] = str(Path(a.keys).resolve())  # this host's copy of the keys
    # The fusion host names the plugins of its run; this host imports only those it agreed to.
    spec.config["run"]["plugins"] = [m for m in spec.config["run"]["plugins"] if m in a.plugin]
    if a.source is not None:
        spec.options.sources = {**spec.options.sources, spec.name: a.source}
    spec.parent_pid = -1
    host.start()
    if not host.mapped.wait(a.timeout):
        raise StreamError(f"{a.endpoint}: joined, but no clock estimate came in {a.timeout:.0f} s")
    return spec, host


def _leave(code: int) -> NoReturn:
    """Exit without the interpreter's teardown, once what must go out has gone out.

    Tearing down torch and the model libraries takes 1-2 s on an idle machine and more on a
    busy one (measured), which made every stop wait on it. Nothing is left to run: the stage
    has closed its files, and queued messages are flushed here (bounded by the linger)."""
    sys.stdout.flush()
    sys.stderr.flush()
    stop_authenticators()
    zmq.Context.instance().destroy(linger=500)
    os._exit(code)
