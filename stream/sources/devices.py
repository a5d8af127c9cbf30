"""Capture devices with one interface: ``connect / read / async_read / disconnect``.

Video sources yield ``(frame_bgr, t_ns)``, audio sources ``(chunk, t_start_ns)``
with ``t`` the event (capture) time on the monotonic clock. ``read`` is
lossless and blocks until the next item is due (files are paced by a
:class:`~stream.clock.Pacer`); it returns None at the end. Live capture wraps
a source in :class:`LatestFrame` (video: keep the newest, count drops) or
:class:`AudioQueue` (audio: lossless, overflow counted and reported).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path

import cv2
import numpy as np

from stream.core.clock import Pacer, now_ns
from stream.encoders.audio import SR, to_mono_16k


class DeviceError(RuntimeError):
    """A device or media file that cannot be used; the message names it."""


class Source(ABC):
    """``connect`` opens the device or file (before start, so failures surface at once);
    ``read`` returns the next item or None at the end."""

    origin_ns: int = 0

    def set_origin(self, origin_ns: int) -> None:
        """Session time zero, known only once the supervisor says start."""
        self.origin_ns = origin_ns
        pacer = getattr(self, "pacer", None)
        if pacer is not None:
            pacer.start_ns = origin_ns

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def read(self) -> tuple[np.ndarray, int] | None: ...

    def disconnect(self) -> None:
        pass


class VideoSource(Source):
    """Yields ``(frame_bgr, capture_ns)``."""

    fps: float = 15.0


class AudioSource(Source):
    """Yields ``(chunk, first_sample_ns)``, 16 kHz mono float32."""


# -- video --------------------------------------------------------------------
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


class CameraSource(VideoSource):
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
        idx = self._index()
        cap = cv2.VideoCapture(idx)
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


class FileVideoSource(VideoSource):
    """A video file, its frames timed by the container's timestamps from ``origin_ns``."""

    def __init__(self, path: str, origin_ns: int, speed: float | None, loop: bool = False,
                 start_s: float = 0.0, end_s: float | None = None) -> None:
        self.path, self.origin_ns, self.loop = path, origin_ns, loop
        self.pacer = Pacer(speed, origin_ns)
        self.start_s, self.end_s = start_s, end_s
        self.cap: cv2.VideoCapture | None = None
        self.offset_ns = 0  # added per loop
        self.last_ns = 0

    def connect(self) -> None:
        if not os.path.isfile(self.path):
            raise DeviceError(f"{self.path}: video file not found")
        self.cap = cv2.VideoCapture(self.path)
        ok, _ = self.cap.read() if self.cap.isOpened() else (False, None)
        if not ok:
            raise DeviceError(f"{self.path}: not a readable video")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or 30.0
        self._rewind()

    def _rewind(self) -> None:
        assert self.cap is not None
        self.cap.set(cv2.CAP_PROP_POS_MSEC, self.start_s * 1000)
        self.first = True

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


class SyntheticVideoSource(VideoSource):
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

    def __init__(self, source: VideoSource, on_frame=None) -> None:
        self.source = source
        self.on_frame = on_frame  # sees every frame, dropped or not (the recorder)
        self.cond = threading.Condition()
        self.item: tuple[np.ndarray, int, int] | None = None  # frame, event t, grabbed at
        self.dropped = 0
        self.captured = 0
        self.ended = False
        self.error: str | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="capture")

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                item = self.source.read()
            except DeviceError as e:
                with self.cond:
                    self.error = str(e)
                    self.cond.notify_all()
                return
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
                self.captured += 1
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


# -- audio --------------------------------------------------------------------
class FileAudioSource(AudioSource):
    """A WAV/FLAC/OGG file, resampled to 16 kHz mono, cut into chunks, paced."""

    def __init__(self, path: str, chunk: int, origin_ns: int, speed: float | None,
                 loop: bool = False, start_s: float = 0.0, end_s: float | None = None) -> None:
        self.path, self.chunk, self.origin_ns, self.loop = path, chunk, origin_ns, loop
        self.pacer = Pacer(speed, origin_ns)
        self.start_s, self.end_s = start_s, end_s
        self.pos = 0
        self.loops = 0

    def connect(self) -> None:
        import soundfile as sf

        if not os.path.isfile(self.path):
            raise DeviceError(f"{self.path}: audio file not found")
        try:
            x, sr = sf.read(self.path, dtype="float32", always_2d=True)
        except Exception as e:  # noqa: BLE001 - soundfile raises several types
            raise DeviceError(f"{self.path}: not a readable audio file ({e})") from None
        x = to_mono_16k(x, sr)
        a = int(self.start_s * SR)
        b = len(x) if self.end_s is None else min(len(x), int(self.end_s * SR))
        x = x[a:b]
        # Pad to whole chunks so every chunk has the same shape.
        self.x = np.pad(x, (0, (-len(x)) % self.chunk))

    def read(self) -> tuple[np.ndarray, int] | None:
        if self.pos >= len(self.x):
            if not self.loop or len(self.x) == 0:
                return None
            self.pos = 0
            self.loops += 1
        media = self.loops * len(self.x) + self.pos
        media_ns = int(media * 1e9 / SR)
        # A chunk is "captured" when its last sample has arrived.
        self.pacer.wait(media_ns + int(self.chunk * 1e9 / SR))
        c = self.x[self.pos:self.pos + self.chunk]
        self.pos += self.chunk
        return c, self.origin_ns + media_ns


class SyntheticAudioSource(AudioSource):
    """Low background noise in real time (no speech): for machines without a microphone."""

    def __init__(self, chunk: int, origin_ns: int, speed: float | None = 1.0,
                 duration_s: float | None = None, seed: int = 0) -> None:
        self.chunk, self.origin_ns, self.pacer = chunk, origin_ns, Pacer(speed, origin_ns)
        self.duration_s, self.rng, self.i = duration_s, np.random.default_rng(seed), 0

    def connect(self) -> None:
        pass

    def read(self) -> tuple[np.ndarray, int] | None:
        media_ns = int(self.i * self.chunk * 1e9 / SR)
        if self.duration_s is not None and media_ns >= self.duration_s * 1e9:
            return None
        self.pacer.wait(media_ns + int(self.chunk * 1e9 / SR))
        self.i += 1
        return (self.rng.standard_normal(self.chunk) * 0.003).astype(np.float32), \
            self.origin_ns + media_ns


def microphones() -> list[tuple[int, str]]:
    try:
        import sounddevice as sd
    except OSError as e:
        raise DeviceError(f"PortAudio is not available ({e}); install libportaudio2") from None
    return [(i, d["name"]) for i, d in enumerate(sd.query_devices())
            if d.get("max_input_channels", 0) > 0]


class MicSource(AudioSource):
    """A microphone via sounddevice. Chunk times come from PortAudio's ADC time,
    mapped onto the monotonic clock; the callback never blocks (bounded queue)."""

    def __init__(self, device: str, chunk: int, max_queue_s: float = 5.0) -> None:
        self.device, self.chunk = device, chunk
        self.q: queue.Queue = queue.Queue(maxsize=max(1, int(max_queue_s * SR / chunk)))
        self.overflows = 0
        self.stream = None

    def connect(self) -> None:
        import sounddevice as sd

        mics = microphones()
        dev: int | None = None
        if self.device.isdigit():
            dev = int(self.device)
            if dev not in dict(mics):
                raise DeviceError(f"microphone {self.device!r}: no such input device")
        elif self.device not in ("", "default"):
            match = [i for i, n in mics if self.device.lower() in n.lower()]
            if not match:
                raise DeviceError(f"microphone {self.device!r}: no such input device")
            dev = match[0]
        if not mics:
            raise DeviceError("no microphone found (see `launch.py devices`)")

        def callback(indata, frames, time_info, status) -> None:  # PortAudio thread
            # Offset between PortAudio's stream clock and ours, taken right now.
            offset = time.monotonic() - self.stream.time
            t_ns = int((time_info.inputBufferAdcTime + offset) * 1e9)
            if status.input_overflow:
                self.overflows += 1
            try:
                self.q.put_nowait((indata[:, 0].copy(), t_ns))
            except queue.Full:
                self.overflows += 1

        try:
            self.stream = sd.InputStream(device=dev, channels=1, samplerate=SR,
                                         blocksize=self.chunk, dtype="float32", callback=callback)
            self.stream.start()
        except Exception as e:  # noqa: BLE001
            raise DeviceError(f"microphone {self.device!r}: cannot open ({e})") from None

    def read(self) -> tuple[np.ndarray, int] | None:
        try:
            return self.q.get(timeout=1.0)
        except queue.Empty:
            raise DeviceError(f"microphone {self.device!r}: no audio for 1 s (lost?)") from None

    def disconnect(self) -> None:
        if self.stream is not None:
            self.stream.close()


# -- sessions ---------------------------------------------------------------------
class SessionVideoSource(VideoSource):
    """A recorded session's frames at their recorded times (lossless, paced, loopable)."""

    def __init__(self, root: str, origin_ns: int, speed: float | None, loop: bool = False,
                 start_s: float = 0.0, end_s: float | None = None) -> None:
        from stream.session.format import Session

        self.session = Session(root)
        self.origin_ns, self.loop, self.start_s, self.end_s = origin_ns, loop, start_s, end_s
        self.pacer = Pacer(speed, origin_ns)
        self.fps = self.session.fps
        self.period_s = (end_s or self.session.duration_s) - start_s

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


class SessionAudioSource(AudioSource):
    """A session's audio in fixed chunks at the recorded sample times (dropouts kept)."""

    def __init__(self, root: str, chunk: int, origin_ns: int, speed: float | None,
                 loop: bool = False, start_s: float = 0.0, end_s: float | None = None) -> None:
        from stream.session.format import Session

        self.session = Session(root)
        self.chunk, self.origin_ns, self.loop = chunk, origin_ns, loop
        self.start_s, self.end_s = start_s, end_s
        self.pacer = Pacer(speed, origin_ns)
        self.period_s = (end_s or self.session.duration_s) - start_s

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


def open_video(spec: str, cfg, origin_ns: int, speed: float | None, replay: bool,
               start_s: float = 0.0, end_s: float | None = None) -> VideoSource | None:
    """``spec``: none | synthetic | a file path | a camera index or name."""
    if spec == "none":
        return None
    if spec.startswith("session:"):
        return SessionVideoSource(spec[8:], origin_ns, speed, cfg.loop, start_s, end_s)
    if spec == "synthetic":
        return SyntheticVideoSource(cfg.width, cfg.height, cfg.fps, origin_ns, speed)
    if os.path.sep in spec or os.path.splitext(spec)[1]:
        return FileVideoSource(spec, origin_ns, speed, cfg.loop, start_s, end_s)
    return CameraSource(spec, cfg.width, cfg.height, cfg.fps)


def open_audio(spec: str, cfg, origin_ns: int, speed: float | None,
               start_s: float = 0.0, end_s: float | None = None) -> AudioSource | None:
    chunk = SR * cfg.chunk_ms // 1000
    if spec == "none":
        return None
    if spec.startswith("session:"):
        return SessionAudioSource(spec[8:], chunk, origin_ns, speed, cfg.loop, start_s, end_s)
    if spec == "synthetic":
        return SyntheticAudioSource(chunk, origin_ns, speed)
    if os.path.sep in spec or os.path.splitext(spec)[1]:
        return FileAudioSource(spec, chunk, origin_ns, speed, cfg.loop, start_s, end_s)
    return MicSource(spec, chunk)
