"""A replay that lost or restarted a worker leaves no feature cache behind (a retry would take it as done)."""

from types import SimpleNamespace

import pytest

from stream.app import replay
from stream.config import Config
from stream.errors import StreamError
from stream.session.features import has_features
from stream.session.format import Session, VideoWriter, write_manifest

pytestmark = pytest.mark.unit


def test_a_replay_that_lost_a_worker_removes_the_cache_it_wrote(tmp_path, monkeypatch):
    (tmp_path / "s").mkdir()
    write_manifest(tmp_path / "s", complete=True, source="test")
    VideoWriter(tmp_path / "s", 15).close()
    session = Session(tmp_path / "s")

    class LosesAWorker:
        """Fusion wrote what it had (here: a cache with no text), then the run reports a loss."""

        def __init__(self, cfg, options, sinks):
            self.root = tmp_path / "s"

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
        self.sup = SimpleNamespace(procs={"text": SimpleNamespace(restarts=1)})

    def run(self) -> int:
        RestartsAWorker.runs += 1
        (self.root / "features").mkdir(exist_ok=True)
        (self.root / "features" / "meta.json").write_text('{"streams": []}')
        return 0


def test_a_replay_with_a_restart_keeps_its_predictions_but_no_cache_and_encoding_tries_twice(
        tmp_path, monkeypatch):
    (tmp_path / "s").mkdir()
    write_manifest(tmp_path / "s", complete=True, source="test")
    VideoWriter(tmp_path / "s", 15).close()
    session = Session(tmp_path / "s")
    monkeypatch.setattr(replay, "Pipeline", RestartsAWorker)
    assert replay.replay_predictions(session, Config(), cache=True) == []
    assert not (tmp_path / "s" / "features").exists()
    RestartsAWorker.runs = 0
    with pytest.raises(StreamError, match="without writing features twice"):
        replay.ensure_features(session, Config(), log=lambda _: None)
    assert RestartsAWorker.runs == 2
