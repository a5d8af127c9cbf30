"""Audio sources: microphones (PortAudio), files, recorded sessions, synthetic noise.

Each yields ``(chunk, first_sample_ns)``, 16 kHz mono float32 chunks of a fixed
size. Audio is lossless: a microphone that outpaces its reader overflows a
bounded queue, which is counted, never blocks the PortAudio callback.
"""

from __future__ import annotations

import queue
from collections import deque

import numpy as np

from stream.core.clock import Pacer, now_ns
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


def _sounddevice():
    try:
        import sounddevice as sd
    except OSError as e:
        raise DeviceError(f"PortAudio is not available ({e}); install libportaudio2") from None
    return sd


def microphones(details: bool = False) -> list[tuple]:
    """Inputs as (index, name), or (index, name, native rate, channels) with ``details``."""
    sd = _sounddevice()
    inputs = [(i, d) for i, d in enumerate(sd.query_devices()) if d.get("max_input_channels", 0) > 0]
    return [(i, d["name"], int(d["default_samplerate"]), int(d["max_input_channels"])) if details
            else (i, d["name"]) for i, d in inputs]


class MicSource(Source):
    """A microphone via sounddevice, opened at its own rate and channels (many refuse 16 kHz
    mono), mixed to mono and resampled to 16 kHz by soxr as a stream.

    Times come from PortAudio's ADC clock mapped onto the monotonic clock at the first
    callback, then from the sample count: chunks are spaced exactly by their length and
    never go back. After lost samples (an overflow), or if the ADC clock runs ahead of the
    count by more than ``RESYNC_S`` (a dropout), the count is re-anchored there. The
    callback never blocks (bounded queue; overflow counted).
    """

    live_device = True
    RESYNC_S = 0.5
    SETTLE_BLOCKS, SETTLE_S = 6, 0.02
    FIRST_BLOCK_S = 10.0

    def __init__(self, device: str, chunk: int, max_queue_s: float = 5.0, rate: int = 0) -> None:
        self.device, self.chunk, self.want_rate = device, chunk, rate
        self.max_queue_s = max_queue_s
        self.overflows = 0
        self.resyncs = 0
        self.shifts = 0  # the count moved forward to a steady ADC clock
        self.next_t = 0  # the time the next chunk would have
        self.recent: deque[int] = deque(maxlen=self.SETTLE_BLOCKS)
        self.deviation_ns: deque[int] = deque(maxlen=1000)  # ADC minus counted time, per block
        self.stream = None
        self.buf = np.zeros(0, np.float32)
        self.anchor_ns: int | None = None
        self.in_samples = 0  # input samples since the anchor
        self.out_samples = 0  # 16 kHz samples since the anchor

    def _device(self) -> tuple[int | None, int, int]:
        """(index or None for the default, native rate, channels to open)."""
        sd = _sounddevice()
        mics = microphones(details=True)
        if not mics:
            raise DeviceError("no microphone found (see `launch.py devices`)")
        dev: int | None = None
        if self.device.isdigit():
            dev = int(self.device)
            if dev not in {m[0] for m in mics}:
                raise DeviceError(f"microphone {self.device!r}: no such input device")
        elif self.device not in ("", "default"):
            match = [m[0] for m in mics if self.device.lower() in m[1].lower()]
            if not match:
                raise DeviceError(f"microphone {self.device!r}: no such input device")
            dev = match[0]
        info = sd.query_devices(dev, "input")
        rate = self.want_rate or int(info["default_samplerate"])
        return dev, rate, max(1, min(2, int(info["max_input_channels"])))

    def connect(self) -> None:
        import soxr

        sd = _sounddevice()
        dev, self.rate, channels = self._device()
        self.anchor_ns = None  # (re)opened: a new count from its first block
        self.recent.clear()
        block = max(1, round(self.chunk * self.rate / SR))
        self.q: queue.Queue = queue.Queue(maxsize=max(1, int(self.max_queue_s * self.rate / block)))
        self.resampler = soxr.ResampleStream(self.rate, SR, 1, dtype="float32") if self.rate != SR else None

        lost = False  # samples were lost before the next block queued: its time starts a new count

        def callback(indata, frames, time_info, status) -> None:  # PortAudio thread
            nonlocal lost
            # The block's first sample on our clock: PortAudio's stream clock and ours, now.
            t_ns = now_ns() + int((time_info.inputBufferAdcTime - self.stream.time) * 1e9)
            if status.input_overflow:
                self.overflows += 1
                lost = True
            try:
                self.q.put_nowait((indata.mean(axis=1, dtype=np.float32), t_ns, lost))
                lost = False
            except queue.Full:
                self.overflows += 1
                lost = True

        try:
            self.stream = sd.InputStream(device=dev, channels=channels, samplerate=self.rate,
                                         blocksize=block, dtype="float32", callback=callback)
            self.stream.start()
        except Exception as e:  # noqa: BLE001
            raise DeviceError(f"microphone {self.device!r}: cannot open ({e})") from None

    def _block(self) -> None:
        """One block from the callback into the 16 kHz buffer, keeping the time count."""
        wait = 1.0 if self.anchor_ns is not None else self.FIRST_BLOCK_S  # a stream takes a while to start
        try:
            x, t_ns, lost = self.q.get(timeout=wait)
        except queue.Empty:
            raise DeviceError(f"microphone {self.device!r}: no audio for {wait:.0f} s (lost?)") from None
        counted = None
        if self.anchor_ns is not None:
            counted = self.anchor_ns + self.in_samples * 1_000_000_000 // self.rate
            self.deviation_ns.append(t_ns - counted)
            self._settle(t_ns - counted)
            counted = self.anchor_ns + self.in_samples * 1_000_000_000 // self.rate
        # Samples were lost (an overflow), or the ADC clock is far ahead of the count (a dropout
        # nobody flagged): count again from this block. Small deviations are the ADC stamps'
        # jitter (PulseAudio's is tens of ms while a stream starts): the count is the truth.
        if counted is None or lost or t_ns - counted > self.RESYNC_S * 1e9:
            if counted is not None:
                self.resyncs += 1
            # Start counting again from here (what is still buffered is dropped with the old count).
            # (Never before a chunk already given out: time does not go back across a reconnect.)
            self.anchor_ns, self.in_samples, self.out_samples = max(t_ns, self.next_t), 0, 0
            self.buf = np.zeros(0, np.float32)
            if self.resampler is not None:
                import soxr

                self.resampler = soxr.ResampleStream(self.rate, SR, 1, dtype="float32")
        self.in_samples += len(x)
        y = self.resampler.resample_chunk(x) if self.resampler is not None else x
        self.buf = np.concatenate([self.buf, y.astype(np.float32, copy=False)])

    def _settle(self, deviation: int) -> None:
        """A stream's first blocks can carry ADC stamps hundreds of ms early (PulseAudio delivers
        its prebuffer in a burst: measured 447 ms here). When the ADC clock stays ahead of the
        count for ``SETTLE_BLOCKS`` blocks, move the count forward to it (a small gap, never a
        step back in time)."""
        self.recent.append(deviation)
        med = sorted(self.recent)[len(self.recent) // 2]
        if len(self.recent) >= self.SETTLE_BLOCKS and med > self.SETTLE_S * 1e9:
            assert self.anchor_ns is not None
            self.anchor_ns += med
            self.recent.clear()
            self.shifts += 1

    def read(self) -> tuple[np.ndarray, int] | None:
        while len(self.buf) < self.chunk:
            self._block()
        assert self.anchor_ns is not None
        out, self.buf = self.buf[:self.chunk], self.buf[self.chunk:]
        t = self.anchor_ns + self.out_samples * 1_000_000_000 // SR
        self.out_samples += self.chunk
        self.next_t = t + self.chunk * 1_000_000_000 // SR
        return out, t

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
    return MicSource(spec, chunk, rate=cfg.audio.mic_rate)
