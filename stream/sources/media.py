"""The one place that checks input media files (live, record, import and the sources use it)."""

from __future__ import annotations

from pathlib import Path

from stream.sources.base import DeviceError


def probe_video(path: Path | str) -> tuple[float, float, int]:
    """(duration s, fps, frames) of a readable video file; DeviceError naming it otherwise."""
    import cv2

    if not Path(path).is_file():
        raise DeviceError(f"{path}: video file not found")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened() or not cap.read()[0]:
            raise DeviceError(f"{path}: not a readable video")
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    return n / fps, fps, n


def probe_audio(path: Path | str) -> float:
    """Duration (s) of a readable WAV/FLAC/OGG file; DeviceError naming it otherwise."""
    import soundfile as sf

    if not Path(path).is_file():
        raise DeviceError(f"{path}: audio file not found")
    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - soundfile raises several types
        raise DeviceError(f"{path}: not a readable audio file (WAV/FLAC/OGG)") from None
    return info.frames / info.samplerate
