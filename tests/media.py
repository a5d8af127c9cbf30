"""Real, redistributable media that only the tests use (the library's are in stream.offline.media)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

from stream.offline.media import espeak, package_dir


def lfw_subset() -> np.ndarray:
    """200 grey 25x25 images: the first 100 faces, the last 100 not."""
    return np.load(package_dir("skimage") / "data" / "lfw_subset.npy")


def scene_without_face(width: int = 320, height: int = 240, n: int = 60) -> list[np.ndarray]:
    """A slow pan over a photo with no face (scikit-image's coffee cup)."""
    img = cv2.imread(str(package_dir("skimage") / "data" / "coffee.png"))
    if img is None:
        raise FileNotFoundError("skimage coffee.png missing")
    img = cv2.resize(img, (width * 2, height * 2))
    out = []
    for i in range(n):
        x = int((width) * i / max(n - 1, 1))
        out.append(img[height // 2:height // 2 + height, x:x + width].copy())
    return out


def command_wav(path: Path | str, text: str, lead_s: float = 0.5, tail_s: float = 1.5,
                **voice) -> float:
    """Write lead silence + spoken ``text`` + tail silence; returns the speech end in seconds."""
    x, sr = espeak(text, **voice)
    lead, tail = np.zeros(int(lead_s * sr), np.float32), np.zeros(int(tail_s * sr), np.float32)
    sf.write(str(path), np.concatenate([lead, x, tail]), sr)
    return lead_s + len(x) / sr
