"""CURVE keys for a bus on TCP (a worker on another host, or ``net.transport = "tcp"``).

A key directory (``net.curve_dir``, or one made per run in the run's private
directory) holds, in ZeroMQ's certificate format (``zmq.auth``)::

    server.key, server.key_secret   every bound socket of the assistant (publishers, control, say)
    client.key, client.key_secret   every connecting socket (subscribers, ``say``)
    authorized/*.key                the client public keys a server lets in (ZAP)

Make one with ``launch.py keys DIR`` and copy it to the other host (the secret
files are the credentials: keep the directory private). A peer whose key is
not in ``authorized/`` is refused by the handshake and counted.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from stream.core.transport import Curve, TransportError

SERVER, CLIENT, AUTHORIZED = "server", "client", "authorized"


@dataclass(frozen=True)
class BusKeys:
    server: tuple[bytes, bytes]  # public, secret
    client: tuple[bytes, bytes]
    authorized: Path  # directory of the client public keys allowed to connect

    def for_server(self) -> Curve:
        return Curve(*self.server)

    def for_client(self) -> Curve:
        return Curve(*self.client, server_public=self.server[0])


def create_keys(d: str | Path) -> Path:
    """A new key directory (mode 0700); refuses to overwrite an existing one."""
    d = Path(d)
    if (d / f"{SERVER}.key_secret").exists():
        raise TransportError(f"{d}: already holds keys (remove it first to make new ones)")
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    for name in (SERVER, CLIENT):
        zmq.auth.create_certificates(str(d), name)
    (d / AUTHORIZED).mkdir(exist_ok=True)
    shutil.copy(d / f"{CLIENT}.key", d / AUTHORIZED / f"{CLIENT}.key")
    return d


def _load(path: Path, secret: bool) -> tuple[bytes, bytes]:
    try:
        public, sec = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as e:
        raise TransportError(f"{path}: not a CURVE key file ({e})") from None
    if secret and not sec:
        raise TransportError(f"{path}: holds no secret key")
    return public, sec or b""


def load_keys(d: str | Path) -> BusKeys:
    """The keys in ``d``; one line naming the file when one is missing or broken."""
    d = Path(d)
    if not d.is_dir():
        raise TransportError(f"net.curve_dir {d}: no such directory (make one with `launch.py keys {d}`)")
    if not (d / AUTHORIZED).is_dir():
        raise TransportError(f"{d / AUTHORIZED}: missing (the client keys allowed to connect)")
    return BusKeys(_load(d / f"{SERVER}.key_secret", True), _load(d / f"{CLIENT}.key_secret", True),
                   d / AUTHORIZED)


class _Denials(logging.Handler):
    """Counts the handshakes the authenticator refused (its only report is a log line)."""

    def __init__(self, counts: Counter[str]) -> None:
        super().__init__(logging.DEBUG)
        self.counts = counts

    def emit(self, record: logging.LogRecord) -> None:
        if "DENIED" in record.getMessage():
            self.counts["auth_denied"] += 1


def authenticate(ctx: zmq.Context, keys: BusKeys, counts: Counter[str]) -> ThreadAuthenticator:
    """Start this process's ZAP handler: only clients in ``keys.authorized`` get in."""
    log = logging.getLogger(f"stream.zap.{id(ctx)}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(_Denials(counts))
    auth = ThreadAuthenticator(ctx, log=log)
    auth.start()
    auth.configure_curve(domain="*", location=str(keys.authorized))
    _running.append(auth)
    return auth


_running: list[ThreadAuthenticator] = []


def stop_authenticators() -> None:
    """Before the context goes: the handler thread owns sockets of its own."""
    while _running:
        _running.pop().stop()


def bus_keys(curve_dir: str) -> BusKeys | None:
    """The keys of a run's bus: those in ``curve_dir``, or none (ipc needs none)."""
    return load_keys(curve_dir) if curve_dir else None
