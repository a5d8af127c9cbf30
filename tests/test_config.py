"""Named configurations: strict fields, enum-like values, plugins, validation against the registry."""

import pytest

from stream import config
from stream.config import ConfigError

pytestmark = pytest.mark.unit


def test_defaults_round_trip_through_a_dict():
    cfg = config.load("live")
    assert config.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("overrides,needle", [
    ({"video": {"face_detector": "yolo"}}, "'video.face_detector': must be one of 'blazeface', 'haar'"),
    ({"run": {"device": "tpu"}}, "'run.device': must be one of 'auto', 'cpu', 'cuda'"),
    ({"fusion": {"require": ["video", "smell"]}}, "'fusion.require' has unknown stream 'smell'"),
    ({"video": {"fps": "fast"}}, "'video.fps': expected float"),
    ({"run": {"plugins": ["no.such.module"]}}, "run.plugins: cannot import 'no.such.module'"),
    ({"nosuch": {"x": 1}}, "unknown field 'nosuch'"),
    ({"audio": {"vad_reset_s": -1}}, "field 'audio.vad_reset_s' must be >= 0"),
])
def test_bad_values_name_the_field(overrides, needle):
    with pytest.raises(ConfigError) as e:
        config.load(None, overrides)
    assert needle in str(e.value)


def test_a_plugin_modality_becomes_a_known_stream():
    cfg = config.load(None, {"run": {"plugins": ["tests.imu_modality"]}, "fusion": {"require": ["imu"]}})
    assert cfg.fusion.require == ["imu"]


def test_named_config_and_bad_toml_name_the_file(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text("not toml = = =")
    with pytest.raises(ConfigError, match="x.toml: not valid TOML"):
        config.load(str(p))
    with pytest.raises(ConfigError, match="nope.toml: config file not found"):
        config.load(str(tmp_path / "nope.toml"))
