"""Each run's private directory: mode 0700, found by `say` while it runs, gone after."""

import json
import os
import stat

import pytest

from stream.errors import StreamError
from stream.process import rundir
from stream.process.rundir import RunDir, running_assistants, runtime_root

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def private_root(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))


def test_runs_get_private_directories_of_their_own():
    a, b = RunDir(), RunDir()
    assert a.path != b.path and a.endpoint("video") != b.endpoint("video")
    for p in (runtime_root(), a.path):
        assert stat.S_IMODE(p.stat().st_mode) == 0o700
    assert a.endpoint("say").startswith("ipc://") and str(a.path) in a.endpoint("say")
    a.remove()
    assert not a.path.exists() and b.path.exists()


def test_say_finds_running_assistants_and_skips_dead_ones():
    live, dead = RunDir(), RunDir()
    live.announce(live.endpoint("say"))
    (dead.path / rundir.DISCOVERY).write_text(json.dumps({"pid": 2**22 + 12345, "say": "ipc://x"}))
    found = running_assistants()
    assert [a["pid"] for a in found] == [os.getpid()] and found[0]["say"] == live.endpoint("say")


def test_a_runtime_folder_others_can_enter_is_refused(tmp_path):
    (tmp_path / "stream-assistant").mkdir(mode=0o777)
    os.chmod(tmp_path / "stream-assistant", 0o777)
    with pytest.raises(StreamError, match="not a private directory"):
        runtime_root()


def test_folders_of_killed_runs_are_cleared_by_the_next_run():
    dead, mine = RunDir(), RunDir()
    (dead.path / rundir.OWNER).write_text(str(2**22 + 12345))  # a pid nobody has
    RunDir()
    assert not dead.path.exists() and mine.path.exists()
