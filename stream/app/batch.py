"""Batch work over many sessions (encoding, evaluation, training sweeps): one task per item,
run one after another in this process, or as Ray tasks.

By default a local Ray is started on demand with one task slot per CPU (nothing to set up
beyond the install); ``ray_address`` joins an existing cluster instead (``auto``, or
``HOST:PORT`` of a ``ray start --head``); ``workers=1`` keeps the sequential path, as does a
batch of one. Results come back in the order of the items, whatever order the tasks finish
in, so a batch's output is the sequential run's. A task that fails is submitted again (its
session named on the console) up to ``retries`` times; then the batch ends with one line
naming every session that failed, after the others have finished (their work is kept).

The task functions must be importable module-level functions (Ray ships them by reference)
and should pin their own thread counts: results must not depend on how many run at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stream.errors import StreamError


@dataclass(frozen=True)
class BatchOptions:
    workers: int = 0  # task slots; 0: one per CPU; 1: sequential, in this process, without Ray
    ray_address: str = ""  # an existing Ray cluster; empty: a local one started on demand
    retries: int = 2  # times a failed task is submitted again


SEQUENTIAL = BatchOptions(workers=1)  # what a Python caller gets unless it asks for more


def add_batch_flags(sp) -> None:
    """``--workers`` and ``--ray-address`` on a command that runs a batch."""
    sp.add_argument("--workers", type=int, default=0,
                    help="parallel tasks (default: one per CPU, on a local Ray); 1: one after another")
    sp.add_argument("--ray-address", default="", metavar="ADDR",
                    help="run the tasks on this Ray cluster ('auto' or HOST:PORT) instead")


def batch_options(args) -> BatchOptions:
    if args.workers < 0:
        raise StreamError(f"--workers: expected 0 (one per CPU) or more, got {args.workers}")
    return BatchOptions(args.workers, args.ray_address)


def run_batch(fn: Callable[..., Any], items: Sequence[tuple], names: Sequence[str],
              opts: BatchOptions = SEQUENTIAL, desc: str = "tasks") -> list[Any]:
    """``[fn(*item) for item in items]``, sequentially or as Ray tasks (see the module doc)."""
    workers = opts.workers or os.cpu_count() or 1
    if len(items) <= 1 or (workers == 1 and not opts.ray_address):
        return _sequential(fn, items, names, desc)
    return _on_ray(fn, items, names, opts, workers, desc)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[note]}"), transient=True)


def _sequential(fn, items, names, desc) -> list[Any]:
    out = []
    with _progress() as prog:
        task = prog.add_task(desc, total=len(items), note="")
        for item, name in zip(items, names, strict=True):
            prog.update(task, note=name)
            out.append(fn(*item))
            prog.advance(task)
    return out


def _on_ray(fn, items, names, opts: BatchOptions, workers: int, desc: str) -> list[Any]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine
    import ray

    try:
        if opts.ray_address:
            ray.init(address=opts.ray_address, log_to_driver=False, configure_logging=False)
        else:
            # "local": always a new private instance, never one some other job left running.
            ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise StreamError(f"ray {opts.ray_address or '(local)'}: cannot start or join ({e})") from None
    try:
        return _submit_and_collect(ray, fn, items, names, opts.retries, desc)
    finally:
        ray.shutdown()


def _submit_and_collect(ray, fn, items, names, retries: int, desc: str) -> list[Any]:
    # Retries are ours, not Ray's: each one is said, with the session's name and the cause.
    remote = ray.remote(num_cpus=1, max_retries=0, retry_exceptions=False)(_as_the_driver_runs)
    omp = os.environ.get("OMP_NUM_THREADS")
    items = [(fn, omp, *item) for item in items]
    results: dict[int, Any] = {}
    failed: dict[int, str] = {}
    tries = dict.fromkeys(range(len(items)), 0)
    pending = {remote.remote(*item): i for i, item in enumerate(items)}
    with _progress() as prog:
        task = prog.add_task(f"{desc} (ray)", total=len(items), note="")
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in done:
                i = pending.pop(ref)
                try:
                    results[i] = ray.get(ref)
                    prog.advance(task)
                    prog.update(task, note=names[i])
                    continue
                except (ray.exceptions.RayError, StreamError) as e:
                    why = _cause(e)
                if tries[i] < retries:
                    tries[i] += 1
                    prog.console.print(f"{names[i]}: failed ({why}); retrying ({tries[i]}/{retries})")
                    pending[remote.remote(*items[i])] = i
                else:
                    failed[i] = why
                    prog.advance(task)
    if failed:
        raise StreamError("; ".join(f"{names[i]}: failed {retries + 1} times, last: {failed[i]}"
                                    for i in sorted(failed)))
    return [results[i] for i in range(len(items))]


def _as_the_driver_runs(fn, omp: str | None, *args):
    """``fn(*args)`` in a Ray task, with the driver's OMP_NUM_THREADS: Ray sets it to 1 in its
    workers, and the worker processes a task starts inherit it. CTranslate2 then decodes with
    other arithmetic (a beam's scores differ; at a 6 s window, a chosen hypothesis's embedding
    did), so a feature cache encoded on Ray was not byte for byte the sequential one."""
    if omp is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = omp
    return fn(*args)


def _cause(e: Exception) -> str:
    """The task's own error, in one line (Ray wraps it with the remote traceback)."""
    inner = getattr(e, "cause", None) or e
    return (str(inner).strip().splitlines() or [type(inner).__name__])[-1][:300]
