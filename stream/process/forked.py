"""Workers forked from a process that has imported torch already (a fork server).

Four of the five workers run torch models. Started afresh, each imports torch, torchvision
and transformers itself: ~450 MB of proportional memory (PSS) each before any model loads,
and seconds of imports competing for the CPU at start-up. Forked from one process that
imported them once (``multiprocessing``'s fork server, which forks before any thread
starts), they share those pages copy-on-write: four such processes take ~600 MB together
instead of ~1.8 GB (measured). A worker that runs no torch model (the recogniser) is still
started afresh, so it never maps torch at all.

:class:`ForkedProcess` gives the supervisor what it uses of ``subprocess.Popen``.
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import subprocess
import sys
from pathlib import Path

# Imported once in the fork server: torch and what the workers import around their models
# (imports only: no model loads there, and nothing that starts a thread before the forks).
PRELOAD = ["torch", "torchvision", "torchaudio", "transformers", "cv2", "stream.encoders.text",
           "stream.encoders.vision", "stream.encoders.audio", "stream.intent.fusion_net"]
_ctx = None


def _context():
    global _ctx
    if _ctx is None:
        _ctx = multiprocessing.get_context("forkserver")
        _ctx.set_forkserver_preload(PRELOAD)
    return _ctx


def warm_up() -> None:
    """Start the fork server now, so that its imports overlap the rest of the start-up."""
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


def _child(module: str, argv: list[str], log: str, env: dict[str, str], cwd: str) -> None:
    """In the forked process: become ``python -m MODULE ARGV`` with its log as stdout/stderr."""
    import setproctitle

    os.chdir(cwd)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - line by line, like
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115 - PYTHONUNBUFFERED
    # For ps and /proc (before the environment changes: setproctitle finds its room there).
    setproctitle.setproctitle(" ".join([sys.executable, "-m", module, *argv]))
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [module, *argv]
    sys.path.insert(0, cwd)  # as `python -m` run there puts it first (the workers package)
    # tqdm's default lock (transformers' "Loading weights" bar) is a multiprocessing semaphore:
    # here it would register with the launcher's resource tracker, inherited through the fork
    # server, and be reported as leaked when the worker leaves with os._exit. A thread lock
    # is all one process needs.
    import threading

    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    runpy.run_module(module, run_name="__main__", alter_sys=True)


class ForkedProcess:
    """``python -m MODULE ARGV``, forked from the fork server, with Popen's interface."""

    def __init__(self, module: str, argv: list[str], log: Path, env: dict[str, str], cwd: Path) -> None:
        self._p = _context().Process(target=_child, name=module,
                                     args=(module, list(argv), str(log), dict(env), str(cwd)))
        self._p.start()
        self.pid: int = self._p.pid  # type: ignore[assignment]
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._p.exitcode  # negative: killed by that signal, as Popen says
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._p.join(timeout)
        if self.poll() is None:
            raise subprocess.TimeoutExpired(self._p.name or "worker", timeout or 0.0)
        return self.returncode  # type: ignore[return-value]

    def terminate(self) -> None:
        if self.poll() is None:
            self._p.terminate()

    def kill(self) -> None:
        if self.poll() is None:
            self._p.kill()
