"""A busy machine on demand: one process per core spinning at normal priority.

    .venv/bin/python -m stream.offline.busy -- COMMAND [ARGS...]

runs COMMAND while every core is kept at 100 % by other work (as a home machine
often is), then stops the spinners and exits with COMMAND's status. ``bench`` uses
the same spinners for its loaded-machine section.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import subprocess
import sys
from collections.abc import Iterator


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def busy(n: int | None = None) -> Iterator[None]:
    """Keep ``n`` (default: every) cores busy while the block runs."""
    ctx = mp.get_context("spawn")
    hogs = [ctx.Process(target=_spin, daemon=True) for _ in range(n or os.cpu_count() or 2)]
    for h in hogs:
        h.start()
    try:
        yield
    finally:
        for h in hogs:
            h.terminate()
            h.join()


if __name__ == "__main__":
    cmd = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    if not cmd:
        sys.exit("usage: python -m stream.offline.busy -- COMMAND [ARGS...]")
    with busy():
        sys.exit(subprocess.call(cmd))
