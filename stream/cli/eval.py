"""``eval SESSION...``: replay at max speed, score against the labels; tables, report, pictures."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from stream.app.batch import add_batch_flags, batch_options
from stream.cli.common import add_common, check_output, load_config, open_session
from stream.errors import fail


def add(sub) -> None:
    sp = sub.add_parser("eval", help="replay at max speed and score against the labels")
    add_common(sp)
    sp.add_argument("sessions", nargs="+")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--out", default="eval_report", help="where the report and pictures go")
    sp.add_argument("--no-cache", action="store_true",
                    help="re-encode everything; neither use nor write SESSION/features/")
    sp.add_argument("--ablation", action="store_true",
                    help="also score text/audio/video-only and, with --models, other fusion modes")
    sp.add_argument("--models", nargs="+", default=[], help="checkpoints to compare in the ablation")
    add_batch_flags(sp)
    sp.set_defaults(fn=run)


def _fmt(v) -> str:
    return "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def _table(title: str, rows: list[dict], cols: dict[str, str]):
    from rich.table import Table

    t = Table(title=title)
    for c in cols:
        t.add_column(c)
    for r in rows:
        t.add_row(*(_fmt(r.get(k)) for k in cols.values()))
    return t


SESSION_COLS = {"session": "session", "spans": "spans", "event acc": "event_accuracy",
                "spoken": "event_accuracy_spoken", "typed": "event_accuracy_typed",
                "slots spoken": "slot_accuracy_spoken", "slots typed": "slot_accuracy_typed",
                "false trig/min": "false_triggers_per_min", "unaddressed fired": "fired",
                "window F1": "window_macro_f1", "latency p50 s": "latency_s_p50"}
ABLATION_COLS = {"model": "model", "modalities": "modalities", "event acc": "event_accuracy",
                 "spoken": "event_accuracy_spoken", "typed": "event_accuracy_typed",
                 "false trig/min": "false_triggers_per_min", "unaddressed fired": "unaddressed_fired_rate",
                 "window F1": "window_macro_f1"}


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from stream.app.evaluation import ablation, check_labelled, evaluate_sessions

    sessions = [open_session(p) for p in args.sessions]
    check_labelled(sessions)
    for m in args.models:
        if not Path(m).is_file():
            fail(f"{m}: model checkpoint not found")
    cfg = load_config(args)
    check_output(args.out, "--out", directory=True)
    out = Path(args.out)
    created = not out.exists()
    try:
        batch = batch_options(args)
        report = evaluate_sessions(sessions, cfg, out, cache=not args.no_cache, batch=batch)
        if args.ablation:
            report["ablation"] = ablation(sessions, cfg, args.models, batch)
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    except BaseException:
        if created:  # a report is whole or absent
            shutil.rmtree(out, ignore_errors=True)
        raise
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    rows = [*report["sessions"], {**report["overall"], "session": "overall"}]
    for r in rows:
        r["fired"] = r.get("unaddressed_fired_rate", r.get("unaddressed_fired"))
    con = Console()
    con.print(_table(f"eval ({out / 'report.json'})", rows, SESSION_COLS))
    if args.ablation:
        con.print(_table("ablation (all sessions pooled)", report["ablation"], ABLATION_COLS))
    for r in report["sessions"]:
        print("pictures:", " ".join(r["pictures"]))
    return 0
