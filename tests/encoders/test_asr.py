"""The recogniser itself (Whisper tiny.en through CTranslate2) on a spoken command."""

import numpy as np
import pytest
import soundfile as sf

from stream.config import Config, ConfigError, load
from stream.encoders.asr import StreamingAsr, decode
from stream.encoders.audio import SR, to_mono_16k

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def command(tmp_path_factory) -> np.ndarray:
    from tests.media import command_wav

    wav = tmp_path_factory.mktemp("asr") / "cmd.wav"
    command_wav(wav, "turn on the kitchen lights", lead_s=0.4, tail_s=0.4)
    x, sr = sf.read(wav, dtype="float32")
    return to_mono_16k(x, sr)


@pytest.mark.parametrize("context_s", [30.0, 10.0])
def test_a_command_is_heard_with_whispers_window_and_with_a_shorter_one(command, context_s):
    model = StreamingAsr(Config().asr).model
    text = decode(model, command, 1, None, context_s=context_s).lower()
    assert "kitchen" in text and "light" in text, text


def test_silence_and_faint_noise_give_no_words_with_a_short_window():
    model = StreamingAsr(Config().asr).model
    rng = np.random.default_rng(0)
    for quiet in (np.zeros(SR, np.float32), (0.003 * rng.standard_normal(2 * SR)).astype(np.float32)):
        assert decode(model, quiet, 1, None, context_s=10.0) == ""


def test_the_context_is_one_to_thirty_seconds():
    for bad in (0.5, 31.0):
        with pytest.raises(ConfigError, match="asr.context_s"):
            load("live", {"asr": {"context_s": bad}})
