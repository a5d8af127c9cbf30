"""``train``: a fusion model from labelled sessions (their cached features), as a checkpoint dict."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stream.app.replay import ensure_features
from stream.config import Config, FusionMode
from stream.errors import StreamError
from stream.intent import intent_set
from stream.intent.checkpoint import read_checkpoint
from stream.intent.text_classifier import TextPrior
from stream.modalities.registry import get
from stream.offline.train_fusion import check_labels, model_spec, session_examples, train
from stream.session.format import Session


@dataclass
class TrainOptions:
    mode: FusionMode = "late"
    epochs: int = 20
    patience: int = 4
    seed: int = 0
    text_prior: str = ""  # text classifier checkpoint whose probabilities are a text feature


def _examples(sessions: list[Session], intents, spec, cfg: Config, prior, thin: bool) -> list:
    out = []
    for s in sessions:
        # Text-only sessions are many near-identical windows per line: keep fewer.
        text_only = all(get(m).always_on for m in s.streams)
        every = ({"text_every": 4, "other_every": 6} if text_only else {"text_every": 1, "other_every": 2}) \
            if thin else {}
        out += session_examples(s.root, intents, spec, cfg.fusion.window_s, cfg.fusion.hop_s,
                                prior=prior, **every)
    return out


def train_fusion(train_s: list[Session], val_s: list[Session], cfg: Config, opts: TrainOptions,
                 log: Callable = print, progress: Callable | None = None) -> dict:
    """Check labels, encode what lacks features, build windows, train; returns the checkpoint."""
    intents = intent_set.names()
    prior = None
    if opts.text_prior:
        prior = TextPrior(read_checkpoint(opts.text_prior))
        if prior.ckpt["intents"] != intents:
            raise StreamError(f"{opts.text_prior}: its intents differ from the model's")
    for s in train_s + val_s:
        check_labels(s.root, intents)
    for s in train_s + val_s:
        ensure_features(s, cfg, log)
    spec = model_spec(cfg, sorted({m for s in train_s for m in s.streams}), prior)
    t0 = time.monotonic()
    tr = _examples(train_s, intents, spec, cfg, prior, thin=True)
    va = _examples(val_s, intents, spec, cfg, prior, thin=False)
    if not va:  # no validation sessions: hold out every tenth window
        va, tr = tr[::10], [e for i, e in enumerate(tr) if i % 10]
    log(f"{len(tr)} training windows, {len(va)} validation windows ({time.monotonic() - t0:.0f} s to build)")
    t1 = time.monotonic()
    ckpt, _ = train(tr, va, intents, spec, mode=opts.mode, epochs=opts.epochs, patience=opts.patience,
                    seed=opts.seed, progress=progress, log=log, prior=prior, window_s=cfg.fusion.window_s)
    ckpt["train_seconds"] = round(time.monotonic() - t1, 1)
    ckpt["train_sessions"] = [str(s.root) for s in train_s]
    ckpt["val_sessions"] = [str(s.root) for s in val_s]
    return ckpt


def save_checkpoint(ckpt: dict, out: Path) -> None:
    """Written whole, then renamed: never a half-written checkpoint."""
    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, out)


def train_run(train_roots: list[str], val_roots: list[str], cfg: Config, opts: TrainOptions,
              out: str) -> dict:
    """A batch task: one run of a sweep (its features already cached), its checkpoint written
    to ``out``; returns the run's summary (validation metrics)."""
    import torch

    torch.set_num_threads(cfg.run.torch_threads)  # the same result however many runs share the CPUs
    ckpt = train_fusion([Session(r) for r in train_roots], [Session(r) for r in val_roots], cfg, opts,
                        log=lambda _row: None)
    save_checkpoint(ckpt, Path(out))
    return {"out": out, "mode": opts.mode, "seed": opts.seed, "train_seconds": ckpt["train_seconds"],
            **ckpt["metrics"]["val"]}
