"""Is this transcript a whole command, or did the speaker only pause? (semantic end of turn)

An MLP over the transcript's MiniLM sentence embedding, trained on the intent set's
sentences (complete) against their own beginnings (cut after a word: incomplete), with and
without Whisper's capital and full stop, so that punctuation cannot give it away
(``launch.py train-text --end-of-turn``). The text stage scores every early transcript; fusion
answers one before the silence timer only if it is complete *and* the intent model is sure:
"Set the 89 minute" alone is a confident HassStartTimer, but not a whole command.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from stream.encoders import weights


class EndOfTurnNet(nn.Module):
    def __init__(self, dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class TurnDetector:
    """Sentence embeddings (n, dim) -> probability that each is a complete utterance."""

    def __init__(self, ckpt: dict) -> None:
        self.net = EndOfTurnNet(int(ckpt["dim"]), int(ckpt["hidden"]))
        self.net.load_state_dict(ckpt["state"])
        self.net.eval()

    def __call__(self, emb: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(np.atleast_2d(emb).astype(np.float32))
            return torch.sigmoid(self.net(x)).numpy()


def default_path() -> Path:
    return weights.REPO / "models" / "end_of_turn.pt"


def load_detector(path: str = "") -> TurnDetector:
    """The detector of a checkpoint (default: the shipped one), read as data only."""
    from stream.intent.checkpoint import read_checkpoint

    return TurnDetector(read_checkpoint(path or default_path()))
