"""The video stage live: fresh face cues with every frame, the scene embedding when it is ready."""

import threading

import numpy as np
import pytest

from stream.config import Config
from stream.core.clock import now_ns
from stream.process.stage import RunOptions, run_stage
from stream.sources import video as video_sources
from stream.stages.video import VideoStage

pytestmark = pytest.mark.unit


class CountingEmbedder:
    """Embeds each batch as the number of the call; calls listed in ``slow`` wait for
    ``release`` (a starved CPU), so the stage must decide whether to wait."""

    def __init__(self, slow: set[int]) -> None:
        self.calls, self.slow, self.release = 0, slow, threading.Event()

    def __call__(self, frames):
        k = self.calls
        self.calls += 1
        if k in self.slow:
            self.release.wait(10)
        return [np.full(4, float(k), np.float32) for _ in frames]


def cues(frame) -> np.ndarray:
    return np.zeros(11, np.float32)


def run(live: bool, embed: CountingEmbedder, wait_ms: float = 30.0, seconds: float = 1.0):
    # The synthetic camera, stopped after ``seconds`` (a live one runs until the run ends).
    class ShortCamera(video_sources.SyntheticVideoSource):
        def __init__(self, *args) -> None:
            super().__init__(*args, duration_s=seconds)

    cfg = Config()
    cfg.video.embed_wait_ms = wait_ms
    cfg.run.replay, cfg.run.speed = (False, 1.0) if live else (True, 0.0)
    stage = VideoStage(cues, embed)
    # The slow embedding ends while later frames are being captured.
    timer = threading.Timer(0.4, embed.release.set)
    timer.start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(video_sources, "SyntheticVideoSource", ShortCamera)
            outs = run_stage(stage, cfg=cfg, options=RunOptions(sources={"video": "synthetic"}),
                             origin_ns=now_ns())  # paced from now, as a camera
    finally:
        timer.cancel()
        embed.release.set()
    return stage, outs


def test_live_frames_go_out_with_the_newest_finished_embedding_while_theirs_is_late():
    stage, outs = run(True, CountingEmbedder(slow={2}), wait_ms=100.0)
    got = [int(o.parts["embedding"][0]) for o in outs]
    assert len(outs) >= 8 and all("cues" in o.parts for o in outs)
    # While embedding 2 is held up, the frames captured meanwhile go out with an earlier one
    # (counted late) instead of waiting; once it lands, embeddings go on, never backwards.
    assert stage.ctx.stats["embedding_late"] >= 1 and len(got) > len(set(got))
    assert got == sorted(got) and got[0] == 0 and 2 in got and got[-1] > 2
    assert [o.t_start for o in outs] == sorted(o.t_start for o in outs)


def test_with_no_wait_budget_or_in_a_replay_every_frame_gets_its_own_embedding():
    for live, wait in ((True, 0.0), (False, 30.0)):
        stage, outs = run(live, CountingEmbedder(slow={2}), wait_ms=wait, seconds=0.6)
        got = [int(o.parts["embedding"][0]) for o in outs]
        assert got == list(range(len(outs))) and stage.ctx.stats["embedding_late"] == 0
