"""The command line: one module per command, each parsing its flags and calling the app layer.

``stream-assistant COMMAND ...`` (the installed console script) and
``python launch.py COMMAND ...`` are the same thing.
"""

from __future__ import annotations

import argparse
import os
import sys

# Before any model library loads: nothing may reach for a hub, and OpenCV/FFmpeg print no lines
# of their own about a bad file (we print one of ours).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

COMMANDS = ("live", "replay", "demo", "record", "import_session", "eval", "corpus", "train", "say",
            "devices", "bench", "train_text", "keys", "asr_eval", "worker")


class _Parser(argparse.ArgumentParser):
    """Bad flags are one line too (``--help`` shows the usage)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    p = _Parser(prog="stream-assistant",
                                description="Streaming multimodal assistant (see README).")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in COMMANDS:
        importlib.import_module(f"stream.cli.{name}").add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    import faulthandler

    from stream.app import pipeline
    from stream.errors import StreamError

    args = build_parser().parse_args(argv)
    if argv is None:  # the real command line, not a caller in-process (tests)
        pipeline.STOP_WATCHDOG_S = 20.0
    try:
        return args.fn(args)
    except StreamError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a path the checks could not foresee (permissions, a full disk, ...)
        print(f"error: {e.filename or ''}{': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:  # nothing may keep a finished command from exiting (see pipeline.STOP_WATCHDOG_S)
        if argv is None:
            faulthandler.dump_traceback_later(20.0, exit=True)
