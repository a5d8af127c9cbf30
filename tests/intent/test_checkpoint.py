"""Checkpoints: data only (a crafted file runs nothing), checked against the running config."""

import os
import pickle

import pytest
import torch

from stream.config import Config
from stream.encoders.weights import REPO, ModelMissing
from stream.intent.checkpoint import load_model, read_checkpoint
from stream.intent.fusion_net import FusionModel

pytestmark = pytest.mark.unit


class Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/stream-pwned",))


def test_a_crafted_checkpoint_runs_nothing_and_is_one_clean_line(tmp_path):
    p = tmp_path / "evil.pt"
    with open(p, "wb") as f:
        pickle.dump({"state": Boom(), "intents": []}, f)
    if os.path.exists("/tmp/stream-pwned"):
        os.remove("/tmp/stream-pwned")
    with pytest.raises(ModelMissing, match="evil.pt: not a readable model checkpoint") as e:
        read_checkpoint(p)
    assert "\n" not in str(e.value)
    assert not os.path.exists("/tmp/stream-pwned")


def test_not_a_checkpoint(tmp_path):
    p = tmp_path / "x.pt"
    torch.save({"hello": 1}, p)
    with pytest.raises(ModelMissing, match="not a model checkpoint"):
        read_checkpoint(p)


def test_the_shipped_model_loads_once_with_its_recorded_features():
    m = load_model("", Config())
    assert isinstance(m, FusionModel) and m.mods == ["video", "audio", "text"]
    assert m.window_ns == 2 * 10**9


@pytest.mark.parametrize("change,needle", [
    (lambda c: setattr(c.audio, "n_mels", 80), "expects audio features 129 wide, the config gives 161"),
    (lambda c: setattr(c.fusion, "window_s", 3.0), "trained with 2.0 s windows"),
])
def test_a_config_the_model_was_not_trained_for_is_refused_at_load(change, needle):
    cfg = Config()
    change(cfg)
    with pytest.raises(ModelMissing, match=needle):
        FusionModel(read_checkpoint(REPO / "models" / "fusion.pt"), cfg, "fusion.pt")
