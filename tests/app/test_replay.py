"""A replay that lost or restarted a worker leaves no feature cache behind (a retry would take it as
done), and a replay that came out incomplete is run again, then fails: never scored as the session's."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from stream.app import replay
from stream.config import Config
from stream.errors import StreamError
from stream.session.features import has_features
from stream.session.format import Session, VideoWriter, write_manifest

pytestmark = pytest.mark.unit


def test_a_replay_that_lost_a_worker_removes_the_cache_it_wrote(tmp_path, monkeypatch):
    session = _session(tmp_path / "s")

    class LosesAWorker:
        """Fusion wrote what it had (here: a cache with no text), then the run reports a loss."""

        def __init__(self, cfg, options, sinks):
            self.root = tmp_path / "s"
            self.sup, self.interrupted = SimpleNamespace(procs={}, lost={"video"}, stale_predictions=0), False

        def run(self) -> int:
            (self.root / "features").mkdir()
            (self.root / "features" / "meta.json").write_text('{"streams": []}')
            return 1

    monkeypatch.setattr(replay, "Pipeline", LosesAWorker)
    with pytest.raises(StreamError, match="a worker was lost"):
        replay.replay_predictions(session, Config(), cache=True)
    assert not (tmp_path / "s" / "features").exists() and not has_features(tmp_path / "s")


class RestartsAWorker:
    """Fusion writes a cache (whatever it had), and a worker was restarted along the way."""

    runs = 0

    def __init__(self, cfg, options, sinks):
        self.root = Session(options.cache).root
        self.sup = SimpleNamespace(procs={"text": SimpleNamespace(restarts=1)}, lost=set(),
                                   stale_predictions=0)
        self.interrupted = False

    def run(self) -> int:
        RestartsAWorker.runs += 1
        (self.root / "features").mkdir(exist_ok=True)
        (self.root / "features" / "meta.json").write_text('{"streams": []}')
        return 0


def _session(root: Path, seconds: float = 0.0) -> Session:
    root.mkdir()
    write_manifest(root, complete=True, source="test", duration_s=seconds)
    VideoWriter(root, 15).close()
    return Session(root)


def test_a_replay_with_a_restart_is_run_again_then_fails_and_leaves_no_cache(tmp_path, monkeypatch):
    session = _session(tmp_path / "s")
    monkeypatch.setattr(replay, "Pipeline", RestartsAWorker)
    with pytest.raises(StreamError, match=r"incomplete twice \(restarted text 1x"):
        replay.replay_predictions(session, Config(), cache=True)
    assert RestartsAWorker.runs == 2 and not (tmp_path / "s" / "features").exists()
    RestartsAWorker.runs = 0
    with pytest.raises(StreamError, match="incomplete twice"):
        replay.ensure_features(session, Config(), log=lambda _: None)
    assert RestartsAWorker.runs == 2


def _stops_short(runs: list[float]):
    """A run with no restart whose predictions end at ``runs[i]`` s on its i-th try (a drain cut
    short, a silent stall: whatever the cause, the predictions show it)."""

    class StopsShort:
        def __init__(self, cfg, options, sinks):
            self.mem = sinks[0]
            self.sup, self.interrupted = SimpleNamespace(procs={}, lost=set(), stale_predictions=0), False

        def run(self) -> int:
            last = runs.pop(0)
            for k in range(1, round(last / 0.2) + 1):
                self.mem.prediction({"t": round(k * 0.2, 1), "intent": "none"})
            return 0

    return StopsShort


def test_predictions_that_stop_short_are_replayed_and_the_whole_run_is_kept(tmp_path, monkeypatch, capsys):
    session = _session(tmp_path / "s", seconds=10)
    tries = [4.0, 10.0]
    monkeypatch.setattr(replay, "Pipeline", _stops_short(tries))
    preds = replay.replay_predictions(session, Config(), cache=False)
    assert not tries and preds[-1]["t"] == 10.0 and len(preds) == 50
    assert "replaying again: predictions stop at 4.0 s of 10.0 s" in capsys.readouterr().err


def test_predictions_that_stop_short_twice_are_an_error_not_a_score(tmp_path, monkeypatch):
    session = _session(tmp_path / "s", seconds=10)
    monkeypatch.setattr(replay, "Pipeline", _stops_short([4.0, 4.0]))
    with pytest.raises(StreamError, match=r"s: the replay came out incomplete twice \(predictions stop at 4"):
        replay.replay_predictions(session, Config(), cache=False)
    # The last window may end a little more than one window short of the media's end: whole.
    monkeypatch.setattr(replay, "Pipeline", _stops_short([7.6]))
    assert len(replay.replay_predictions(session, Config(), cache=False)) == 38


def test_a_replay_stopped_by_the_user_is_not_run_again(tmp_path, monkeypatch):
    session = _session(tmp_path / "s", seconds=10)
    runs = []

    class Interrupted(_stops_short([1.0])):
        def run(self) -> int:
            runs.append(1)
            self.interrupted = True
            return super().run()

    monkeypatch.setattr(replay, "Pipeline", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        replay.replay_predictions(session, Config(), cache=False)
    assert runs == [1]


def test_a_session_whose_media_end_early_is_judged_by_its_media(tmp_path, monkeypatch):
    """A recording whose capture died near the end: the manifest says 10 s, the video ends at
    6 s; predictions to 5 s are the whole of what it holds."""
    root = tmp_path / "s"
    root.mkdir()
    write_manifest(root, complete=True, source="test", duration_s=10.0)
    v = VideoWriter(root, 15)
    for i in range(90):
        v.add(np.zeros((16, 16, 3), np.uint8), i / 15)
    v.close()
    session = Session(root)
    assert session.duration_s == 10.0 and session.media_end_s == pytest.approx(6.0)
    monkeypatch.setattr(replay, "Pipeline", _stops_short([5.0]))
    assert len(replay.replay_predictions(session, Config(), cache=False)) == 25
