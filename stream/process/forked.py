"""Workers forked from a process that has imported torch already (a fork server).

Four of the five workers run torch models. Started afresh, each imports torch itself:
hundreds of MB of proportional memory (PSS) each before any model loads, and seconds of
imports competing for the CPU at start-up. Forked from one process that imported it once
(``multiprocessing``'s fork server, which forks before any thread starts), they share those
pages copy-on-write: four such processes took ~600 MB together instead of ~1.8 GB (measured
when torchvision and transformers were imported too). A worker that runs no torch model
(the recogniser) is still started afresh, so it never maps torch at all.

:class:`ForkedProcess` gives the supervisor what it uses of ``subprocess.Popen``.
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

# Imported once in the fork server: torch and what the workers import around their models
# (imports only: no model loads there, and nothing that starts a thread before the forks).
# Neither transformers nor torchvision: MiniLM and MobileNetV2 are written out in plain torch
# (importing those took ~3 s and ~1.4 s; encoders/text.py, encoders/vision.py).
PRELOAD = ["torch", "torchaudio", "tokenizers", "safetensors.torch", "cv2", "stream.encoders.text",
           "stream.encoders.minilm", "stream.encoders.vision", "stream.encoders.audio",
           "stream.intent.fusion_net"]
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
    # tqdm's default lock (a model loader's progress bar) is a multiprocessing semaphore:
    # here it would register with the launcher's resource tracker, inherited through the fork
    # server, and be reported as leaked when the worker leaves with os._exit. A thread lock
    # is all one process needs.
    import threading

    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    runpy.run_module(module, run_name="__main__", alter_sys=True)


class ForkedProcess:
    """``python -m MODULE ARGV``, forked from the fork server, with Popen's interface.

    The fork server is the worker's parent and reports its exit code; should the fork
    server itself die, it would report a live worker as exited (255). So whether the worker
    runs is asked of a pidfd on the worker itself, which is also what signals go to (no pid
    reuse: the fork server, not we, reaps it)."""

    def __init__(self, module: str, argv: list[str], log: Path, env: dict[str, str], cwd: Path) -> None:
        # daemon: at the launcher's exit multiprocessing terminates it rather than waiting
        # for a worker that itself waits for the launcher to go.
        self._p = _context().Process(target=_child, name=module, daemon=True,
                                     args=(module, list(argv), str(log), dict(env), str(cwd)))
        self._p.start()
        self.pid: int = self._p.pid  # type: ignore[assignment]
        self.returncode: int | None = None
        try:
            self._fd: int | None = os.pidfd_open(self.pid)
        except OSError:  # gone already, or no pidfd here: trust the fork server
            self._fd = None

    def _running(self) -> bool:
        return self._fd is not None and not select.select([self._fd], [], [], 0)[0]

    def poll(self) -> int | None:
        if self.returncode is None:
            code = self._p.exitcode  # negative: killed by that signal, as Popen says
            if code is not None and not self._running():
                self.returncode = code
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self._p.name or "worker", timeout or 0.0)
            fds = [self._p.sentinel] + ([self._fd] if self._fd is not None else [])
            select.select(fds, [], [], 0.1 if left is None else min(left, 0.1))
        return self.returncode  # type: ignore[return-value]

    def _signal(self, sig: int) -> None:
        if self.poll() is not None:
            return
        try:
            if self._fd is not None:
                signal.pidfd_send_signal(self._fd, sig)
            else:
                os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
