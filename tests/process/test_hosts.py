"""The host channel over real CURVE sockets: a remote worker joins, its clock is estimated
(a clock shifted by an hour and running 40 ppm fast), a stranger is refused and counted."""

import time
from collections import Counter

import pytest
import zmq

from stream.core.clock import ClockMap
from stream.core.keys import authenticate, create_keys, load_keys, stop_authenticators
from stream.core.transport import Curve, TransportError
from stream.process.hosts import HostClient, HostServer
from stream.process.supervisor import free_port

pytestmark = pytest.mark.unit

HOUR = 3600 * 10**9


@pytest.fixture
def bus(tmp_path):
    keys = load_keys(create_keys(tmp_path / "k"))
    ctx = zmq.Context()
    denied: Counter[str] = Counter()
    authenticate(ctx, keys, denied)
    server = HostServer(ctx, f"tcp://127.0.0.1:{free_port()}", keys.for_server(),
                        lambda name: (f'{{"name": "{name}"}}', f"workers.{name}"), {"video"})
    server.start()
    assert server.bound.wait(5) and server.error is None
    yield ctx, keys, server, denied
    server.stop()
    stop_authenticators()
    ctx.destroy(0)


def test_a_remote_worker_joins_and_its_clock_is_found_within_a_millisecond(bus):
    ctx, keys, server, _ = bus
    t0 = time.monotonic_ns()
    shifted = lambda: round(time.monotonic_ns() + HOUR + 40e-6 * (time.monotonic_ns() - t0))  # noqa: E731
    maps: list[ClockMap] = []
    client = HostClient(ctx, server.endpoint, keys.for_client(), "video", clock=shifted, apply=maps.append)
    spec, module = client.join_run(10)
    assert spec == '{"name": "video"}' and module == "workers.video"
    client.start()
    try:
        assert client.mapped.wait(10)
        e = server.estimate("video")
        assert e is not None and server.synced("video")
        now = time.monotonic_ns()
        true = HOUR + 40e-6 * (now - t0)
        assert abs(e.offset_at(now) - true) < 1e6
        assert abs(maps[-1].to_fusion(shifted()) - time.monotonic_ns()) < 1e6  # what the worker applies
        assert e.summary()["rtt_ms"] >= 0 and e.exchanges >= 8
    finally:
        client.stop()


def test_a_worker_the_run_does_not_expect_is_refused_with_the_reason(bus):
    ctx, keys, server, _ = bus
    client = HostClient(ctx, server.endpoint, keys.for_client(), "audio")
    with pytest.raises(TransportError, match="'audio' is not a remote worker of this run"):
        client.join_run(10)
    client.sock.close(0)
    assert server.stats["refused"] == 1


def test_a_peer_without_the_keys_is_refused_by_the_handshake_and_counted(bus):
    ctx, keys, server, denied = bus
    pub, sec = zmq.curve_keypair()
    client = HostClient(ctx, server.endpoint, Curve(pub, sec, server_public=keys.server[0]), "video")
    with pytest.raises(TransportError, match="no answer"):
        client.join_run(1)
    client.sock.close(0)
    assert denied["auth_denied"] >= 1 and server.estimate("video") is None
