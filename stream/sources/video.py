"""Video sources: cameras (V4L2 index or name, or a network camera's URL), files, recorded
sessions, synthetic frames.

Each yields ``(frame_bgr, capture_ns)``. Live capture runs the source in a
:class:`LatestFrame` thread: the encoder always takes the newest frame, and
every frame it skips is counted.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from stream.core.clock import Pacer, now_ns
from stream.sources.base import (
    DeviceAway,
    DeviceError,
    Source,
    SourceTiming,
    is_file_spec,
    is_stream_url,
    redact_url,
)
from stream.sources.media import probe_video


def camera_names() -> list[tuple[int, str]]:
    """Cameras as (index, name); Linux sysfs, no device is opened."""
    out = []
    base = Path("/sys/class/video4linux")
    if base.is_dir():
        for d in sorted(base.glob("video*"), key=lambda p: int(p.name[5:] or 0)):
            try:
                name = (d / "name").read_text().strip()
            except OSError:
                name = d.name
            idx_file = d / "index"
            # Each camera exposes several nodes; index 0 is the capture one.
            if idx_file.exists() and idx_file.read_text().strip() != "0":
                continue
            out.append((int(d.name[5:]), name))
    return out


class CameraSource(Source):
    live_device = True

    def __init__(self, device: str, width: int, height: int, fps: float) -> None:
        self.device, self.width, self.height, self.fps = device, width, height, fps
        self.cap: cv2.VideoCapture | None = None

    def _index(self) -> int:
        if self.device.isdigit():
            return int(self.device)
        for idx, name in camera_names():
            if self.device.lower() in name.lower():
                return idx
        raise DeviceError(f"camera {self.device!r}: no such camera (see `launch.py devices`)")

    def connect(self) -> None:
        cap = cv2.VideoCapture(self._index())
        if not cap.isOpened():
            raise DeviceError(f"camera {self.device!r}: cannot open (no camera, or in use)")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self.cap = cap

    def read(self) -> tuple[np.ndarray, int] | None:
        assert self.cap is not None
        if not self.cap.grab():
            raise DeviceError(f"camera {self.device!r}: lost")
        t = now_ns()  # grab() returns as the frame arrives: the closest to capture we get
        ok, frame = self.cap.retrieve()
        if not ok:
            raise DeviceError(f"camera {self.device!r}: lost")
        return frame, t

    def disconnect(self) -> None:
        if self.cap is not None:
            self.cap.release()


class NetworkCameraSource(CameraSource):
    """An IP camera (RTSP, HTTP MJPEG) through OpenCV's FFmpeg backend: frames stamped as they
    arrive, like a USB camera's. Its password never appears in a message or a log."""

    OPEN_TIMEOUT_MS = 5000  # a camera that does not answer is an error, not a hang

    def __init__(self, url: str, fps: float) -> None:
        self.url, self.device, self.fps = url, redact_url(url), fps
        self.cap = None

    def connect(self) -> None:
        cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG,
                               [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self.OPEN_TIMEOUT_MS,
                                cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.OPEN_TIMEOUT_MS])
        if not cap.isOpened():
            raise DeviceError(f"camera {self.device}: cannot open the stream (wrong address or "
                              "credentials, or the camera is off)")
        self.cap = cap


class FileVideoSource(Source):
    """A video file, its frames timed by the container's timestamps from ``origin_ns``."""

    def __init__(self, path: str, origin_ns: int, timing: SourceTiming) -> None:
        self.path, self.origin_ns, self.loop = path, origin_ns, timing.loop
        self.pacer = Pacer(timing.speed, origin_ns)
        self.start_s, self.end_s = timing.start_s, timing.end_s
        self.cap: cv2.VideoCapture | None = None
        self.offset_ns = 0  # added per loop
        self.last_ns = 0

    def connect(self) -> None:
        self.fps = probe_video(self.path)[1]
        self.cap = cv2.VideoCapture(self.path)
        self._rewind()

    def _rewind(self) -> None:
        assert self.cap is not None
        self.cap.set(cv2.CAP_PROP_POS_MSEC, self.start_s * 1000)

    def read(self) -> tuple[np.ndarray, int] | None:
        assert self.cap is not None
        while True:
            ok, frame = self.cap.read()
            pos_s = self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000
            if ok and self.end_s is not None and pos_s >= self.end_s:
                ok = False
            if ok:
                break
            if not self.loop:
                return None
            self.offset_ns = self.last_ns + int(1e9 / self.fps)
            self._rewind()
        media_ns = self.offset_ns + int((pos_s - self.start_s) * 1e9)
        self.last_ns = media_ns
        self.pacer.wait(media_ns)
        return frame, self.origin_ns + media_ns

    def disconnect(self) -> None:
        if self.cap is not None:
            self.cap.release()


class SyntheticVideoSource(Source):
    """Moving gradient frames at ``fps`` with real timing; no face. For machines with no camera."""

    def __init__(self, width: int, height: int, fps: float, origin_ns: int,
                 speed: float | None = 1.0, duration_s: float | None = None) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.pacer, self.origin_ns, self.duration_s = Pacer(speed, origin_ns), origin_ns, duration_s
        self.i = 0

    def connect(self) -> None:
        x = np.linspace(0, 255, self.width, dtype=np.float32)
        self.base = np.tile(x, (self.height, 1))

    def read(self) -> tuple[np.ndarray, int] | None:
        media_ns = int(self.i * 1e9 / self.fps)
        if self.duration_s is not None and media_ns >= self.duration_s * 1e9:
            return None
        self.pacer.wait(media_ns)
        shift = (self.i * 4) % self.width
        g = np.roll(self.base, shift, axis=1).astype(np.uint8)
        self.i += 1
        return cv2.merge([g, g[::-1], np.full_like(g, 80)]), self.origin_ns + media_ns


class LatestFrame:
    """Live capture thread: keeps only the newest frame, counts every frame it drops."""

    def __init__(self, source: Source, on_frame=None) -> None:
        self.source = source
        self.on_frame = on_frame  # sees every frame, dropped or not (the recorder)
        self.cond = threading.Condition()
        self.item: tuple[np.ndarray, int, int] | None = None  # frame, event t, grabbed at
        self.dropped = 0
        self.ended = False
        self.error: str | None = None
        self.away: str | None = None  # the device is gone for now (reconnecting)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="capture")

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                item = self.source.read()
            except DeviceAway as e:  # unplugged: the source reconnects; we wait
                self.away = str(e)
                continue
            except DeviceError as e:
                with self.cond:
                    self.error = str(e)
                    self.cond.notify_all()
                return
            self.away = None
            if item is not None and self.on_frame is not None:
                self.on_frame(*item)
            with self.cond:
                if item is None:
                    self.ended = True
                    self.cond.notify_all()
                    return
                if self.item is not None:
                    self.dropped += 1
                self.item = (*item, now_ns())
                self.cond.notify_all()

    def async_read(self, timeout: float = 0.2) -> tuple[np.ndarray, int, int] | None:
        """The newest frame not yet taken, as (frame, event time, time grabbed),
        waiting up to ``timeout``; None if none."""
        with self.cond:
            if self.item is None and not self.ended and self.error is None:
                self.cond.wait(timeout)
            item, self.item = self.item, None
            return item

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=1.0)
        self.source.disconnect()


def open_video(spec: str, cfg, timing: SourceTiming, origin_ns: int = 0) -> Source:
    """``spec``: synthetic | session:DIR | a stream URL | a file path | a camera index or name."""
    if spec.startswith("session:"):
        from stream.sources.session import SessionVideoSource

        return SessionVideoSource(spec[8:], origin_ns, timing)
    v = cfg.video
    if spec == "synthetic":
        return SyntheticVideoSource(v.width, v.height, v.fps, origin_ns, timing.speed)
    if is_stream_url(spec):
        return NetworkCameraSource(spec, v.fps)
    if is_file_spec(spec):
        return FileVideoSource(spec, origin_ns, timing)
    return CameraSource(spec, v.width, v.height, v.fps)
