"""``record DIR``: capture devices (or files) to a session on disk, with a progress line."""

from __future__ import annotations

import argparse

from stream.app.pipeline import Pipeline
from stream.app.sinks import JsonLinesSink, RecordingSink
from stream.cli.common import add_common, check_empty_dir, load_config
from stream.process.stage import RunOptions


def add(sub) -> None:
    sp = sub.add_parser("record", help="capture devices to a session on disk")
    add_common(sp)
    sp.add_argument("dir")
    sp.add_argument("--duration", type=float, help="stop after S seconds")
    sp.add_argument("--video", help="camera index or name, a file, 'synthetic' or 'none'")
    sp.add_argument("--audio", help="microphone index or name, a file, 'synthetic' or 'none'")
    sp.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    check_empty_dir(args.dir)
    cfg = load_config(args, **{"run.duration_s": args.duration})
    sources = {"video": args.video or cfg.video.source, "audio": args.audio or cfg.audio.source}
    return Pipeline(cfg, RunOptions(sources=sources), [JsonLinesSink(), RecordingSink(args.dir)]).run()
