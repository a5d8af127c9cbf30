"""``keys DIR``: make CURVE keys for a bus on TCP (``net.curve_dir``); copy DIR to the other host."""

from __future__ import annotations

import argparse

from stream.cli.common import check_output
from stream.core.keys import create_keys


def add(sub) -> None:
    sp = sub.add_parser("keys", help="make CURVE keys for workers on other hosts (net.curve_dir)")
    sp.add_argument("dir")
    sp.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    check_output(args.dir, directory=True)
    d = create_keys(args.dir)
    print(f"keys in {d} (mode 0700): set net.curve_dir = \"{d}\" on every host of the assistant; "
          f"the *.key_secret files are the credentials")
    return 0
