"""The microphone path through PortAudio, with a virtual room (tests/virtual_room.py) as the
microphone: native rates and channels, resampled to 16 kHz, chunk times from the ADC clock."""

import numpy as np
import pytest
import soundfile as sf

from stream.offline.virtual_room import VirtualRoom
from stream.sources.audio import MicSource, microphones

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
    gaps = np.diff([t for _, t in chunks])
    step = CHUNK * 1_000_000_000 // SR
    # Exactly one chunk apart, except where the count settled onto the ADC clock (forward).
    assert (gaps >= step).all() and np.sum(gaps == step) >= len(gaps) - 2 * (mic.shifts + mic.resyncs)
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


def test_a_reader_that_falls_behind_costs_counted_overflow_never_a_blocked_callback():
    import time

    with VirtualRoom(48000, 2):
        mic = MicSource("default", CHUNK, max_queue_s=0.3)
        mic.connect()
        try:
            first = mic.read()
            time.sleep(1.5)  # the reader stalls: the bounded queue fills, the callback goes on
            assert mic.overflows > 0
            after = [mic.read() for _ in range(5)]  # and it reads on: re-anchored, never back
        finally:
            mic.disconnect()
    ts = [first[1], *(t for _, t in after)]
    assert all(b > a for a, b in zip(ts, ts[1:], strict=False))
    assert mic.resyncs >= 1 and max(np.diff(ts)) > 1_000_000_000  # the lost time shows as a gap


@pytest.mark.e2e
def test_an_unplugged_microphone_is_missing_then_back_by_itself_without_a_restart(media, tmp_path):
    import json
    import subprocess
    import sys
    import time

    from tests.e2e.test_e2e import ROOT, live_config

    def until(p, want, timeout=60.0) -> list[str]:
        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            pred = json.loads(p.stdout.readline())
            seen.append(pred["modalities"]["audio"])
            if want(pred):
                return seen
        raise AssertionError(f"not within {timeout} s: {seen[-20:]}")

    with VirtualRoom(48000, 2) as room:
        p = subprocess.Popen([sys.executable, "launch.py", "live", "--config", live_config(tmp_path),
                              "--video", "none", "--audio", "default", "--headless"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            until(p, lambda q: q["modalities"]["audio"] == "ok")
            room.unplug()
            until(p, lambda q: q["modalities"]["audio"] == "missing")
            room.replug()
            until(p, lambda q: q["modalities"]["audio"] == "ok")
            room.play(media["wav"]).wait(30)  # and it hears again
            until(p, lambda q: q["intent"] == "HassTurnOn")
        finally:
            p.terminate()
            _, err = p.communicate(timeout=30)
    assert "restarting" not in err and "Traceback" not in err, err[-2000:]


@pytest.mark.e2e
def test_a_recording_from_the_microphone_replays_to_the_same_commands(media, tmp_path):
    import subprocess
    import sys
    import time

    from stream.session.format import Session
    from tests.e2e.test_e2e import ROOT, launch, live_config, predictions

    out = tmp_path / "rec"
    with VirtualRoom(44100, 2) as room:
        p = subprocess.Popen([sys.executable, "launch.py", "record", str(out), "--config",
                              live_config(tmp_path), "--video", "none", "--audio", "default",
                              "--duration", "12"], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        chunks = out / "audio" / "chunks.csv"
        deadline = time.monotonic() + 120
        while not (chunks.is_file() and len(chunks.read_text().splitlines()) > 15):
            assert time.monotonic() < deadline and p.poll() is None, p.stderr.read()[-2000:]
            time.sleep(0.1)
        room.play(media["wav"]).wait(30)
        live_out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err[-2000:]
    s = Session(out)
    assert s.manifest["complete"] and s.chunks_index
    live = {q["intent"] for q in predictions(live_out)} - {"none"}
    r = launch("replay", str(out), "--speed", "max", "--headless", "--config", live_config(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    replayed = {q["intent"] for q in predictions(r.stdout)} - {"none"}
    assert live == replayed == {"HassTurnOn"}
