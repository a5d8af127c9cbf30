"""Audio encoders and streaming ASR on espeak-ng speech and a corpus clip."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stream.config import AsrConfig
from stream.encoders.asr import StreamingAsr
from stream.encoders.audio import SR, AudioEncoder, Vad, to_mono_16k
from stream.offline import media as testdata

pytestmark = pytest.mark.integration

CHUNK = 1536
DATA = Path(__file__).parents[1] / "data"


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


class ScriptedSilero:
    """Silero's interface with scripted probabilities, counting its resets."""

    def __init__(self, probs):
        self.probs, self.resets = iter(probs), 0

    def __call__(self, frame, sr):
        assert len(frame) == 512 and sr == SR
        return next(self.probs)

    def reset_states(self):
        self.resets += 1


def test_vad_state_is_reset_by_audio_time_at_a_silent_chunk_only():
    speech, silent = [0.9, 0.9, 0.3], [0.1, 0.2, 0.4]  # a chunk's 3 frames
    script = speech * 60 + silent * 62  # 5.76 s of speech, then 5.95 s of silence
    model = ScriptedSilero(script)
    vad = Vad(reset_s=2.0, model=model)
    resets_at = []
    for k in range(len(script) // 3):
        vad(np.zeros(CHUNK, np.float32))
        if model.resets > len(resets_at):
            resets_at.append(k)
    # never while it hears speech (chunks 0-59); at the first silent chunk, then every
    # 2 s of audio (21 chunks of 96 ms) counted from the last reset
    assert resets_at == [60, 81, 102]
    assert vad.resets == 3
    off = Vad(reset_s=0.0, model=ScriptedSilero(silent * 100))
    for _ in range(100):
        off(np.zeros(CHUNK, np.float32))
    assert off.model.resets == 0


def test_a_long_stream_keeps_hearing_onsets():
    """19 s of a corpus session (test split, kokoro) where silero, run from 15 s before, scores
    all but one chunk of "bedroom" under 0.5 (fresh: 0.7-0.99), and the streaming recogniser
    loses the word."""
    x, sr = sf.read(DATA / "vad_drift.opus", dtype="float32")
    assert sr == SR
    word = int(15.552 / 0.096)  # "bedroom play the previous song again" starts 15.55 s in
    heard, onset = {}, {}
    for reset_s in (0.0, 5.0):
        enc, asr = AudioEncoder(vad_reset_s=reset_s), StreamingAsr(AsrConfig(), live=False)
        probs, out = [], []
        for i, c in chunks(x):
            _, _, vad = enc(c)
            probs.append(float(vad.max()))
            asr.insert_audio_chunk(c, int(i / SR * 1e9), probs[-1], float(vad[-1]))
            out += asr.process_iter()
        out += asr.finish()
        heard[reset_s] = sum(p >= 0.5 for p in probs[word:word + 7])
        onset[reset_s] = next(t.t_start / 1e9 for t in out if t.final and "previous" in t.text.lower())
    assert heard[0.0] <= 2 and heard[5.0] >= 6
    assert onset[0.0] > 16.3  # without resets, the utterance begins after the lost word
    assert abs(onset[5.0] - 15.55) < 0.3
