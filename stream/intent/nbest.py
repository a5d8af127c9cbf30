"""Choosing among the recogniser's n best hypotheses with the text intent model.

Whisper's best guess often garbles the one word that matters ("turn of the light"), while
a lower-ranked hypothesis has it. Each hypothesis scores

    its mean token log-probability + weight x log(the intent model's top probability)

so a hypothesis the intent model reads as a clear command, or as clearly nothing for the
assistant, wins over one it cannot place, unless the recogniser was much surer of the
other. The top probability counts ``none`` too: choosing never leans toward firing. The
text model is the fusion model's text prior (or the text baseline), so the chooser reads
sentences as the model that answers them does.
"""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from stream.config import Config

MAX_HYPOTHESES = 8  # as config's asr.n_best allows
MAX_CHARS = 1000  # a hypothesis longer than a typed line may be is refused


def model_path(cfg: Config) -> Path:
    """The intent model's checkpoint file (the shipped one unless fusion.model names another)."""
    from stream.encoders import weights

    return Path(cfg.fusion.model) if cfg.fusion.model else weights.default_intent_model()


def prior_checkpoint(cfg: Config) -> dict | None:
    """The text classifier inside the intent model (None: it has none)."""
    from stream.intent.checkpoint import read_checkpoint  # (torch: only where a chooser is made)

    ck = read_checkpoint(model_path(cfg))
    if ck.get("kind") == "fusion":
        return ck.get("text_prior")
    return ck  # the text baseline is the text classifier itself


def chooser_key(cfg: Config) -> str:
    """What choosing depends on besides the settings (for the feature cache): the model file."""
    if cfg.asr.n_best <= 1:
        return ""
    p = model_path(cfg)
    if not p.is_file():
        return ""
    st = p.stat()
    return _digest(p.resolve(), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _digest(path: Path, mtime_ns: int, size: int) -> str:
    """The file's sha256 (prefix), read once per version of it (eval checks every session)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


class HypothesisChooser:
    def __init__(self, prior, weight: float) -> None:
        """``prior``: sentences' embeddings and words -> intent probabilities (a TextPrior)."""
        self.prior, self.weight = prior, weight

    @classmethod
    def load(cls, cfg: Config) -> HypothesisChooser | None:
        """The chooser for ``cfg`` (None when asr.n_best is 1 or the model has no text part)."""
        if cfg.asr.n_best <= 1:
            return None
        from stream.intent.text_classifier import TextPrior

        ck = prior_checkpoint(cfg)
        return cls(TextPrior(ck), cfg.asr.n_best_weight) if ck is not None else None

    def __call__(self, texts: list[str], embeddings: np.ndarray, scores: list[float]) -> int:
        """Index of the hypothesis to keep, from their words, sentence embeddings and recogniser
        scores."""
        return self.pick(texts, embeddings, scores)[0]

    def pick(self, texts: list[str], embeddings: np.ndarray, scores: list[float]) -> tuple[int, float]:
        """The hypothesis to keep, and how sure the text model is of its intent (its top
        probability)."""
        top = self.prior(embeddings[:, :self.prior.in_dim], texts).max(axis=1)
        total = np.asarray(scores) + self.weight * np.log(np.maximum(top, 1e-9))
        k = int(np.argmax(total))
        return k, float(top[k])

    def choose(self, embed, hyps: list[tuple[str, float]], second=None,
               below: float = 0.0) -> tuple[str, np.ndarray, bool]:
        """Which of ``hyps`` (text, recogniser score) to keep: its text, its sentence embedding,
        and whether a second opinion was asked. ``embed``: texts -> embeddings, all of them in one
        batch (~1.5x one sentence's time). ``second``: () -> another recogniser's hypotheses of
        the same audio, asked only when the text model is less than ``below`` sure of the
        choice; then the choice is made again among both (validation split, whole utterances:
        31 -> 35 of 47 commands right, with base asked for 12 of 57 utterances; README)."""
        texts = [h for h, _ in hyps]
        es = embed(texts)
        scores = [sc for _, sc in hyps]
        k, sure = self.pick(texts, es, scores)
        if second is None or sure >= below:
            return texts[k], es[k], False
        more = second()[:MAX_HYPOTHESES]  # (the same words again may score higher there)
        if more:
            texts, scores = texts + [t for t, _ in more], scores + [sc for _, sc in more]
            es = np.concatenate([es, embed([t for t, _ in more])])
            k = self(texts, es, scores)
        return texts[k], es[k], True


def parse_hypotheses(value) -> list[tuple[str, float]] | None:
    """A transcript message's ``hypotheses`` ([[text, score], ...]: one or more, a second opinion
    may be asked of one), checked; None if malformed (the message's own text is used then)."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_HYPOTHESES:
        return None
    out = []
    for h in value:
        if (not isinstance(h, list | tuple) or len(h) != 2 or not isinstance(h[0], str)
                or not 0 < len(h[0]) <= MAX_CHARS or isinstance(h[1], bool)
                or not isinstance(h[1], int | float) or not math.isfinite(h[1])):
            return None
        out.append((h[0], float(h[1])))
    return out
