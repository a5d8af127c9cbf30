"""What the command modules share: config from the flags, sessions, sinks, input checks."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from stream import config
from stream.app.sinks import DashboardSink, FileSink, JsonLinesSink, RecordingSink, Sink, SvgSink
from stream.errors import fail
from stream.session.format import Session


def add_common(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--config", help="configs/NAME.toml name or a path (default: live)")
    sp.add_argument("--model", help="intent model checkpoint (default: models/fusion.pt)")


def load_config(args: argparse.Namespace, **overrides) -> config.Config:
    """``configs/live.toml`` (or ``--config``), with ``--model`` and dotted overrides on top."""
    ov: dict = {}
    for dotted, v in overrides.items():
        if v is not None:
            sec, key = dotted.split(".")
            ov.setdefault(sec, {})[key] = v
    if getattr(args, "model", None):
        if not Path(args.model).is_file():
            fail(f"{args.model}: model checkpoint not found")
        ov.setdefault("fusion", {})["model"] = args.model
    return config.load(args.config or "live", ov)


def open_session(path: str) -> Session:
    return Session(path)


def parse_speed(s: str | None) -> float:
    """``--speed``: a positive number, or 'max' (0.0: as fast as possible)."""
    if s is None:
        return 1.0
    if s == "max":
        return 0.0
    try:
        v = float(s)
    except ValueError:
        v = -1
    if not v > 0 or v == float("inf"):
        fail(f"--speed: expected a positive number or 'max', got {s!r}")
    return v


def headless(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "headless", False)) or not sys.stdout.isatty()


def check_output(path: str | None, flag: str = "", directory: bool = False) -> None:
    """An output that can be created, checked before any work starts: every existing ancestor
    is a writable directory (and the path itself one, for a directory output)."""
    if not path:
        return
    p, name = Path(path), f"{flag} {path}".strip()
    if p.exists() and p.is_dir() != directory:
        fail(f"{name}: exists and is {'not ' if directory else ''}a directory")
    for a in p.parents:
        if a.exists():
            if not a.is_dir():
                fail(f"{name}: {a} is not a directory")
            if not os.access(a, os.W_OK | os.X_OK):
                fail(f"{name}: {a} is not writable")
            return


def check_empty_dir(path: str | None, flag: str = "") -> None:
    check_output(path, flag, directory=True)
    p = Path(path) if path else None
    if p is not None and p.exists() and (not p.is_dir() or any(p.iterdir())):
        fail(f"{p}: already exists and is not empty{f' ({flag})' if flag else ''}")


def output_sinks(args: argparse.Namespace, title: str, interactive: bool = False,
                 record: str | None = None) -> list[Sink]:
    """Dashboard or JSON lines, ``--predictions`` file, recording: what the flags ask for."""
    quiet = headless(args)
    check_output(getattr(args, "predictions", None), "--predictions")
    sinks: list[Sink] = []
    rec = RecordingSink(record, progress=quiet) if record else None
    sinks.append(JsonLinesSink() if quiet else DashboardSink(title, interactive, rec))
    if getattr(args, "predictions", None):
        sinks.append(FileSink(args.predictions))
    if getattr(args, "svg", None):
        check_output(args.svg, "--svg")
        sinks.append(SvgSink(args.svg, title))
    if rec is not None:
        sinks.append(rec)
    return sinks
