"""``worker NAME --join ENDPOINT --keys DIR``: run one worker on this host for an assistant
whose fusion runs on another (that run lists NAME in ``net.remote``; see the README's
deployment section). The worker gets the run's config from there, keeps its clock mapped onto
the fusion host's, and ends when that run ends."""

from __future__ import annotations

import argparse
import os
import sys

from stream.config import Config, RunConfig
from stream.errors import StreamError


def add(sub) -> None:
    sp = sub.add_parser("worker", help="run a capture worker here for an assistant on another host")
    sp.add_argument("name", help="the worker, as named in the fusion host's net.remote (video, audio)")
    sp.add_argument("--join", required=True, metavar="ENDPOINT",
                    help="where that run listens for remote workers (it prints it at start)")
    sp.add_argument("--keys", required=True, metavar="DIR", help="this host's copy of the run's keys")
    sp.add_argument("--source", help="this host's device or file for the worker (default: the run's)")
    sp.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                    help="a plugin module this host agrees to import (for a plugin's worker)")
    sp.add_argument("--timeout", type=float, default=60.0, help="seconds to wait to join")
    sp.set_defaults(fn=run)


def module_of(name: str, plugins: list[str]) -> str:
    """The worker's module, from this host's own registry (never from the network)."""
    from stream.modalities.registry import modalities

    cfg = Config(run=RunConfig(plugins=plugins))
    for m in modalities(cfg):
        for w in m.workers(cfg):
            if w.name == name:
                return w.module
    raise StreamError(f"worker {name!r}: no such worker here (a plugin's? pass --plugin MODULE)")


def run(args: argparse.Namespace) -> int:
    module = module_of(args.name, args.plugin)
    argv = [sys.executable, "-m", module, "--join", args.join, "--keys", args.keys, "--name", args.name,
            "--timeout", str(args.timeout)]
    argv += ["--source", args.source] if args.source is not None else []
    for p in args.plugin:
        argv += ["--plugin", p]
    sys.stdout.flush()
    os.execv(sys.executable, argv)  # becomes the worker: its signals, its exit code
