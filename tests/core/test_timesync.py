"""The clock-offset estimator on simulated exchanges: known offset, drift and path delays."""

import random

import pytest

from stream.core.clock import ClockMap
from stream.core.timesync import BLOCK, Exchange, OffsetEstimator

pytestmark = pytest.mark.unit

HOUR = 3600 * 10**9


def exchanges(offset_ns: int, drift: float, leg_ms: float, n: int, every_s: float = 0.5, seed: int = 0,
              busy: float = 0.2):
    """(exchange, true offset at its time): each leg ``leg_ms`` plus random queueing, some
    legs held up for milliseconds (a busy CPU), one way or the other."""
    rng = random.Random(seed)
    t = 10**12
    for _ in range(n):
        t += int(every_s * 1e9)
        true = lambda tf: offset_ns + drift * (tf - 10**12)  # noqa: E731 (remote minus fusion)
        leg = lambda: leg_ms * 1e6 + rng.expovariate(1 / 50_000) + (  # noqa: E731
            rng.uniform(1e6, 8e6) if rng.random() < busy else 0)
        out, back = leg(), leg()
        t1 = t
        t2 = round(t1 + out + true(t1 + out))
        t3 = t2 + rng.randint(5_000, 60_000)  # the answer takes a few tens of microseconds
        t4 = round(t3 - true(t1 + out) + back)
        yield Exchange(t1, t2, t3, t4), true(t4)


@pytest.mark.parametrize("offset_ns, drift, leg_ms", [(HOUR, 0.0, 0.05), (-HOUR, 40e-6, 10.0),
                                                     (17 * 60 * 10**9 + 12345, -25e-6, 5.0)])
def test_offset_error_stays_under_a_millisecond(offset_ns, drift, leg_ms):
    est = OffsetEstimator()
    errors = []
    for ex, true in exchanges(offset_ns, drift, leg_ms, 400):
        if est.add(ex):
            e = est.estimate()
            errors.append(abs(e.offset_at(ex.t4) - true))
    errors.sort()
    assert len(errors) == 400 // BLOCK
    assert errors[int(0.95 * len(errors))] < 1e6  # p95 under 1 ms
    e = est.estimate()
    assert abs(e.drift - drift) < 5e-6 and e.rtt_ns >= 2 * leg_ms * 1e6
    assert e.summary()["rtt_ms"] >= 2 * leg_ms


def test_the_map_takes_remote_times_onto_the_fusion_clock():
    est = OffsetEstimator()
    for ex, _ in exchanges(HOUR, 30e-6, 1.0, 200):
        est.add(ex)
    e = est.estimate()
    m: ClockMap = e.clock_map()
    t_fusion = e.at_ns + 5 * 10**9
    t_remote = t_fusion + e.offset_at(t_fusion)
    assert abs(m.to_fusion(t_remote) - t_fusion) < 1_000  # the same line, read from the other side


def test_an_impossible_exchange_is_rejected():
    est = OffsetEstimator()
    assert not est.add(Exchange(100, 50, 60, 90))  # the answer came before the request left
    assert est.rejected == 1 and est.estimate() is None


def test_a_one_way_delay_is_half_the_error_as_no_two_way_method_can_see_it():
    est = OffsetEstimator()
    for i in range(BLOCK):
        t1 = i * 10**9
        est.add(Exchange(t1, t1 + 4_000_000, t1 + 4_000_000, t1 + 4_000_000))  # out 4 ms, back 0
    e = est.estimate()
    assert e.offset_ns == 2_000_000 and e.rtt_ns == 4_000_000  # true offset 0: off by half
