"""``say TEXT``: send typed text to a running assistant."""

from __future__ import annotations

import argparse

from stream.cli.common import add_common, load_config
from stream.errors import fail
from stream.process.supervisor import send_say


def add(sub) -> None:
    sp = sub.add_parser("say", help="send typed text to a running assistant")
    add_common(sp)
    sp.add_argument("text", nargs="+")
    sp.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    text = " ".join(args.text).strip()
    if not text:
        fail("say: nothing to send")
    ep = f"tcp://{cfg.net.host}:{cfg.net.say_port}"
    if not send_say(ep, text):
        fail(f"say: no assistant is listening on {ep} (start `launch.py live` first)")
    return 0
