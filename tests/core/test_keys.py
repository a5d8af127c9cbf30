"""CURVE on TCP: only holders of an authorized client key read the bus; refusals are counted."""

import stat
import time
from collections import Counter

import pytest
import zmq
import zmq.auth

from stream.core.keys import authenticate, create_keys, load_keys, stop_authenticators
from stream.core.message import Message
from stream.core.transport import Curve, Publisher, Subscriber, TransportError

pytestmark = pytest.mark.unit


def _first(sub: Subscriber, pub: Publisher, tries: int = 40) -> Message | None:
    """Publish until the subscriber (slow joiner) gets one, or give up."""
    for i in range(tries):
        pub.send(Message("video", i, 0, 0, 0, topic="video"))
        if (m := sub.recv(50)) is not None:
            return m
    return None


def test_only_authorized_clients_read_the_bus_and_refusals_are_counted(tmp_path):
    keys = load_keys(create_keys(tmp_path / "k"))
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o700
    ctx = zmq.Context()
    denied: Counter[str] = Counter()
    authenticate(ctx, keys, denied)
    try:
        pub = Publisher(ctx, f"tcp://127.0.0.1:{_port()}", curve=keys.for_server())
        good = Subscriber(ctx, [pub.endpoint], ["video"], curve=keys.for_client())
        assert _first(good, pub) is not None
        rogue_pub, rogue_sec = zmq.curve_keypair()  # knows the server key, not authorized
        rogue = Subscriber(ctx, [pub.endpoint], ["video"],
                           curve=Curve(rogue_pub, rogue_sec, server_public=keys.server[0]))
        plain = ctx.socket(zmq.SUB)  # no CURVE at all
        plain.setsockopt(zmq.SUBSCRIBE, b"")
        plain.connect(pub.endpoint)
        assert _first(rogue, pub, tries=20) is None
        assert not plain.poll(100)
        deadline = time.monotonic() + 10
        while not denied["auth_denied"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert denied["auth_denied"] >= 1
        for s in (good, rogue, pub):
            s.close()
        plain.close(0)
    finally:
        stop_authenticators()
        ctx.destroy(0)


def test_a_broken_key_directory_is_one_line(tmp_path):
    with pytest.raises(TransportError, match="no such directory"):
        load_keys(tmp_path / "nope")
    d = create_keys(tmp_path / "k")
    (d / "client.key_secret").write_text("garbage\n")
    with pytest.raises(TransportError, match="client.key_secret"):
        load_keys(d)
    with pytest.raises(TransportError, match="already holds keys"):
        create_keys(d)


def _port() -> int:
    from stream.process.supervisor import free_port

    return free_port()
