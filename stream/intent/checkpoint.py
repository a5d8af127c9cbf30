"""Loading intent model checkpoints: once each, as data only (``weights_only``), checked.

A checkpoint is a dict of tensors and plain values. ``kind`` says which model
it is (``fusion``; the text baseline has none); a learned fusion model also
records the window length and the feature widths it was trained with, which
must match the running configuration.
"""

from __future__ import annotations

from pathlib import Path

import torch

from stream.config import Config
from stream.encoders import weights
from stream.encoders.weights import ModelMissing
from stream.intent.prediction import IntentModel


def read_checkpoint(path: Path | str) -> dict:
    """The checkpoint's dict; ModelMissing with one line if it is absent or not a checkpoint.

    ``weights_only=True``: a crafted file cannot run code while it loads.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelMissing(f"{p}: model checkpoint not found")
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable or unsafe file
        raise ModelMissing(f"{p}: not a readable model checkpoint ({str(e).splitlines()[0][:120]})") from None
    if not isinstance(ck, dict) or "state" not in ck or "intents" not in ck:
        raise ModelMissing(f"{p}: not a model checkpoint (no 'state' and 'intents')")
    return ck


def load_model(path: str, cfg: Config) -> IntentModel:
    """A checkpoint by path; empty: the shipped learned fusion model (or the baseline)."""
    p = Path(path) if path else weights.default_intent_model()
    ck = read_checkpoint(p)
    try:
        if ck.get("kind") == "fusion":
            from stream.intent.fusion_net import FusionModel

            return FusionModel(ck, cfg, str(p))
        from stream.intent.baseline import BaselineModel

        f = cfg.fusion
        return BaselineModel(ck, intent_threshold=f.intent_threshold,
                             addressed_threshold=f.addressed_threshold,
                             speech_threshold=cfg.asr.speech_threshold)
    except ValueError as e:  # parts that do not fit together (the text prior's words model)
        raise ModelMissing(f"{p}: {e}") from None
