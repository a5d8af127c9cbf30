"""The text intent classifier: an MLP over MiniLM sentence embeddings (``launch.py train-text``).

The baseline model gates it by hand; the learned fusion model uses its
probabilities as a text feature (:class:`TextPrior`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


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
    """The text classifier as a feature: its probabilities per text embedding.

    It was trained on every training-template sentence (far more text than the
    sessions hold), so it gives the fusion model a strong prior on *what* was
    said; fusion learns *whether* it was meant for the assistant.
    """

    modality = "text"

    def __init__(self, ckpt: dict) -> None:
        self.ckpt = ckpt
        self.net = text_net(ckpt)
        self.in_dim = int(ckpt["dim"])
        self.dim = len(ckpt["intents"])

    def __call__(self, emb: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(self.net(torch.from_numpy(np.atleast_2d(emb).astype(np.float32))),
                                 -1).numpy()
