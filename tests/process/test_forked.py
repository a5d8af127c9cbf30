"""Workers forked from the fork server behave as the subprocesses they replace."""

import signal
import subprocess
import time
from pathlib import Path

import pytest

from stream.offline import procfs
from stream.process.forked import ForkedProcess

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_a_forked_module_runs_with_its_argv_env_cwd_and_log_and_its_exit_code(tmp_path):
    log = tmp_path / "w.log"
    p = ForkedProcess("tests.process.forked_target", ["3"], log, {"FORKED_TEST": "yes"}, REPO)
    assert p.wait(60) == 3 and p.poll() == 3
    text = log.read_text()
    assert "argv ['3'] env yes" in text and f"cwd {REPO}" in text and "to stderr" in text


def test_a_forked_worker_shows_its_module_and_dies_by_its_signal(tmp_path):
    p = ForkedProcess("tests.process.forked_target", ["0", "60"], tmp_path / "w.log", {}, REPO)
    with pytest.raises(subprocess.TimeoutExpired):
        p.wait(0.5)
    assert p.poll() is None
    assert procfs.worker_name(p.pid) == "" and b"tests.process.forked_target" in Path(
        f"/proc/{p.pid}/cmdline").read_bytes()  # ps shows what it runs
    p.kill()
    assert p.wait(30) == -signal.SIGKILL


def test_a_worker_outliving_its_fork_server_is_still_running_and_can_be_stopped(tmp_path):
    """The fork server reports a live worker as exited (255) when it dies itself; the pidfd
    says otherwise, so the supervisor neither starts a second one nor loses track of it."""
    import os
    from multiprocessing import forkserver

    p = ForkedProcess("tests.process.forked_target", ["0", "60"], tmp_path / "w.log", {}, REPO)
    server = forkserver._forkserver._forkserver_pid
    os.kill(server, signal.SIGKILL)  # (left unreaped: multiprocessing reaps and restarts it)
    deadline = time.monotonic() + 30
    while procfs.alive(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert p._p.exitcode is not None  # what the fork server's end told multiprocessing
    assert p.poll() is None and procfs.alive(p.pid)
    p.kill()
    assert p.wait(30) is not None and not procfs.alive(p.pid)
