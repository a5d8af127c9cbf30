"""The registry: one declaration per modality, schemas derived from the config, a fixed order."""

import subprocess
import sys

import pytest

from stream.config import Config
from stream.modalities.registry import get, modalities, names, step_spec
from stream.modalities.video import CUE_NAMES

pytestmark = pytest.mark.unit


def test_builtins_in_a_fixed_order_whatever_is_imported_first():
    assert names()[:3] == ["video", "audio", "text"]
    # A fresh process that imports the text declaration before anything else.
    out = subprocess.run([sys.executable, "-c", "import stream.modalities.text, stream.encoders.text;"
                          "from stream.modalities.registry import names; print(names())"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['video', 'audio', 'text']"


def test_schemas_and_step_widths_follow_the_encoders_config():
    cfg = Config()
    cfg.audio.n_mels = 80
    audio = get("audio").parts(cfg)
    assert audio["embedding"].shape == (160,) and audio["logmel"].shape == (10, 80)
    assert not audio["pcm"].cache  # the raw chunk is for the ASR only
    spec = step_spec(cfg)
    assert spec["audio"]["dim"] == 161 and spec["video"]["dim"] == len(CUE_NAMES) + 1280
    cfg.video.embed = False
    assert get("video").parts(cfg)["embedding"].optional


def test_every_modality_declares_what_the_system_needs():
    for m in modalities():
        assert m.workers(Config()), m.name
        assert m.steps > 0 and m.step_dim(Config()) > 0
        assert m.always_on or m.source is not None, f"{m.name}: a capture modality needs a source"
