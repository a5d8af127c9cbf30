"""A tiny IMU encoder: one chunk of acceleration -> six motion statistics."""

from __future__ import annotations

import numpy as np


def motion_features(chunk: np.ndarray) -> np.ndarray:
    """(n, 3) m/s^2 -> [rms, peak, mean x, mean y, mean z, spread] of the motion (gravity removed)."""
    motion = chunk - chunk.mean(0)
    mag = np.linalg.norm(motion, axis=1)
    return np.array([np.sqrt((mag ** 2).mean()), mag.max(), *chunk.mean(0), mag.std()], np.float32)
