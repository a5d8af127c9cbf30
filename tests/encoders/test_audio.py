"""Audio encoders and streaming ASR on espeak-ng speech."""

import numpy as np
import pytest

from stream.config import AsrConfig
from stream.encoders.asr import StreamingAsr
from stream.encoders.audio import SR, AudioEncoder, to_mono_16k
from stream.offline import media as testdata

pytestmark = pytest.mark.integration

CHUNK = 1536


@pytest.fixture(scope="module")
def speech():
    x, sr = testdata.espeak("turn on the kitchen lights")
    x = to_mono_16k(x, sr)
    lead, tail = np.zeros(SR // 2, np.float32), np.zeros(SR, np.float32)
    return np.concatenate([lead, x, tail]), 0.5, 0.5 + len(x) / SR


def chunks(x):
    for i in range(0, len(x) - CHUNK + 1, CHUNK):
        yield i, x[i:i + CHUNK]


def test_vad_finds_the_speech_and_not_the_silence(speech):
    x, s0, s1 = speech
    enc = AudioEncoder()
    probs = []
    for i, c in chunks(x):
        lm, emb, vad = enc(c)
        probs.append((i / SR, float(vad.max())))
        assert vad.shape == (len(c) // 512,)
        assert lm.shape[1] == 64 and emb.shape == (128,)
    inside = [p for t, p in probs if s0 + 0.2 < t < s1 - 0.3]
    outside = [p for t, p in probs if t < s0 - 0.2 or t > s1 + 0.3]
    assert np.mean(inside) > 0.8
    assert np.mean(outside) < 0.2


def test_resampling_to_16k_keeps_duration():
    x = np.zeros(44100, np.float32)
    assert len(to_mono_16k(x, 44100)) == SR
    assert to_mono_16k(np.zeros((22050, 2), np.float32), 22050).shape == (SR,)


def test_streaming_asr_gives_the_right_final_with_its_time_span(speech):
    x, s0, s1 = speech
    enc = AudioEncoder()
    asr = StreamingAsr(AsrConfig())
    out = []
    for i, c in chunks(x):
        _, _, vad = enc(c)
        asr.insert_audio_chunk(c, int(i / SR * 1e9), float(vad.max()), float(vad[-1]))
        out += asr.process_iter()
    out += asr.finish()
    finals = [t for t in out if t.final]
    assert len(finals) == 1
    words = finals[0].text.lower().strip(" .!?")
    assert words == "turn on the kitchen lights"
    assert abs(finals[0].t_start / 1e9 - s0) < 0.25
    assert abs(finals[0].t_end / 1e9 - s1) < 0.3
    # While speech goes on, the watermark holds at the utterance start.
    assert all(t.t_start >= 0 for t in out)
