"""Per-stage latency: each prediction's newest input, stage by stage, from its stamps."""

import pytest

from stream.core.clock import now_ns
from stream.core.message import Message
from stream.process.stage import eos, run_stage
from stream.stages.fusion import FusionStage
from tests.fakes import EchoIntentModel, HashingTextEmbedder
from tests.stages.test_stages import replay_cfg

pytestmark = pytest.mark.unit
MS = 1_000_000


def test_each_stage_of_the_newest_inputs_path_is_measured():
    t0 = now_ns() - 100 * MS  # captured a little while ago
    stamps = {"capture": t0, "encode_start": t0 + 2 * MS, "encode_end": t0 + 7 * MS,
              "publish": t0 + 7 * MS, "receive": t0 + 8 * MS}
    t = 1_100_000_000
    msg = Message("text", 0, t, t, t, {"embedding": HashingTextEmbedder()(["turn on"])[0]},
                  {"text": "turn on", "source": "typed"}, dict(stamps), topic="text")
    stage = FusionStage(EchoIntentModel())
    run_stage(stage, [msg, eos("text")], cfg=replay_cfg(), listens=["text"])
    got = stage.ctx.gauges["stages_ms"]
    assert list(got) == ["capture", "encode", "transport", "window", "fusion"]
    assert got["capture"] == [2.0, 2.0] and got["encode"] == [5.0, 5.0]
    assert got["transport"] == [1.0, 1.0]
    assert 0 <= got["window"][0] <= got["window"][1] and got["fusion"][0] >= 0
    # The latency each prediction reports is its newest input's path up to the model.
    path = [p for p in stage.lat if p > 0]
    waits = sorted(stage.stage_ms.ms["window"])
    assert path and all(abs(p - (8.0 + w)) < 0.2 for p, w in zip(path, waits, strict=True))


def test_inputs_without_stamps_are_left_out():
    """A replay from cached features has no stamps: no figures rather than wrong ones."""
    t = 1_100_000_000
    msg = Message("text", 0, t, t, t, {"embedding": HashingTextEmbedder()(["turn on"])[0]},
                  {"text": "turn on", "source": "typed"}, {}, topic="text")
    stage = FusionStage(EchoIntentModel())
    run_stage(stage, [msg, eos("text")], cfg=replay_cfg(), listens=["text"])
    assert stage.ctx.gauges.get("stages_ms", {}) == {}
