"""``live``: webcam + microphone (or files paced in real time), typed text, the dashboard."""

from __future__ import annotations

import argparse

from stream.app.pipeline import Pipeline
from stream.cli.common import add_common, check_empty_dir, load_config, output_sinks
from stream.errors import fail
from stream.modalities.registry import names
from stream.process.stage import RunOptions


def add(sub) -> None:
    sp = sub.add_parser("live", help="webcam + mic (or files paced in real time) with the dashboard")
    add_common(sp)
    sp.add_argument("--video", help="camera index or name, a video file, 'synthetic' or 'none'")
    sp.add_argument("--audio", help="microphone index or name, an audio file, 'synthetic' or 'none'")
    sp.add_argument("--source", action="append", default=[], metavar="MODALITY=SPEC",
                    help="a source for any modality (e.g. a plugin's); repeatable")
    sp.add_argument("--duration", type=float, help="stop after S seconds")
    sp.add_argument("--speed", type=float, help="pace files at X times real time (default 1)")
    sp.add_argument("--headless", action="store_true", help="JSON lines instead of the dashboard")
    sp.add_argument("--predictions", help="also write predictions to OUT.jsonl")
    sp.add_argument("--record", metavar="DIR", help="also record a session to DIR")
    sp.set_defaults(fn=run)


def sources_from(args: argparse.Namespace, cfg) -> dict[str, str]:
    """``--video``/``--audio`` (else the config's), plus any ``--source NAME=SPEC``."""
    out = {"video": args.video or cfg.video.source, "audio": args.audio or cfg.audio.source}
    for item in args.source:
        name, sep, spec = item.partition("=")
        if not sep or name not in names(cfg):
            fail(f"--source {item!r}: expected MODALITY=SPEC with one of {', '.join(names(cfg))}")
        out[name] = spec
    return out


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args, **{"run.duration_s": args.duration, "run.speed": args.speed})
    sources = sources_from(args, cfg)
    check_empty_dir(args.record, "--record")
    return Pipeline(cfg, RunOptions(sources=sources), output_sinks(args, "live", interactive=True,
                                                                  record=args.record)).run()
