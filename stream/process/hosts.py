"""Workers on other hosts: how they join a run, and how their clocks are brought onto fusion's.

The supervisor (on the fusion host) serves one ROUTER socket, CURVE like the rest of the
bus (only keys in ``authorized/`` get in; refusals are counted). A remote worker
(``launch.py worker NAME --join ENDPOINT --keys DIR``) connects a DEALER to it and

1. asks to join as NAME: the answer is its :class:`~stream.process.runtime.Spec` (the run's
   config, endpoints and options), or a one-line refusal;
2. answers clock requests: the supervisor's thread times them on its clock, the worker's
   thread on its own, and :class:`~stream.core.timesync.OffsetEstimator` turns them into
   offset, drift, round trip and uncertainty per host (the dashboard shows them);
3. receives each new estimate as a :class:`~stream.core.clock.ClockMap` and applies it to its
   process clock, so every timestamp, watermark and pacing deadline it produces is already on
   the fusion host's clock (a replayed stream's times are then exactly a local run's).

Both ends run the exchange in a thread of their own: a worker busy encoding still answers
within microseconds, and the smallest-round-trip filter throws away the answers that were not.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgpack
import zmq

from stream.core.clock import ClockMap, local_ns, now_ns, set_clock_map
from stream.core.timesync import BLOCK, ClockEstimate, Exchange, OffsetEstimator
from stream.core.transport import Curve, TransportError, apply_curve, check_endpoint

FAST_S, SLOW_S = 0.025, 0.5  # request spacing: the first block quickly (start-up waits), then calm
MAX_FRAME = 1 << 20  # a spec with a long scripted replay is well under this
INT64 = (-(1 << 63), (1 << 63) - 1)


def _pack(d: dict) -> bytes:
    return msgpack.packb(d, use_bin_type=True)


def _unpack(b: bytes) -> dict | None:
    """A protocol message, or None for anything malformed (counted by the caller)."""
    if len(b) > MAX_FRAME:
        return None
    try:
        d = msgpack.unpackb(b, raw=False, strict_map_key=True, max_bin_len=0, max_ext_len=0)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None
    return d if isinstance(d, dict) and isinstance(d.get("op"), str) else None


def _ints(d: dict, *keys: str) -> list[int] | None:
    vals = [d.get(k) for k in keys]
    ok = all(isinstance(v, int) and not isinstance(v, bool) and INT64[0] <= v <= INT64[1] for v in vals)
    return vals if ok else None  # type: ignore[return-value]


class HostServer(threading.Thread):
    """The fusion side: lets the expected remote workers join, and keeps their clocks."""

    def __init__(self, ctx: zmq.Context, endpoint: str, curve: Curve | None,
                 spec_for: Callable[[str], tuple[str, str]], names: set[str]) -> None:
        super().__init__(name="host-server", daemon=True)
        check_endpoint(endpoint, curve)
        self.ctx, self.endpoint, self.curve = ctx, endpoint, curve
        self.spec_for, self.names = spec_for, names
        self.stats: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.estimates: dict[str, ClockEstimate] = {}
        self.peers: dict[str, bytes] = {}  # name -> the identity that joined last
        self.est: dict[str, OffsetEstimator] = {}
        self.pending: dict[str, int] = {}  # name -> t1 of the request awaiting its answer
        self.next_at: dict[str, float] = {}
        self.halt = threading.Event()
        self.bound = threading.Event()
        self.error: str | None = None

    # -- what the supervisor reads -----------------------------------------
    def estimate(self, name: str) -> ClockEstimate | None:
        with self.lock:
            return self.estimates.get(name)

    def synced(self, name: str) -> bool:
        return self.estimate(name) is not None

    def stop(self) -> None:
        self.halt.set()
        self.join(2.0)

    # -- the thread ----------------------------------------------------------
    def run(self) -> None:
        sock = self.ctx.socket(zmq.ROUTER)
        sock.linger = 0
        sock.router_mandatory = False
        sock.maxmsgsize = MAX_FRAME
        apply_curve(sock, self.curve, server=True)
        try:
            sock.bind(self.endpoint)
        except zmq.ZMQError as e:
            self.error = f"{self.endpoint}: cannot listen for remote workers ({e})"
            self.bound.set()
            return
        self.bound.set()
        try:
            while not self.halt.is_set():
                wait = min([t - time.monotonic() for t in self.next_at.values()] + [0.1])
                if sock.poll(max(0, int(wait * 1000))):
                    ident, payload = self._recv(sock)
                    t4 = now_ns()
                    if ident is not None:
                        self._handle(sock, ident, payload, t4)
                self._requests(sock)
        finally:
            sock.close()

    @staticmethod
    def _recv(sock: zmq.Socket) -> tuple[bytes | None, dict | None]:
        frames = sock.recv_multipart()
        if len(frames) != 2:
            return None, None
        return frames[0], _unpack(frames[1])

    def _handle(self, sock: zmq.Socket, ident: bytes, d: dict | None, t4: int) -> None:
        if d is None:
            self.stats["invalid"] += 1
            return
        if d["op"] == "join":
            name = d.get("name")
            if name not in self.names:
                self.stats["refused"] += 1
                why = f"{name!r} is not a remote worker of this run (net.remote: {sorted(self.names)})"
                sock.send_multipart([ident, _pack({"op": "refused", "why": why})])
                return
            spec, module = self.spec_for(name)
            sock.send_multipart([ident, _pack({"op": "spec", "spec": spec, "module": module})])
            self.peers[name], self.est[name] = ident, OffsetEstimator()
            self.pending.pop(name, None)
            self.next_at[name] = time.monotonic()
            with self.lock:
                self.estimates.pop(name, None)
            return
        name = next((n for n, i in self.peers.items() if i == ident), None)
        t = _ints(d, "t1", "t2", "t3")
        if d["op"] != "answer" or name is None or t is None or self.pending.get(name) != t[0]:
            self.stats["invalid"] += 1  # not an answer to the request we are waiting on
            return
        del self.pending[name]
        if self.est[name].add(Exchange(t[0], t[1], t[2], t4)):
            e = self.est[name].estimate()
            assert e is not None
            with self.lock:
                self.estimates[name] = e
            m = e.clock_map()
            sock.send_multipart([ident, _pack({"op": "map", "offset": m.offset_ns, "drift": m.drift,
                                               "ref": m.ref_ns})])

    def _requests(self, sock: zmq.Socket) -> None:
        now = time.monotonic()
        for name, at in list(self.next_at.items()):
            if now < at:
                continue
            first = self.est[name].exchanges < BLOCK
            self.next_at[name] = now + (FAST_S if first else SLOW_S)
            t1 = now_ns()
            self.pending[name] = t1  # an unanswered request is simply superseded
            sock.send_multipart([self.peers[name], _pack({"op": "request", "t1": t1})])


class HostClient(threading.Thread):
    """The remote worker's side: joins, then answers clock requests and applies the estimates."""

    def __init__(self, ctx: zmq.Context, endpoint: str, curve: Curve | None, name: str,
                 clock: Callable[[], int] = local_ns,
                 apply: Callable[[ClockMap], Any] = set_clock_map) -> None:
        super().__init__(name="host-client", daemon=True)
        check_endpoint(endpoint, curve)
        self.endpoint, self.name = endpoint, name
        self.clock, self.apply = clock, apply  # (tests give a shifted clock and keep the maps)
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.maxmsgsize = MAX_FRAME
        apply_curve(self.sock, curve, server=False)
        self.sock.connect(endpoint)
        self.halt = threading.Event()
        self.mapped = threading.Event()
        self.last_heard = time.monotonic()
        self.stats: Counter[str] = Counter()

    def join_run(self, timeout_s: float = 30.0) -> tuple[str, str]:
        """(spec JSON, worker module) from the fusion host; TransportError if refused or unheard."""
        self.sock.send(_pack({"op": "join", "name": self.name}))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.sock.poll(100):
                continue
            d = _unpack(self.sock.recv())
            if d is None or d["op"] == "request":
                continue  # a request racing the answer: the next one will be answered
            if d["op"] == "refused":
                raise TransportError(f"{self.endpoint}: refused {self.name!r}: {d.get('why', '')}")
            if d["op"] == "spec" and isinstance(d.get("spec"), str) and isinstance(d.get("module"), str):
                self.last_heard = time.monotonic()
                return d["spec"], d["module"]
        raise TransportError(f"{self.endpoint}: no answer to joining in {timeout_s:.0f} s "
                             "(is the assistant running there, with net.remote naming this worker, "
                             "and are these its keys?)")

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                if not self.sock.poll(100):
                    continue
                payload = self.sock.recv()
                t2 = self.clock()
                self._handle(_unpack(payload), t2)
        finally:
            self.sock.close()

    def _handle(self, d: dict | None, t2: int) -> None:
        if d is None:
            self.stats["invalid"] += 1
            return
        self.last_heard = time.monotonic()
        if d["op"] == "request" and (t := _ints(d, "t1")) is not None:
            self.sock.send(_pack({"op": "answer", "t1": t[0], "t2": t2, "t3": self.clock()}))
        elif d["op"] == "map" and (t := _ints(d, "offset", "ref")) is not None \
                and isinstance(d.get("drift"), float) and abs(d["drift"]) < 1e-3:
            self.apply(ClockMap(t[0], d["drift"], t[1]))
            self.mapped.set()
        else:
            self.stats["invalid"] += 1

    def silent_s(self) -> float:
        """How long since the fusion host was last heard (its requests come every half second)."""
        return time.monotonic() - self.last_heard

    def stop(self) -> None:
        self.halt.set()
        self.join(1.0)
