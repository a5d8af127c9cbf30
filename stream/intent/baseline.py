"""Intent models: one interface, so a learned fusion model can replace the baseline.

A model turns a closed :class:`~stream.align.Window` into a
:class:`Prediction`. The baseline combines, by late fusion:

* a text intent classifier (an MLP over MiniLM sentence embeddings, trained
  on hassil sentences by ``python launch.py train-text``), and
* an "addressed" score from face cues (present and facing the camera during
  the speech) and speech activity; typed text is always addressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from stream.encoders.vision import CUE_NAMES
from stream.fusion.align import Window
from stream.intent.intent_set import NONE

PRESENT, FACING, MOUTH_ACT = CUE_NAMES.index("present"), CUE_NAMES.index("facing"), \
    CUE_NAMES.index("mouth_activity")


@dataclass
class Prediction:
    end_ns: int
    intent: str
    confidence: float
    addressed: float
    modalities: dict[str, str]
    contributions: dict[str, float] = field(default_factory=dict)
    text: str = ""
    text_intent: str = ""  # what the text alone says, before the addressed gate


class IntentModel(Protocol):
    intents: list[str]

    def predict(self, window: Window) -> Prediction: ...


class TextIntentNet(nn.Module):
    """Sentence embedding -> intent logits (``none`` included)."""

    def __init__(self, dim: int, n_intents: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.1),
                                 nn.Linear(hidden, n_intents))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def load_text_classifier(path: Path) -> tuple[TextIntentNet, dict]:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    net = TextIntentNet(ckpt["dim"], len(ckpt["intents"]), ckpt["hidden"])
    net.load_state_dict(ckpt["state"])
    return net.eval(), ckpt


class BaselineModel:
    """Text intent x (face facing during the speech) late fusion; hand-set gate."""

    def __init__(self, path: Path, intent_threshold: float = 0.5,
                 addressed_threshold: float = 0.5, speech_threshold: float = 0.5) -> None:
        self.net, self.ckpt = load_text_classifier(path)
        self.intents: list[str] = self.ckpt["intents"]
        self.intent_threshold = intent_threshold
        self.addressed_threshold = addressed_threshold
        self.speech_threshold = speech_threshold

    def text_probs(self, emb: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(self.net(torch.from_numpy(emb[None].astype(np.float32))), -1)[0].numpy()

    def _facing(self, w: Window, t0: int, t1: int) -> float | None:
        frames = [it for it in w.items.get("video", []) if t0 <= it.t_end and it.t_start <= t1]
        if not frames:
            return None
        cues = np.stack([it.parts[0] for it in frames])
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
            probs = self.text_probs(last.parts[0])
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


def load_model(path: str, **kw) -> IntentModel:
    """A checkpoint by path; empty: the shipped learned fusion model (or the baseline)."""
    from stream.encoders import weights as models

    p = Path(path) if path else models.default_intent_model()
    if not p.is_file():
        raise models.ModelMissing(f"{p}: intent model not found")
    try:
        kind = torch.load(p, map_location="cpu", weights_only=False).get("kind", "text-baseline")
    except Exception as e:  # noqa: BLE001 - any unreadable file
        raise models.ModelMissing(f"{p}: not a readable model checkpoint ({e})") from None
    if kind == "fusion":
        from stream.intent.fusion_net import FusionModel

        return FusionModel(p)
    return BaselineModel(p, **kw)
