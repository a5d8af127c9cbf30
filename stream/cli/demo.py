"""``demo``: the bundled demo session through the full pipeline, with the dashboard."""

from __future__ import annotations

import argparse

from stream.cli import replay
from stream.encoders.weights import REPO
from stream.errors import fail


def add(sub) -> None:
    sp = sub.add_parser("demo", help="the bundled demo session with the dashboard")
    replay.replay_args(sp)
    sp.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    demo = REPO / "demo" / "session"
    if not (demo / "manifest.json").is_file():
        fail(f"{demo}: the demo session is missing (rebuild it: python scripts/build_demo.py)")
    return replay.run(args, str(demo), title="demo")
