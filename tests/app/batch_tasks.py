"""Task functions for the batch tests (module level: Ray ships them by reference)."""

import os
import time
from pathlib import Path


def square_slowly(x: int, delay_s: float) -> tuple[int, int]:
    time.sleep(delay_s)
    return x * x, os.getpid()


def fails_once(marker: str, x: int) -> int:
    """Fails the first time it runs for this marker (a crashed worker, a full disk...)."""
    m = Path(marker)
    if not m.exists():
        m.write_text("failed once")
        raise RuntimeError(f"first attempt at {x} fails")
    return x


def always_fails(x: int) -> int:
    raise ValueError(f"bad session {x}")


def omp_threads(_x: int) -> str | None:
    return os.environ.get("OMP_NUM_THREADS")
