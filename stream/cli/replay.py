"""``replay SESSION``: a session through the same workers (or fusion alone from its features)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from stream.cli.common import add_common, check_output, load_config, open_session, output_sinks, parse_speed
from stream.errors import fail


def replay_args(sp: argparse.ArgumentParser) -> None:
    add_common(sp)
    sp.add_argument("--speed", help="X times real time, or 'max' (default 1)")
    sp.add_argument("--loop", action="store_true", help="start again at the end")
    sp.add_argument("--start", type=float, default=0.0, help="session second to start at")
    sp.add_argument("--end", type=float, help="session second to stop at")
    sp.add_argument("--headless", action="store_true", help="JSON lines instead of the dashboard")
    sp.add_argument("--predictions", help="also write predictions to OUT.jsonl")
    sp.add_argument("--svg", help="also save the dashboard, just after the first command, as SVG")


def add(sub) -> None:
    sp = sub.add_parser("replay", help="replay a session through the same workers")
    sp.add_argument("session")
    replay_args(sp)
    sp.add_argument("--cache-features", action="store_true",
                    help="store what the encoders produced in SESSION/features/")
    sp.add_argument("--from-features", action="store_true",
                    help="fusion only, from SESSION/features/ (no encoders; prints JSON lines)")
    sp.set_defaults(fn=run)


def run(args: argparse.Namespace, path: str | None = None, title: str = "replay") -> int:
    from stream.app.pipeline import Pipeline
    from stream.app.replay import drop_partial_cache, replay_config, replay_options
    from stream.session.features import has_features

    session = open_session(path or args.session)
    if not args.start >= 0 or (args.end is not None and not args.end > args.start):
        fail("--start/--end: need 0 <= start < end")
    if args.start >= session.duration_s:
        fail(f"--start {args.start:g}: the session is {session.duration_s:.2f} s long")
    cfg = replay_config(load_config(args), parse_speed(args.speed))
    if getattr(args, "from_features", False):
        return from_features(session, cfg, args)
    options = replay_options(session, cfg, args.start, args.end, args.loop)
    if getattr(args, "cache_features", False):
        if args.start != 0 or args.end is not None or args.loop:
            fail("--cache-features: replay the whole session (no --start/--end/--loop)")
        options = replace(options, cache=str(session.root))
    pipe = Pipeline(cfg, options, output_sinks(args, title))
    lost = pipe.run()
    if options.cache:
        drop_partial_cache(pipe, session.root, lost)
        if not has_features(session.root, cfg):
            print(f"warning: {session.root / 'features'}: not written (a worker was lost or "
                  "restarted, or messages were lost, during the replay; run it again)", file=sys.stderr)
    return lost


def from_features(session, cfg, args: argparse.Namespace) -> int:
    from stream.intent.checkpoint import load_model
    from stream.session.features import fusion_replay, has_features

    if not has_features(session.root, cfg):
        fail(f"{session.root / 'features'}: no up-to-date feature cache "
             "(make one: replay --speed max --cache-features)")
    preds = fusion_replay(session.root, cfg, session.streams, load_model(cfg.fusion.model, cfg))
    preds = [p for p in preds if p["t"] > args.start and (args.end is None or p["t"] <= args.end + 0.2)]
    lines = [json.dumps(p) for p in preds]
    if args.predictions:
        check_output(args.predictions, "--predictions")
        tmp = Path(args.predictions + ".tmp")
        tmp.write_text("".join(x + "\n" for x in lines))
        os.replace(tmp, args.predictions)
    if lines:
        print("\n".join(lines))
    return 0
