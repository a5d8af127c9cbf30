"""How well a remote host's clock is found: ``python -m stream.offline.clocksync [SECONDS]``.

For each offset (1 min, 30 min, 1 h) a client process runs with its monotonic clock shifted by
exactly that much (a Linux time namespace: needs root) and answers the fusion side's clock
requests over CURVE on loopback, as a remote worker does; every estimate the fusion side makes
is compared with the true offset. Prints the error's median and p95 and the round trips.

This kernel has no ``sch_netem`` (``tc ... netem`` is refused), so longer round trips are made
in user space: a relay between the two delays every message by ``DELAY_MS`` each way, plus a
random 0-1 ms (exponential, mean 0.25 ms) that differs per message and per direction.
"""

from __future__ import annotations

import heapq
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from statistics import median

import zmq

from stream.core.clock import now_ns
from stream.core.keys import authenticate, create_keys, load_keys, stop_authenticators
from stream.core.transport import apply_curve
from stream.process.hosts import HostClient, HostServer
from stream.process.supervisor import free_port

OFFSETS_S = (60, 1800, 3600)
DELAYS_MS = (0.0, 5.0, 10.0)  # each way: round trips of about 0.4, 10 and 20 ms


class Relay(threading.Thread):
    """Forwards between a client and the server, each message ``delay_ms`` (+ jitter) late."""

    def __init__(self, ctx: zmq.Context, server: str, keys, delay_ms: float) -> None:
        super().__init__(daemon=True)
        self.ctx, self.server, self.keys, self.delay_ns = ctx, server, keys, int(delay_ms * 1e6)
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.halt = threading.Event()
        self.rng = random.Random(0)

    def run(self) -> None:
        front, back = self.ctx.socket(zmq.ROUTER), self.ctx.socket(zmq.DEALER)
        apply_curve(front, self.keys.for_server(), server=True)
        apply_curve(back, self.keys.for_client(), server=False)
        front.bind(self.endpoint)
        back.connect(self.server)
        due: list[tuple[int, int, zmq.Socket, list[bytes]]] = []
        ident, n = b"", 0
        poller = zmq.Poller()
        poller.register(front, zmq.POLLIN)
        poller.register(back, zmq.POLLIN)
        while not self.halt.is_set():
            wait = max(0, (due[0][0] - time.monotonic_ns()) // 1_000_000) if due else 50
            for sock, _ in poller.poll(min(wait, 50)):
                frames = sock.recv_multipart()
                late = self.delay_ns + min(int(self.rng.expovariate(1 / 250_000)), 1_000_000)
                n += 1
                if sock is front:
                    ident = frames[0]
                    heapq.heappush(due, (time.monotonic_ns() + late, n, back, frames[1:]))
                else:
                    heapq.heappush(due, (time.monotonic_ns() + late, n, front, [ident, *frames]))
            while due and due[0][0] <= time.monotonic_ns():
                _, _, sock, frames = heapq.heappop(due)
                sock.send_multipart(frames)
        front.close(0)
        back.close(0)


def client(endpoint: str, keys: str, seconds: float) -> None:
    """The shifted host's side: join as ``probe`` and answer requests for ``seconds``."""
    c = HostClient(zmq.Context.instance(), endpoint, load_keys(keys).for_client(), "probe",
                   apply=lambda m: None)
    c.join_run(30)
    c.start()
    time.sleep(seconds)
    c.stop()


def measure(offset_s: int, seconds: float, keys_dir: str, delay_ms: float = 0.0
            ) -> tuple[list[float], list[float]]:
    """(|estimate - truth| in ms per estimate, round trips in ms) for one shifted client."""
    ctx = zmq.Context()
    keys = load_keys(keys_dir)
    authenticate(ctx, keys, Counter())
    server = HostServer(ctx, f"tcp://127.0.0.1:{free_port()}", keys.for_server(),
                        lambda name: ("{}", ""), {"probe"})
    server.start()
    server.bound.wait(5)
    relay = Relay(ctx, server.endpoint, keys, delay_ms)
    if delay_ms:
        relay.start()
    p = subprocess.Popen(["unshare", "--time", "--fork", "--monotonic", str(offset_s), sys.executable,
                          "-m", "stream.offline.clocksync", "--client",
                          relay.endpoint if delay_ms else server.endpoint, keys_dir, str(seconds)])
    errors, rtts, seen = [], [], None
    try:
        while p.poll() is None:
            time.sleep(0.05)
            e = server.estimate("probe")
            if e is None or e is seen:
                continue
            seen = e
            errors.append(abs(e.offset_at(now_ns()) - offset_s * 1e9) / 1e6)
            rtts.append(e.rtt_ns / 1e6)
    finally:
        p.wait()
        relay.halt.set()
        if delay_ms:
            relay.join()
        server.stop()
        stop_authenticators()
        ctx.destroy(0)
    return errors, rtts


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 40.0
    with tempfile.TemporaryDirectory() as d:
        keys = str(create_keys(f"{d}/keys"))
        all_errors = []
        for delay in DELAYS_MS:
            for off in OFFSETS_S:
                errors, rtts = measure(off, seconds, keys, delay)
                all_errors += errors
                print(f"delay {delay:4.1f} ms each way, offset {off:>5d} s: {len(errors)} estimates, "
                      f"error median {median(errors):.4f} ms, max {max(errors):.4f} ms; "
                      f"best round trip median {median(rtts):.2f} ms", flush=True)
    all_errors.sort()
    p95 = all_errors[min(len(all_errors) - 1, int(0.95 * len(all_errors)))]
    print(f"all: {len(all_errors)} estimates, error median {median(all_errors):.4f} ms, p95 {p95:.4f} ms")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        client(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit(main())
