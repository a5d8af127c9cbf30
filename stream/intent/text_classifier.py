"""The text intent classifier: an MLP over MiniLM sentence embeddings (``launch.py train-text``),
with a second opinion over the sentence's words and spelling (:mod:`stream.intent.lexical`).

The baseline model gates it by hand; the learned fusion model uses its
probabilities as a text feature (:class:`TextPrior`); the n-best chooser reads with it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from stream.intent.lexical import LexicalModel


class TextIntentNet(nn.Module):
    """Sentence embedding -> intent logits (``none`` included)."""

    def __init__(self, dim: int, n_intents: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.1),
                                 nn.Linear(hidden, n_intents))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def text_net(ckpt: dict) -> TextIntentNet:
    """The classifier of a text checkpoint dict, in eval mode."""
    net = TextIntentNet(ckpt["dim"], len(ckpt["intents"]), ckpt["hidden"])
    net.load_state_dict(ckpt["state"])
    return net.eval()


class TextPrior:
    """The text classifier as a feature: its probabilities per sentence (embedding and words).

    It was trained on every training-template sentence (far more text than the
    sessions hold), so it gives the fusion model a strong prior on *what* was
    said; fusion learns *whether* it was meant for the assistant. A checkpoint with a
    ``lexical`` part mixes the two opinions' log-probabilities (its ``weight`` of the lexical
    one); one without (before 2026-12-07) is the MLP alone.
    """

    modality = "text"

    def __init__(self, ckpt: dict) -> None:
        self.ckpt = ckpt
        self.net = text_net(ckpt)
        self.lexical = (LexicalModel.from_state(ckpt["lexical"], len(ckpt["intents"]))
                        if ckpt.get("lexical") else None)
        self.in_dim = int(ckpt["dim"])
        self.dim = len(ckpt["intents"])

    def __call__(self, emb: np.ndarray, texts: list[str]) -> np.ndarray:
        """Probabilities (n, intents) of ``n`` sentences: their embeddings and their words."""
        emb = np.atleast_2d(emb)
        if len(texts) != len(emb):
            raise ValueError(f"{len(emb)} embeddings but {len(texts)} texts")
        with torch.inference_mode():
            lp = torch.log_softmax(self.net(torch.from_numpy(emb.astype(np.float32))), -1).numpy()
        if self.lexical is not None:
            w = self.lexical.weight
            lp = (1 - w) * lp + w * self.lexical.log_probs(texts)
        p = np.exp(lp - lp.max(1, keepdims=True))
        return (p / p.sum(1, keepdims=True)).astype(np.float32)
