"""The baseline intent model: the text classifier gated by hand-set face and speech cues.

Late fusion of

* the text intent classifier (:mod:`stream.intent.text_classifier`), and
* an "addressed" score from face cues (present and facing the camera during
  the speech) and speech activity; typed text is always addressed.
"""

from __future__ import annotations

import numpy as np

from stream.fusion.align import Window
from stream.intent.intent_set import NONE
from stream.intent.prediction import Prediction
from stream.intent.text_classifier import TextPrior
from stream.modalities.video import CUE_NAMES

PRESENT, FACING = CUE_NAMES.index("present"), CUE_NAMES.index("facing")


class BaselineModel:
    """Text intent x (face facing during the speech) late fusion; hand-set gate."""

    def __init__(self, ckpt: dict, intent_threshold: float = 0.5,
                 addressed_threshold: float = 0.5, speech_threshold: float = 0.5) -> None:
        self.prior, self.ckpt = TextPrior(ckpt), ckpt
        self.intents: list[str] = self.ckpt["intents"]
        self.intent_threshold = intent_threshold
        self.addressed_threshold = addressed_threshold
        self.speech_threshold = speech_threshold

    def text_probs(self, emb: np.ndarray, text: str) -> np.ndarray:
        """The text classifier's probabilities for one sentence (its embedding and words)."""
        return self.prior(emb[None], [text])[0]

    def _facing(self, w: Window, t0: int, t1: int) -> float | None:
        frames = [it for it in w.items.get("video", []) if t0 <= it.t_end and it.t_start <= t1]
        if not frames:
            return None
        cues = np.stack([it.parts["cues"] for it in frames])
        return float((cues[:, PRESENT] * cues[:, FACING]).mean())

    def _speech(self, w: Window, t0: int, t1: int) -> float | None:
        chunks = [it for it in w.items.get("audio", []) if t0 < it.t_end and it.t_start < t1]
        if not chunks:
            return None
        return float(np.mean([it.meta.get("vad", 0.0) >= self.speech_threshold for it in chunks]))

    def predict(self, w: Window) -> Prediction:
        texts = w.items.get("text", [])
        video_ok = w.status.get("video") == "ok"
        if texts:
            last = max(texts, key=lambda it: it.t_end)
            probs = self.text_probs(last.parts["embedding"], last.meta.get("text", ""))
            k = int(probs.argmax())
            text_intent, p = self.intents[k], float(probs[k])
            if last.meta.get("source") == "typed":
                addressed, contrib = 1.0, {"text": 1.0, "video": 0.0, "audio": 0.0}
            else:
                f = self._facing(w, last.t_start, last.t_end)
                # No usable video: we cannot tell, so we neither confirm nor veto.
                addressed = f if (f is not None and video_ok) else 0.5
                contrib = {"text": 0.5, "video": 0.35 if f is not None else 0.0, "audio": 0.15}
            fire = (text_intent != NONE and p >= self.intent_threshold
                    and addressed >= self.addressed_threshold)
            intent = text_intent if fire else NONE
            conf = p if (fire or text_intent == NONE) else 1.0 - p * addressed
            text = last.meta.get("text", "")
        else:
            recent = w.end_ns - 1_000_000_000
            f = self._facing(w, recent, w.end_ns)
            s = self._speech(w, recent, w.end_ns)
            addressed = (f if f is not None else 0.5) * (s if s is not None else 0.0)
            intent, conf, text, text_intent = NONE, 1.0, "", ""
            contrib = {"text": 0.0, "video": 0.5 if f is not None else 0.0,
                       "audio": 0.5 if s is not None else 0.0}
        total = sum(contrib.values()) or 1.0
        return Prediction(w.end_ns, intent, round(float(conf), 4), round(float(addressed), 4),
                          dict(w.status), {k: round(v / total, 3) for k, v in contrib.items()},
                          text, text_intent)
