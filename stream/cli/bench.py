"""``bench``: latency and throughput on this machine (see :mod:`stream.offline.bench`)."""

from __future__ import annotations

import argparse


def add(sub) -> None:
    sp = sub.add_parser("bench", help="measure latency and throughput on this machine")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke test)")
    sp.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    from stream.offline.bench import print_table, run_bench

    result = run_bench(quick=args.quick)
    if args.json:
        import json

        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0
