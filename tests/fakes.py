"""Fakes of the heavy models (after LiveKit's fake VAD/STT): same interfaces, no weights, real timing.

* :class:`HashingTextEmbedder`: words hashed into a unit vector; the same text, the same vector.
* :class:`ScriptedWhisper`: faster-whisper's ``transcribe`` that answers each utterance with the
  next line of a script (partials see the start of it), after a realistic decode time. The real
  :class:`~stream.encoders.asr.StreamingAsr` runs around it, so its segmentation is tested.
* :class:`FakeAudioEncoder`: VAD from the chunk's loudness, zero log-mel and embedding.
* :class:`EchoIntentModel`: "turn on ..." -> HassTurnOn; every window answered.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np

from stream.fusion.align import Window
from stream.intent.prediction import Prediction


class HashingTextEmbedder:
    dim = 384

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                h = int(hashlib.sha1(w.encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0 if (h >> 20) & 1 else -1.0
            n = np.linalg.norm(out[i])
            out[i] /= n if n else 1.0
        return out


@dataclass
class _Segment:
    text: str
    compression_ratio: float = 1.2  # a confident decode: no second pass
    avg_logprob: float = -0.2


class ScriptedWhisper:
    """Utterance k (told apart by its first sounds) is heard as ``script[k]``."""

    def __init__(self, script: list[str], decode_s: float = 0.0) -> None:
        self.script, self.decode_s = script, decode_s
        self.seen: dict[bytes, int] = {}
        self.calls = 0

    def transcribe(self, audio: np.ndarray, **_) -> tuple[list, None]:
        self.calls += 1
        time.sleep(self.decode_s)
        loud = np.flatnonzero(np.abs(audio) > 0.01)  # the utterance's first sounds identify it
        key = audio[loud[0]:loud[0] + 256].tobytes() if len(loud) else b""
        k = self.seen.setdefault(key, len(self.seen))
        text = self.script[k] if k < len(self.script) else ""
        words = text.split()
        if len(audio) and np.abs(audio[-1600:]).max() > 0.01:  # still talking: a partial,
            return [_Segment(" ".join(words[: max(1, len(words) // 2)]))], None  # so far
        return [_Segment(text)], None


class FakeAudioEncoder:
    """Speech where a 32 ms frame is loud: the VAD the real one would give on tones vs silence."""

    def __call__(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        frames = chunk[: len(chunk) // 512 * 512].reshape(-1, 512)
        loud = (np.sqrt((frames ** 2).mean(1)) > 0.01).astype(np.float32)
        return np.zeros((len(chunk) // 160 + 1, 64), np.float32), np.zeros(128, np.float32), loud


class EchoIntentModel:
    intents = ["none", "HassTurnOn"]

    def predict(self, w: Window) -> Prediction:
        texts = [it for it in w.items.get("text", [])]
        last = max(texts, key=lambda it: it.t_end) if texts else None
        text = last.meta.get("text", "") if last else ""
        intent = "HassTurnOn" if text.startswith("turn on") else "none"
        return Prediction(w.end_ns, intent, 0.9, 1.0 if last else 0.0, dict(w.status), {}, text)
