"""One clock for a whole run: the fusion host's CLOCK_MONOTONIC in int64 nanoseconds.

Processes on the fusion host read it directly. A worker on another host reads its own
monotonic clock through a :class:`ClockMap` that the fusion side estimated and sent it
(:mod:`stream.core.timesync`), so every timestamp it publishes, every watermark and its
pacing are already on the fusion host's clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

NS = 1_000_000_000


@dataclass(frozen=True)
class ClockMap:
    """Local clock -> the fusion host's: ``t - (offset_ns + drift * (t - ref_ns))``.

    ``offset_ns`` is (this host's clock minus the fusion host's) at local time ``ref_ns``;
    ``drift`` how much that offset grows per local nanosecond (ppm * 1e-6)."""

    offset_ns: int
    drift: float = 0.0
    ref_ns: int = 0

    def to_fusion(self, t_local: int) -> int:
        return t_local - self.offset_ns - round(self.drift * (t_local - self.ref_ns))


_map: ClockMap | None = None
_last = 0  # never step backwards when a new estimate replaces the old one


def set_clock_map(m: ClockMap | None) -> None:
    """From now on, :func:`now_ns` reads the fusion host's clock through ``m`` (a remote worker)."""
    global _map
    _map = m


def local_ns() -> int:
    """This host's own monotonic clock (what the clock exchanges read), ns."""
    return time.monotonic_ns()


def now_ns() -> int:
    """The run's clock, ns: this host's monotonic clock, mapped onto the fusion host's if remote."""
    global _last
    t = time.monotonic_ns()
    if _map is None:
        return t
    _last = max(_last, _map.to_fusion(t))
    return _last


def sec(ns: int) -> float:
    return ns / NS


def ns(seconds: float) -> int:
    return int(round(seconds * NS))


class Pacer:
    """Releases media at ``speed`` times real time from a fixed start.

    ``speed=None`` means as fast as possible (replay ``--speed max``). The
    pacer only ever *delays*; it never changes which data is produced, so
    paced and unpaced runs see identical content.
    """

    def __init__(self, speed: float | None, start_ns: int | None = None) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.start_ns = now_ns() if start_ns is None else start_ns

    def due_ns(self, media_offset_ns: int) -> int:
        if self.speed is None:
            return self.start_ns
        return self.start_ns + int(media_offset_ns / self.speed)

    def wait(self, media_offset_ns: int, stop=None) -> None:
        """Sleep until media time ``media_offset_ns`` is due (or ``stop`` is set)."""
        if self.speed is None:
            return
        due = self.due_ns(media_offset_ns)
        while True:
            left = due - now_ns()
            if left <= 0 or (stop is not None and stop.is_set()):
                return
            time.sleep(min(left / NS, 0.05))
