"""Bad input ends with one clear line naming it, exit code 2, no traceback."""

import pytest

from tests.e2e.test_e2e import launch, live_config

pytestmark = pytest.mark.e2e


def one_line_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(err) == 1, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in err[0], err[0]
    return err[0]


def test_missing_video_file(tmp_path):
    one_line_error(launch("live", "--video", str(tmp_path / "nope.mp4"), "--audio", "none"),
                   "nope.mp4", "not found")


def test_unreadable_video_file(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("this is not a video")
    one_line_error(launch("live", "--video", str(bad), "--audio", "none"), "bad.mp4", "readable")


def test_unreadable_audio_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....garbage")
    one_line_error(launch("live", "--video", "none", "--audio", str(bad)), "bad.wav")


@pytest.mark.parametrize("toml,needle", [
    ("[video]\nfsp = 3\n", "video.fsp"),
    ("[video]\nfps = 'fast'\n", "video.fps"),
    ("[fusion]\nhop_s = 0\n", "fusion.hop_s"),
    ("[nosuch]\nx = 1\n", "nosuch"),
    ("not toml = = =", "TOML"),
    ("[net]\ntransport = 'pigeon'\n", "net.transport"),
])
def test_bad_config_field(tmp_path, toml, needle):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml)
    one_line_error(launch("live", "--config", str(cfg), "--video", "none", "--audio", "none"),
                   "bad.toml", needle)


def test_missing_model_names_the_file(tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text(open(live_config(tmp_path)).read() + '[fusion]\nmodel = "/no/such/model.pt"\n')
    one_line_error(launch("live", "--config", str(cfg), "--video", "none", "--audio", "none",
                          "--headless"), "/no/such/model.pt")


def test_missing_camera_names_the_device(tmp_path):
    one_line_error(launch("live", "--config", live_config(tmp_path), "--video", "7",
                          "--audio", "none", "--headless"), "camera", "7")


def test_say_without_a_running_assistant(tmp_path):
    one_line_error(launch("say", "--pid", "1", "hello"), "no assistant is running with pid 1")


def test_devices_says_plainly_when_there_are_none():
    r = launch("devices")
    assert r.returncode == 0
    assert "Cameras" in r.stdout and "Microphones" in r.stdout


def test_binding_a_network_interface_without_keys_is_one_line(tmp_path):
    cfg = tmp_path / "open.toml"
    cfg.write_text("[net]\ntransport = 'tcp'\nhost = '0.0.0.0'\n")
    one_line_error(launch("live", "--config", str(cfg), "--video", "none", "--audio", "none", "--headless"),
                   "0.0.0.0", "not loopback", "curve_dir")
