"""The supervisor's plan (which workers, wired to what) and the worker spec it hands out."""

import pytest

from stream.config import Config
from stream.errors import StreamError
from stream.process.runtime import Spec
from stream.process.stage import RunOptions
from stream.process.supervisor import plan

pytestmark = pytest.mark.unit


def test_the_graph_comes_from_the_registry():
    streams, workers = plan(Config(), {"video": "synthetic", "audio": "mic"})
    assert streams == ["video", "audio", "text"]
    assert [(w.name, w.inputs) for w in workers] == [
        ("video", ()), ("audio", ()), ("asr", ("audio",)), ("text", ("asr",)),
        ("fusion", ("video", "audio", "text"))]


def test_video_gives_way_on_a_busy_machine_and_hearing_does_not():
    _, workers = plan(Config(), {"video": "synthetic", "audio": "mic"})
    assert {w.name: w.nice for w in workers} == {"video": 10, "audio": 0, "asr": 0, "text": 0,
                                                "fusion": 0}


def test_only_what_has_a_source_runs_and_inputs_that_are_absent_are_dropped():
    streams, workers = plan(Config(), {"video": "none", "audio": "x.wav"})
    assert streams == ["audio", "text"]
    cfg = Config()
    cfg.asr.enabled = False
    _, workers = plan(cfg, {"audio": "x.wav"})
    assert [(w.name, w.inputs) for w in workers] == [
        ("audio", ()), ("text", ()), ("fusion", ("audio", "text"))]


def test_a_spec_round_trips_with_typed_options():
    opts = RunOptions(sources={"video": "session:/s"}, typed=[{"t": 1.0, "text": "hi"}], scripted=True,
                      start_s=2.0, loop_period_s=5.0, streams=["video", "text"])
    spec = Spec("video", Config().to_dict(), {"video": "tcp://127.0.0.1:1"}, opts, ["x"])
    back = Spec.loads(spec.dumps())
    assert back == spec and isinstance(back.options, RunOptions)


def test_a_restart_warning_names_the_cause(tmp_path):
    from stream.process.supervisor import exit_cause

    log = tmp_path / "w.log"
    log.write_text("Loading weights: 100%\nTraceback (most recent call last):\n  ...\nValueError: boom\n")
    assert exit_cause(-9, log) == "killed by SIGKILL"
    assert exit_cause(1, log) == "exited with code 1: ValueError: boom"
    assert exit_cause(3, tmp_path / "none.log") == "exited with code 3"


class _Dead:
    """A worker process that has exited."""

    pid, returncode = 4242, 1

    def poll(self):
        return 1


def test_failures_in_a_row_give_up_but_a_worker_that_ran_steadily_starts_counting_again(tmp_path):
    import time

    from stream.process.supervisor import STEADY_S, Proc, Supervisor

    sup = Supervisor(Config(), RunOptions(sources={"video": "synthetic", "audio": "none"}))
    sent = []
    sup.control = type("Ctl", (), {"send": lambda self, m: sent.append(m.meta)})()
    try:
        now = time.monotonic()
        steady = Proc("video", _Dead(), tmp_path / "v.log", restarts=9, in_row=5, heard=True,
                      spawned=now - STEADY_S - 1)
        sup._failed(steady, now, dead=True)  # ran a minute since its last failure: restarted
        assert "video" not in sup.lost and steady.in_row == 0 and steady.next_restart == now + 1
        assert sup.health["video"]["state"] == "down"
        flapping = Proc("video", _Dead(), tmp_path / "v.log", restarts=9, in_row=5, heard=True,
                        spawned=now - 1)
        sup._failed(flapping, now, dead=True)  # the fifth failure in a row: given up
        assert "video" in sup.lost and sup.health["video"]["state"] == "lost"
        assert sent[-1] == {"cmd": "lost", "to": "*", "stream": "video"}
        assert sup.events[-1] == "video: exited with code 1; gave up after 5 restarts in a row"
    finally:
        sup.rundir.remove()


def test_net_remote_is_checked_before_anything_starts(tmp_path):
    from stream import config as config_mod
    from stream.process.supervisor import check_remote

    def cfg(**net):
        return config_mod.from_dict({"net": net})

    names = ["video", "audio", "asr", "text", "fusion"]
    assert check_remote(cfg(), names) == {}
    ok = cfg(transport="tcp", curve_dir=str(tmp_path), remote={"video": "tcp://10.0.0.5:5710"})
    assert check_remote(ok, names) == {"video": "tcp://10.0.0.5:5710"}
    with pytest.raises(StreamError, match="'asr' is not a capture worker of this run"):
        check_remote(cfg(transport="tcp", curve_dir=str(tmp_path), remote={"asr": "tcp://a:1"}), names)
    with pytest.raises(StreamError, match="expected tcp://HOST:PORT"):
        check_remote(cfg(transport="tcp", curve_dir=str(tmp_path), remote={"video": "10.0.0.5"}), names)
    with pytest.raises(StreamError, match="needs net.transport"):
        check_remote(cfg(remote={"video": "tcp://10.0.0.5:5710"}), names)
