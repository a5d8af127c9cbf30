"""Another host's clock offset and drift, from request/response exchanges (the NTP/LSL method).

The fusion side sends a request at ``t1`` (its clock); the remote host notes ``t2`` when it
arrives and ``t3`` when it answers (its clock); the answer arrives at ``t4`` (fusion's). Then

* offset (remote minus fusion) = ((t2 - t1) + (t3 - t4)) / 2
* round trip = (t4 - t1) - (t3 - t2)

An exchange's offset is exact if the two legs took equally long; a delayed leg (a busy CPU,
a queue) errs by half the difference, so of every block of exchanges only the one with the
smallest round trip is kept. The estimate is a least-squares line through those bests (offset
and drift), refitted as blocks complete: smooth, and it follows a clock that runs fast or slow.
No two-way method can see a path that is slower one way than the other: that error stays
(at most half the round trip), which is why the uncertainty shown is measured, not promised.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from statistics import median

from stream.core.clock import ClockMap

BLOCK = 8  # exchanges per block; each block gives its one best exchange
BLOCKS = 16  # blocks in the fit: at 0.5 s per exchange, about a minute
MIN_DRIFT_SPAN_NS = 10_000_000_000  # fit a drift only over at least this much time
MAX_DRIFT = 500e-6  # no quartz runs 500 ppm off: a larger slope is noise, not drift


@dataclass(frozen=True)
class Exchange:
    t1: int  # request sent, fusion clock
    t2: int  # request received, remote clock
    t3: int  # answer sent, remote clock
    t4: int  # answer received, fusion clock

    @property
    def offset(self) -> float:
        return ((self.t2 - self.t1) + (self.t3 - self.t4)) / 2

    @property
    def rtt(self) -> int:
        return (self.t4 - self.t1) - (self.t3 - self.t2)

    @property
    def at(self) -> float:
        return (self.t1 + self.t4) / 2


@dataclass(frozen=True)
class ClockEstimate:
    offset_ns: int  # remote minus fusion, at fusion time ``at_ns``
    drift: float  # offset change per nanosecond (1e-6 = 1 ppm)
    at_ns: int
    rtt_ns: int  # the smallest round trip among the exchanges used
    uncertainty_ns: int  # how far the blocks' best exchanges scatter around the fit
    exchanges: int

    def offset_at(self, t_fusion: int) -> int:
        return self.offset_ns + round(self.drift * (t_fusion - self.at_ns))

    def clock_map(self) -> ClockMap:
        """What the remote host applies to its clock to read fusion's."""
        return ClockMap(self.offset_ns, self.drift, self.at_ns + self.offset_ns)

    def summary(self) -> dict[str, float]:
        """For the dashboard and reports, in ms and ppm."""
        return {"offset_ms": round(self.offset_ns / 1e6, 3), "rtt_ms": round(self.rtt_ns / 1e6, 3),
                "uncertainty_ms": round(self.uncertainty_ns / 1e6, 3),
                "drift_ppm": round(self.drift * 1e6, 2), "exchanges": self.exchanges}


class OffsetEstimator:
    """Feed it exchanges with one host; ``estimate()`` is None until a first block is complete."""

    def __init__(self, block: int = BLOCK, blocks: int = BLOCKS) -> None:
        self.block = block
        self.current: list[Exchange] = []
        self.best: deque[Exchange] = deque(maxlen=blocks)
        self.exchanges = 0
        self.rejected = 0  # impossible exchanges (negative round trip): a clock stepped, or garbage

    def add(self, ex: Exchange) -> bool:
        """Take one exchange; True when it completed a block (the estimate changed)."""
        if ex.rtt < 0 or ex.t4 < ex.t1 or ex.t3 < ex.t2:
            self.rejected += 1
            return False
        self.exchanges += 1
        self.current.append(ex)
        if len(self.current) < self.block:
            return False
        self.best.append(min(self.current, key=lambda e: e.rtt))
        self.current = []
        return True

    def estimate(self) -> ClockEstimate | None:
        if not self.best:
            return None
        pts = list(self.best)
        # A block whose best exchange still took far longer than the others was a busy spell.
        limit = 2 * median(e.rtt for e in pts) + 100_000
        pts = [e for e in pts if e.rtt <= limit]
        t0 = pts[-1].at
        xs = [e.at - t0 for e in pts]
        ys = [e.offset for e in pts]
        drift = 0.0
        if xs[-1] - xs[0] >= MIN_DRIFT_SPAN_NS and len(pts) >= 3:
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            sxx = sum((x - mx) ** 2 for x in xs)
            drift = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
            drift = max(-MAX_DRIFT, min(MAX_DRIFT, drift))
            offset = my + drift * (0 - mx)  # the line, at the newest block
        else:
            offset = median(ys[-3:])
        resid = [y - (offset + drift * x) for x, y in zip(xs, ys, strict=True)]
        spread = (sum(r * r for r in resid) / len(resid)) ** 0.5 if len(resid) > 1 else min(
            e.rtt for e in pts) / 2
        return ClockEstimate(round(offset), drift, round(t0), min(e.rtt for e in pts), round(spread),
                             self.exchanges)
