"""One clock for every process of a host: CLOCK_MONOTONIC in int64 nanoseconds."""

from __future__ import annotations

import time

NS = 1_000_000_000


def now_ns() -> int:
    """Host monotonic time (shared by all processes on the host), ns."""
    return time.monotonic_ns()


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
