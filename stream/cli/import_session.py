"""``import DIR``: build a session from ordinary media files (validated first, written atomically)."""

from __future__ import annotations

import argparse
from pathlib import Path

from stream.cli.common import check_output
from stream.intent.intent_set import names


def add(sub) -> None:
    sp = sub.add_parser("import", help="build a session from ordinary media files")
    sp.add_argument("dir")
    sp.add_argument("--video", help="any video OpenCV reads")
    sp.add_argument("--audio", help="WAV/FLAC/OGG, any rate")
    sp.add_argument("--text", help="typed text events, JSONL {t, text}")
    sp.add_argument("--labels", help="labelled spans, JSONL {start, end, intent}")
    sp.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    from stream.session.importer import import_session  # torch: only for this command

    def opt(x: str | None) -> Path | None:
        return Path(x) if x else None

    check_output(args.dir, directory=True)
    r = import_session(Path(args.dir), opt(args.video), opt(args.audio), opt(args.text),
                       opt(args.labels), names())
    print(f"imported {args.dir}: {r['duration_s']:.2f} s, streams {', '.join(r['streams'])}, "
          f"{r['labels']} labelled spans")
    return 0
