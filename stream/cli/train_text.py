"""``train-text``: retrain the baseline text intent classifier on hassil sentences, or with
``--end-of-turn`` the end-of-turn detector (whole commands against their beginnings)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stream.cli.common import open_session
from stream.errors import fail


def add(sub) -> None:
    sp = sub.add_parser("train-text", help="retrain the baseline text intent classifier")
    sp.add_argument("--out", help="default: models/intent_baseline.pt (models/end_of_turn.pt)")
    sp.add_argument("--end-of-turn", action="store_true",
                    help="train the end-of-turn detector instead (semantic end of turn)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--transcripts", nargs="+", default=[], metavar="SESSION",
                    help="encoded corpus sessions (training split): learn the recogniser's words too")
    sp.add_argument("--heard", nargs="+", default=[], metavar="FILE",
                    help="and what it heard of more training sentences (python -m stream.offline.heard)")
    sp.add_argument("--noisy-copies", type=int, default=0, metavar="N",
                    help="with --transcripts: also N copies of each sentence with the recogniser's "
                         "word errors, learned from the sessions' audio (default 0: it did not help "
                         "on the corpus; README)")
    sp.add_argument("--lexical", type=float, default=None, metavar="W",
                    help="the words-and-spelling model's weight against the embedding's MLP, 0-1 "
                         "(default 0.7; 0: the MLP alone)")
    sp.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    if args.end_of_turn:
        from stream.offline.train_end_of_turn import train
    else:
        from stream.offline.train_text import train
    out = args.out or ("models/end_of_turn.pt" if args.end_of_turn else "models/intent_baseline.pt")
    if args.end_of_turn and args.transcripts:
        fail("--transcripts: only for the intent classifier, not --end-of-turn")
    if args.end_of_turn and args.heard:
        fail("--heard: only for the intent classifier, not --end-of-turn")
    if args.end_of_turn and args.lexical is not None:
        fail("--lexical: only for the intent classifier, not --end-of-turn")
    if args.lexical is not None and not 0 <= args.lexical <= 1:
        fail(f"--lexical: {args.lexical} is not between 0 and 1")
    if args.noisy_copies < 0:
        fail(f"--noisy-copies: {args.noisy_copies} is negative")
    kw = {"transcripts": [open_session(p).root for p in args.transcripts],
          "noisy_copies": args.noisy_copies} if args.transcripts else {}
    if args.lexical is not None:
        kw["lexical"] = args.lexical
    if args.heard:
        kw["heard_files"] = [Path(p) for p in args.heard]
    print(json.dumps(train(Path(out), seed=args.seed, **kw), indent=2))
    return 0
