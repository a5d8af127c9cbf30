"""``train SESSION... --out MODEL``: train the fusion model from labelled sessions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stream.app.batch import add_batch_flags, batch_options
from stream.cli.common import add_common, check_output, load_config, open_session
from stream.encoders.weights import REPO
from stream.errors import fail


def add(sub) -> None:
    sp = sub.add_parser("train", help="train the fusion model from labelled sessions")
    add_common(sp)
    sp.add_argument("sessions", nargs="+")
    sp.add_argument("--out", required=True, help="checkpoint to write (e.g. models/fusion.pt)")
    sp.add_argument("--val", nargs="+", help="validation sessions (default: every 10th window)")
    sp.add_argument("--mode", nargs="+", choices=["early", "intermediate", "late"], default=["late"],
                    help="fusion mode (default: late, the one that ships); several: a sweep")
    sp.add_argument("--epochs", type=int, default=20)
    sp.add_argument("--patience", type=int, default=4, help="early stopping")
    sp.add_argument("--seed", type=int, nargs="+", default=[0], help="several: a sweep")
    sp.add_argument("--text-prior", default=str(REPO / "models" / "intent_baseline.pt"),
                    help="text classifier whose probabilities are a text feature ('' for none)")
    add_batch_flags(sp)
    sp.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from stream.app.training import TrainOptions, save_checkpoint, train_fusion

    if args.epochs < 1 or args.patience < 1:
        fail("--epochs/--patience: need at least 1")
    runs = [(m, seed) for m in dict.fromkeys(args.mode) for seed in dict.fromkeys(args.seed)]
    if len(runs) > 1:
        return sweep(args, runs)
    check_output(args.out, "--out")
    cfg = load_config(args)
    train_s = [open_session(p) for p in args.sessions]
    val_s = [open_session(p) for p in (args.val or [])]
    opts = TrainOptions(runs[0][0], args.epochs, args.patience, runs[0][1], args.text_prior)
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
    print(json.dumps({"out": str(out), "mode": opts.mode, "train_seconds": ckpt["train_seconds"],
                      **ckpt["metrics"]["val"]}, indent=2))
    return 0


def sweep(args: argparse.Namespace, runs: list[tuple[str, int]]) -> int:
    """Several modes and/or seeds: one batch task per run; ``--out`` is a directory that gets
    MODE_sSEED.pt per run and sweep.json (every run's validation metrics)."""
    from rich.console import Console
    from rich.table import Table

    from stream.app.batch import run_batch
    from stream.app.evaluation import encode_sessions
    from stream.app.training import TrainOptions, train_run

    check_output(args.out, "--out", directory=True)
    cfg = load_config(args)
    train_s = [open_session(p) for p in args.sessions]
    val_s = [open_session(p) for p in (args.val or [])]
    batch = batch_options(args)
    encode_sessions(train_s + val_s, cfg, batch)  # once, before the runs that share them
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tr, va = [str(s.root) for s in train_s], [str(s.root) for s in val_s]
    items = [(tr, va, cfg, TrainOptions(m, args.epochs, args.patience, seed, args.text_prior),
              str(out / f"{m}_s{seed}.pt")) for m, seed in runs]
    rows = run_batch(train_run, items, [f"{m} seed {seed}" for m, seed in runs], batch, "training runs")
    (out / "sweep.json").write_text(json.dumps(rows, indent=2) + "\n")
    t = Table(title=f"sweep ({out / 'sweep.json'})")
    keys = [k for k in rows[0] if k not in ("out",)]
    for k in keys:
        t.add_column(k)
    for r in rows:
        t.add_row(*(f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in keys))
    Console().print(t)
    return 0
