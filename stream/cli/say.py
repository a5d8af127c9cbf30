"""``say TEXT``: send typed text to a running assistant of this user's (found in its run directory)."""

from __future__ import annotations

import argparse

from stream.core.keys import bus_keys
from stream.errors import fail
from stream.process.rundir import running_assistants
from stream.process.supervisor import send_say
from stream.stages.text import MAX_SAY_CHARS


def add(sub) -> None:
    sp = sub.add_parser("say", help="send typed text to a running assistant")
    sp.add_argument("text", nargs="+")
    sp.add_argument("--pid", type=int, help="which assistant, when several run (default: the newest)")
    sp.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    text = " ".join(args.text).strip()
    if not text:
        fail("say: nothing to send")
    if len(text) > MAX_SAY_CHARS:
        fail(f"say: the line is {len(text)} characters long; at most {MAX_SAY_CHARS}")
    found = [a for a in running_assistants() if args.pid in (None, a["pid"])]
    if not found:
        fail("say: no assistant is running" + (f" with pid {args.pid}" if args.pid else "") +
             " (start `launch.py live` first)")
    if not send_say(found[0]["say"], text, bus_keys(found[0]["curve_dir"])):
        fail(f"say: the assistant (pid {found[0]['pid']}) did not take the line")
    return 0
