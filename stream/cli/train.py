"""``train SESSION... --out MODEL``: train the fusion model from labelled sessions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stream.cli.common import add_common, check_output, load_config, open_session
from stream.encoders.weights import REPO
from stream.errors import fail


def add(sub) -> None:
    sp = sub.add_parser("train", help="train the fusion model from labelled sessions")
    add_common(sp)
    sp.add_argument("sessions", nargs="+")
    sp.add_argument("--out", required=True, help="checkpoint to write (e.g. models/fusion.pt)")
    sp.add_argument("--val", nargs="+", help="validation sessions (default: every 10th window)")
    sp.add_argument("--mode", choices=["early", "intermediate", "late"], default="late",
                    help="fusion mode (default: late, the one that ships)")
    sp.add_argument("--epochs", type=int, default=20)
    sp.add_argument("--patience", type=int, default=4, help="early stopping")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--text-prior", default=str(REPO / "models" / "intent_baseline.pt"),
                    help="text classifier whose probabilities are a text feature ('' for none)")
    sp.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from stream.app.training import TrainOptions, save_checkpoint, train_fusion

    check_output(args.out, "--out")
    if args.epochs < 1 or args.patience < 1:
        fail("--epochs/--patience: need at least 1")
    cfg = load_config(args)
    train_s = [open_session(p) for p in args.sessions]
    val_s = [open_session(p) for p in (args.val or [])]
    opts = TrainOptions(args.mode, args.epochs, args.patience, args.seed, args.text_prior)
    columns = (TextColumn("epoch {task.fields[ep]}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"),
               TimeRemainingColumn())
    with Progress(*columns, transient=True) as prog:
        task = prog.add_task("train", total=1, ep=0)

        def progress(ep: int, k: int, n: int) -> None:
            prog.update(task, completed=k, total=n, ep=ep + 1)

        def log(row) -> None:
            prog.console.print(row if isinstance(row, str) else
                               "  ".join(f"{k} {v}" for k, v in row.items()), soft_wrap=True)

        ckpt = train_fusion(train_s, val_s, cfg, opts, log=log, progress=progress)
    out = Path(args.out)
    save_checkpoint(ckpt, out)
    print(json.dumps({"out": str(out), "mode": args.mode, "train_seconds": ckpt["train_seconds"],
                      **ckpt["metrics"]["val"]}, indent=2))
    return 0
