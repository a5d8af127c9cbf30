"""ZeroMQ PUB/SUB for :mod:`stream.message` envelopes.

Every worker binds one PUB socket; consumers connect SUB sockets to the
endpoints they need. High-water marks bound every queue. Receivers count, by
stream and reason, what they drop: messages that fail validation, and gaps
in a stream's sequence numbers (messages the PUB side shed at its HWM).
Binding anywhere but loopback requires CURVE keys.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlparse

import zmq

from stream.core.clock import now_ns
from stream.core.message import Message, MessageError, decode, encode
from stream.errors import StreamError

MAX_GAP = 100_000  # more messages than any high-water mark holds
MAX_STREAMS = 64  # distinct stream names one subscriber keeps books for


class TransportError(StreamError, RuntimeError):
    """An endpoint that cannot be used (bad address, in use, not loopback without keys)."""


@dataclass(frozen=True)
class Curve:
    """CURVE keys (z85 bytes) for non-loopback endpoints."""

    public: bytes
    secret: bytes
    server_public: bytes | None = None  # clients: the publisher's public key


def is_loopback(endpoint: str) -> bool:
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    host = urlparse(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(endpoint: str, curve: Curve | None) -> None:
    if not endpoint.startswith(("tcp://", "ipc://", "inproc://")):
        raise TransportError(f"endpoint {endpoint!r}: expected tcp://, ipc:// or inproc://")
    if not is_loopback(endpoint) and curve is None:
        raise TransportError(
            f"endpoint {endpoint!r} is not loopback: set net.curve_dir to CURVE keys first"
        )


def apply_curve(sock: zmq.Socket, curve: Curve | None, server: bool) -> None:
    if curve is None:
        return
    sock.curve_publickey = curve.public
    sock.curve_secretkey = curve.secret
    if server:
        sock.curve_server = True
    else:
        if curve.server_public is None:
            raise TransportError("CURVE client needs the server's public key")
        sock.curve_serverkey = curve.server_public


class Publisher:
    """A bound PUB socket. ``send`` never blocks: at the HWM ZeroMQ sheds."""

    def __init__(self, ctx: zmq.Context, endpoint: str, hwm: int = 1000,
                 curve: Curve | None = None) -> None:
        check_endpoint(endpoint, curve)
        self.sock = ctx.socket(zmq.PUB)
        self.sock.sndhwm = hwm
        self.sock.linger = 500
        apply_curve(self.sock, curve, server=True)
        try:
            self.sock.bind(endpoint)
        except zmq.ZMQError as e:
            self.sock.close(0)
            raise TransportError(f"cannot bind {endpoint}: {e}") from None
        self.endpoint = endpoint
        self.sent = 0

    def send(self, msg: Message) -> None:
        msg.stages["publish"] = now_ns()
        self.sock.send_multipart(encode(msg), copy=False)
        self.sent += 1

    def close(self) -> None:
        self.sock.close()


class Subscriber:
    """A SUB socket connected to several publishers, with drop accounting."""

    def __init__(self, ctx: zmq.Context, endpoints: list[str], topics: list[str],
                 hwm: int = 1000, curve: Curve | None = None) -> None:
        self.sock = ctx.socket(zmq.SUB)
        self.sock.rcvhwm = hwm
        self.sock.linger = 0
        apply_curve(self.sock, curve, server=False)
        for t in topics:
            self.sock.setsockopt(zmq.SUBSCRIBE, t.encode())
        for ep in endpoints:
            check_endpoint(ep, curve)
            self.sock.connect(ep)
        self.invalid: Counter[str] = Counter()  # reason -> count
        self.gaps: Counter[str] = Counter()  # stream -> messages missing by seq
        self.received: Counter[str] = Counter()
        self._last_seq: dict[str, int] = {}

    def recv(self, timeout_ms: int = 100) -> Message | None:
        """Next valid message, or None after ``timeout_ms``. Invalid ones are counted.

        An invalid message does not shorten the wait: the deadline is fixed on entry, so a
        sender cannot make a reader give up early by sending garbage first."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left_ms = max(0, round((deadline - time.monotonic()) * 1000))
            if not self.sock.poll(left_ms):
                return None
            frames = self.sock.recv_multipart(copy=False)
            try:
                msg = decode(frames)
            except MessageError as e:
                self.invalid[str(e).split(":")[0][:60]] += 1
                continue
            if msg.stream not in self.received and len(self.received) >= MAX_STREAMS:
                self.invalid["too many streams"] += 1  # names a sender invents cannot grow our books
                continue
            key = f"{msg.stream}/{msg.topic}"
            last = self._last_seq.get(key)
            if last is not None and msg.seq > last + 1:
                # A jump no publisher's buffer could explain is one event, not millions lost.
                missing = msg.seq - last - 1
                self.gaps[msg.stream] += missing if missing <= MAX_GAP else 1
            if last is None or msg.seq > last:
                self._last_seq[key] = msg.seq
            self.received[msg.stream] += 1
            msg.stages["receive"] = now_ns()
            return msg

    def close(self) -> None:
        self.sock.close()
