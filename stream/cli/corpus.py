"""``corpus OUT``: rebuild the labelled training corpus, then encode it (feature caches)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from stream.app.batch import add_batch_flags, batch_options
from stream.cli.common import add_common, check_output, load_config, open_session
from stream.errors import fail


def add(sub) -> None:
    sp = sub.add_parser("corpus", help="rebuild the labelled training corpus (and encode it)")
    add_common(sp)
    sp.add_argument("out")
    sp.add_argument("--scale", type=float, default=1.0, help="fraction of the default size")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--no-features", action="store_true", help="only write the sessions")
    add_batch_flags(sp)
    sp.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    from stream.app.evaluation import encode_sessions
    from stream.offline import corpus

    if not 0 < args.scale <= 6:  # (above, session seeds would repeat: natural 50 = robotic 0)
        fail(f"--scale: expected a fraction in (0, 6], got {args.scale}")
    check_output(args.out, directory=True)
    cfg = load_config(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    summary = corpus.build(out, scale=args.scale, seed=args.seed, log=print, batch=batch_options(args),
                           home=cfg.home)
    print(f"built in {time.monotonic() - t0:.0f} s")
    if not args.no_features:
        t1 = time.monotonic()
        sessions = [open_session(str(m.parent)) for m in sorted(out.glob("*/*/manifest.json"))]
        encode_sessions(sessions, cfg, batch_options(args))
        print(f"encoded in {time.monotonic() - t1:.0f} s")
    print(json.dumps({k: {n: v.get("duration_s") for n, v in e.items()}
                      for k, e in summary["splits"].items()}))
    return 0
