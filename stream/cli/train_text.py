"""``train-text``: retrain the baseline text intent classifier on hassil sentences."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add(sub) -> None:
    sp = sub.add_parser("train-text", help="retrain the baseline text intent classifier")
    sp.add_argument("--out", default="models/intent_baseline.pt")
    sp.add_argument("--seed", type=int, default=0)
    sp.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    from stream.offline.train_text import train

    print(json.dumps(train(Path(args.out), seed=args.seed), indent=2))
    return 0
