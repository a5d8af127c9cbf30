"""Replaying a recorded session's video and audio at their recorded times (lossless, paced, loopable)."""

from __future__ import annotations

import numpy as np

from stream.core.clock import Pacer
from stream.encoders.audio import SR
from stream.session.format import Session
from stream.sources.base import Source, SourceTiming


class SessionVideoSource(Source):
    def __init__(self, root: str, origin_ns: int, timing: SourceTiming) -> None:
        self.session = Session(root)
        self.origin_ns, self.loop = origin_ns, timing.loop
        self.start_s, self.end_s = timing.start_s, timing.end_s
        self.pacer = Pacer(timing.speed, origin_ns)
        self.fps = self.session.fps
        self.period_s = (self.end_s or self.session.duration_s) - self.start_s

    def connect(self) -> None:
        self.k = 0
        self.it = self.session.frames(self.start_s, self.end_s)

    def read(self) -> tuple[np.ndarray, int] | None:
        while True:
            f = next(self.it, None)
            if f is not None:
                break
            if not self.loop:
                return None
            self.k += 1
            self.it = self.session.frames(self.start_s, self.end_s)
        rel_ns = int((f.t - self.start_s + self.k * self.period_s) * 1e9)
        self.pacer.wait(rel_ns)
        return f.image, self.origin_ns + int(self.start_s * 1e9) + rel_ns


class SessionAudioSource(Source):
    """A session's audio in fixed chunks at the recorded sample times (dropouts kept)."""

    def __init__(self, root: str, chunk: int, origin_ns: int, timing: SourceTiming) -> None:
        self.session = Session(root)
        self.chunk, self.origin_ns, self.loop = chunk, origin_ns, timing.loop
        self.start_s, self.end_s = timing.start_s, timing.end_s
        self.pacer = Pacer(timing.speed, origin_ns)
        self.period_s = (self.end_s or self.session.duration_s) - self.start_s

    def connect(self) -> None:
        items = []
        for t0, x in self.session.audio_runs():
            x = np.pad(x, (0, (-len(x)) % self.chunk))
            for i in range(0, len(x), self.chunk):
                t = t0 + i / SR
                if t >= self.start_s and (self.end_s is None or t < self.end_s):
                    items.append((t, x[i:i + self.chunk]))
        self.items = items
        self.pos, self.k = 0, 0

    def read(self) -> tuple[np.ndarray, int] | None:
        if self.pos >= len(self.items):
            if not self.loop or not self.items:
                return None
            self.pos, self.k = 0, self.k + 1
        t, c = self.items[self.pos]
        self.pos += 1
        rel_ns = int((t - self.start_s + self.k * self.period_s) * 1e9)
        self.pacer.wait(rel_ns + int(self.chunk * 1e9 / SR))
        return c, self.origin_ns + int(self.start_s * 1e9) + rel_ns
