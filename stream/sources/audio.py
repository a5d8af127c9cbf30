"""Audio sources: microphones (PortAudio), files, recorded sessions, synthetic noise.

Each yields ``(chunk, first_sample_ns)``, 16 kHz mono float32 chunks of a fixed
size. Audio is lossless: a microphone that outpaces its reader overflows a
bounded queue, which is counted, never blocks the PortAudio callback.
"""

from __future__ import annotations

import queue
import time

import numpy as np

from stream.core.clock import Pacer
from stream.encoders.audio import SR, to_mono_16k
from stream.sources.base import DeviceError, Source, SourceTiming, is_file_spec
from stream.sources.media import probe_audio


class FileAudioSource(Source):
    """A WAV/FLAC/OGG file, resampled to 16 kHz mono, cut into chunks, paced."""

    def __init__(self, path: str, chunk: int, origin_ns: int, timing: SourceTiming) -> None:
        self.path, self.chunk, self.origin_ns, self.loop = path, chunk, origin_ns, timing.loop
        self.pacer = Pacer(timing.speed, origin_ns)
        self.start_s, self.end_s = timing.start_s, timing.end_s
        self.pos = 0
        self.loops = 0

    def connect(self) -> None:
        import soundfile as sf

        probe_audio(self.path)
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


class SyntheticAudioSource(Source):
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


class MicSource(Source):
    """A microphone via sounddevice. Chunk times come from PortAudio's ADC time,
    mapped onto the monotonic clock; the callback never blocks (bounded queue)."""

    def __init__(self, device: str, chunk: int, max_queue_s: float = 5.0) -> None:
        self.device, self.chunk = device, chunk
        self.q: queue.Queue = queue.Queue(maxsize=max(1, int(max_queue_s * SR / chunk)))
        self.overflows = 0
        self.stream = None

    def _device(self) -> int | None:
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
        return dev

    def connect(self) -> None:
        import sounddevice as sd

        dev = self._device()

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


def open_audio(spec: str, cfg, timing: SourceTiming, origin_ns: int = 0) -> Source:
    """``spec``: synthetic | session:DIR | a file path | a microphone index or name."""
    chunk = SR * cfg.audio.chunk_ms // 1000
    if spec.startswith("session:"):
        from stream.sources.session import SessionAudioSource

        return SessionAudioSource(spec[8:], chunk, origin_ns, timing)
    if spec == "synthetic":
        return SyntheticAudioSource(chunk, origin_ns, timing.speed)
    if is_file_spec(spec):
        return FileAudioSource(spec, chunk, origin_ns, timing)
    return MicSource(spec, chunk)
