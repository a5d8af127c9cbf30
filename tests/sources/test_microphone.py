"""The microphone path through PortAudio, with a virtual room (tests/virtual_room.py) as the
microphone: native rates and channels, resampled to 16 kHz, chunk times from the ADC clock."""

import numpy as np
import pytest
import soundfile as sf

from stream.sources.audio import MicSource, microphones
from tests.virtual_room import VirtualRoom

pytestmark = pytest.mark.integration
CHUNK, SR = 1536, 16000


def tone(path, rate: int, channels: int, hz: float = 440.0, seconds: float = 1.5):
    t = np.arange(int(seconds * rate)) / rate
    x = 0.5 * np.sin(2 * np.pi * hz * t).astype(np.float32)
    sf.write(path, np.stack([x] * channels, 1), rate)
    return path


@pytest.mark.parametrize("rate,channels", [(48000, 2), (44100, 2), (16000, 1)])
def test_a_microphone_at_its_own_rate_gives_16k_mono_chunks_spaced_by_their_length(tmp_path, rate, channels):
    with VirtualRoom(rate, channels) as room:
        assert any(n == "default" for _, n in microphones())
        mic = MicSource("default", CHUNK, rate=rate)
        mic.connect()
        try:
            assert mic.rate == rate
            player = room.play(tone(tmp_path / "tone.wav", rate, channels))
            chunks = [mic.read() for _ in range(30)]  # ~2.9 s
            player.wait(10)
        finally:
            mic.disconnect()
    assert all(c.shape == (CHUNK,) and c.dtype == np.float32 for c, _ in chunks)
    ts = np.array([t for _, t in chunks])
    assert set(np.diff(ts)) <= {CHUNK * 1_000_000_000 // SR, CHUNK * 1_000_000_000 // SR + 1} or mic.resyncs
    assert (np.diff(ts) > 0).all()  # never back, even across a resync
    loud = [c for c, _ in chunks if np.sqrt(np.mean(c ** 2)) > 0.1]
    assert loud, "the tone never reached the microphone"
    spectrum = np.abs(np.fft.rfft(np.concatenate(loud)[:8192]))
    assert abs(np.argmax(spectrum) * SR / 8192 - 440.0) < 5  # resampled, not sped up or slowed


@pytest.mark.e2e
def test_live_from_the_microphone_answers_a_command_spoken_into_the_room(media, tmp_path):
    import json
    import subprocess
    import sys
    import time

    from tests.e2e.test_e2e import ROOT, live_config

    with VirtualRoom(48000, 2) as room:
        p = subprocess.Popen([sys.executable, "launch.py", "live", "--config", live_config(tmp_path),
                              "--video", "none", "--audio", "default", "--headless"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline().startswith("{"), p.stderr.read()[-2000:]
            room.play(media["wav"]).wait(30)
            heard = None
            deadline = time.monotonic() + 60
            while heard is None and time.monotonic() < deadline:
                pred = json.loads(p.stdout.readline())
                if pred["intent"] == "HassTurnOn":
                    heard = pred
        finally:
            p.terminate()
            _, err = p.communicate(timeout=30)
    assert heard is not None, err[-2000:]
    assert "kitchen" in heard["text"].lower() and heard["modalities"]["audio"] == "ok"
