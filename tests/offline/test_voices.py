"""The corpus's offline voices: each natural one speaks a short command, the same way twice."""

import numpy as np
import pytest

from stream.offline import voices

SAY = "turn on the lights"
NATURAL = voices.ids("natural")
_said: dict[tuple[str, float, float], tuple[np.ndarray, int]] = {}


def _say(voice_id: str, speed: float = 1.0, pitch: float = 1.0) -> tuple[np.ndarray, int]:
    """Synthesise SAY once per (voice, speed, pitch) in this run; skip a voice not installed."""
    if not voices.available(voice_id):
        pytest.skip(f"{voice_id} not installed (needs {voices.voice(voice_id).needs})")
    key = (voice_id, speed, pitch)
    if key not in _said:
        _said[key] = voices.synthesize(SAY, voice_id, speed=speed, pitch=pitch)
    return _said[key]


@pytest.mark.integration
@pytest.mark.parametrize("voice_id", NATURAL)
def test_a_natural_voice_speaks_a_short_command(voice_id):
    x, sr = _say(voice_id)
    assert x.dtype == np.float32 and x.ndim == 1 and np.isfinite(x).all()
    assert sr == voices.voice(voice_id).rate
    assert 0.5 <= len(x) / sr <= 5.0
    assert 0.05 < float(np.sqrt(np.mean(x**2))) < 0.2  # levelled near TARGET_RMS, not silence


@pytest.mark.integration
@pytest.mark.parametrize("voice_id", ["kokoro:jf_alpha", "piper:joe", "flite:slt", "festival:us_slt_hts"])
def test_the_same_inputs_give_the_same_samples(voice_id):
    first, sr = _say(voice_id)
    again, sr2 = voices.synthesize(SAY, voice_id)
    assert sr2 == sr and np.array_equal(again, first)


@pytest.mark.integration
@pytest.mark.parametrize("voice_id", ["piper:joe", "festival:us_slt_hts"])
def test_speed_and_a_resampled_pitch_are_deterministic(voice_id):
    x, sr = _say(voice_id)
    fast, _ = _say(voice_id, speed=1.2, pitch=1.1)  # pitch by resampling: these engines have none
    assert np.array_equal(fast, voices.synthesize(SAY, voice_id, speed=1.2, pitch=1.1)[0])
    assert 0.7 < (len(fast) / len(x)) * 1.2 < 1.3  # ~1/speed as long (margins and silences aside)


@pytest.mark.unit
def test_an_unknown_voice_is_a_clear_error():
    with pytest.raises(ValueError, match="nope:nobody"):
        voices.synthesize(SAY, "nope:nobody")
    with pytest.raises(ValueError, match="nope:nobody"):
        voices.available("nope:nobody")


@pytest.mark.unit
def test_a_voice_not_installed_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(voices, "available", lambda voice_id: False)
    with pytest.raises(RuntimeError, match="piper:joe .*not installed.*piper-tts"):
        voices.synthesize(SAY, "piper:joe")


@pytest.mark.unit
def test_every_voice_has_a_set_and_espeak_is_robotic():
    assert {v.set for v in voices.VOICES.values()} == {"natural", "robotic"}
    assert all(voices.voice(v).set == "robotic" for v in voices.VOICES if v.startswith("espeak-ng:"))
    assert len({voices.voice(v).engine for v in NATURAL}) >= 4
