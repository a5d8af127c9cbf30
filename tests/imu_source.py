"""A synthetic wrist IMU: 100 Hz 3-axis acceleration, still except for scripted shakes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import numpy as np

from stream.core.clock import Pacer
from stream.sources.base import DeviceError, Source, SourceTiming

RATE, CHUNK = 100, 10  # samples a second; samples a message (100 ms)
SHAKE_S = 0.8


class SyntheticImuSource(Source):
    """``synthetic?duration=S&shakes=T1,T2``: gravity plus noise; a 4 Hz shake at each Ti."""

    def __init__(self, duration_s: float, shakes: list[float], timing: SourceTiming, seed: int = 0) -> None:
        self.duration_s, self.shakes = duration_s, shakes
        self.pacer = Pacer(timing.speed, 0)
        self.rng = np.random.default_rng(seed)
        self.i = 0

    @staticmethod
    def from_spec(spec: str, timing: SourceTiming) -> SyntheticImuSource:
        u = urlparse(spec)
        if u.path != "synthetic":
            raise DeviceError(f"imu {spec!r}: only 'synthetic?duration=S&shakes=T1,T2' exists")
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        shakes = [float(x) for x in q.get("shakes", "").split(",") if x]
        return SyntheticImuSource(float(q.get("duration", 10)), shakes, timing)

    def connect(self) -> None:
        pass

    def read(self) -> tuple[np.ndarray, int] | None:
        media_ns = int(self.i * CHUNK * 1e9 / RATE)
        if media_ns >= self.duration_s * 1e9:
            return None
        self.pacer.wait(media_ns + int(CHUNK * 1e9 / RATE))
        t = (self.i * CHUNK + np.arange(CHUNK)) / RATE
        x = np.tile([0.0, 0.0, 9.81], (CHUNK, 1)) + self.rng.normal(0, 0.05, (CHUNK, 3))
        shaking = np.array([any(s <= ti < s + SHAKE_S for s in self.shakes) for ti in t])
        x[shaking, 0] += 6.0 * np.sin(2 * np.pi * 4 * t[shaking])
        self.i += 1
        return x.astype(np.float32), self.origin_ns + media_ns
