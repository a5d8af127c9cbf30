"""Network cameras (IP cameras serving HTTP MJPEG or RTSP) through OpenCV's FFmpeg backend,
against cameras served on loopback from the carphone video (a Python MJPEG server, the ffmpeg
CLI, and GStreamer's RTSP server)."""

import time

import pytest

from stream.offline import media
from stream.offline.network_camera import MjpegCamera
from stream.sources.base import DeviceError, is_file_spec, is_stream_url, redact_url
from stream.sources.video import LatestFrame, NetworkCameraSource

pytestmark = pytest.mark.integration
SECRET = "s3cret-pw"


def newest_frames(url: str, n: int) -> list:
    """``n`` frames from the camera at ``url`` with the live policy (newest frame only,
    skipped ones counted), as (frame, event time, time grabbed)."""
    src = NetworkCameraSource(url, 15.0)
    src.connect()
    grab = LatestFrame(src)
    grab.start()
    got = []
    deadline = time.monotonic() + 20
    while len(got) < n and time.monotonic() < deadline:
        if (item := grab.async_read(0.5)) is not None:
            got.append(item)
    grab.close()
    return got


def test_urls_are_cameras_and_their_passwords_are_never_shown():
    url = f"rtsp://admin:{SECRET}@192.168.1.20:554/stream1"
    assert is_stream_url(url) and not is_file_spec(url)
    assert redact_url(url) == "rtsp://admin:***@192.168.1.20:554/stream1"
    assert redact_url("http://127.0.0.1:8090/cam.mjpg") == "http://127.0.0.1:8090/cam.mjpg"
    assert not is_stream_url("clips/face.mp4") and is_file_spec("clips/face.mp4")


def test_frames_from_a_network_camera_with_credentials_are_stamped_as_they_arrive():
    with MjpegCamera(media.carphone_path(), auth=f"user:{SECRET}") as cam:
        got = newest_frames(cam.url(f"user:{SECRET}"), 10)
    assert len(got) == 10 and got[0][0].shape == (144, 176, 3)
    ts = [t for _, t, _ in got]
    assert all(b > a for a, b in zip(ts, ts[1:], strict=False))


def test_a_camera_that_refuses_us_is_one_line_without_the_password():
    with MjpegCamera(media.carphone_path(), auth=f"user:{SECRET}") as cam:
        src = NetworkCameraSource(cam.url("user:wrong-pw"), 15.0)
        with pytest.raises(DeviceError) as e:
            src.connect()
    assert "cannot open the stream" in str(e.value) and "wrong-pw" not in str(e.value)
    assert "user:***@127.0.0.1" in str(e.value)


@pytest.mark.e2e
def test_live_from_a_network_camera_sees_the_face_and_never_prints_the_password(tmp_path):
    from tests.e2e.test_e2e import launch, live_config, predictions

    with MjpegCamera(media.carphone_path(), auth=f"user:{SECRET}") as cam:
        r = launch("live", "--config", live_config(tmp_path), "--video", cam.url(f"user:{SECRET}"),
                   "--audio", "none", "--headless", "--duration", "6")
        bad = launch("live", "--config", live_config(tmp_path), "--video", cam.url("user:wrong-pw"),
                     "--audio", "none", "--headless", "--duration", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    preds = predictions(r.stdout)
    assert preds and sum(p["modalities"]["video"] == "ok" for p in preds) >= len(preds) // 2
    assert SECRET not in r.stdout + r.stderr
    assert bad.returncode == 2 and "wrong-pw" not in bad.stdout + bad.stderr, bad.stderr
    err = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and "user:***@127.0.0.1" in err[0], err


@pytest.mark.e2e
def test_a_network_camera_that_goes_off_is_missing_then_back_by_itself(tmp_path):
    import json
    import subprocess
    import sys

    from tests.e2e.test_e2e import ROOT, live_config

    def until(p, want, timeout=60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if want(json.loads(p.stdout.readline())["modalities"]["video"]):
                return
        raise AssertionError(f"video never {want}")

    cam = MjpegCamera(media.carphone_path()).__enter__()
    port = cam.port
    p = subprocess.Popen([sys.executable, "launch.py", "live", "--config", live_config(tmp_path),
                          "--video", cam.url(), "--audio", "none", "--headless"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        until(p, lambda v: v == "ok")
        cam.__exit__()  # the camera goes off
        until(p, lambda v: v == "missing")
        cam = MjpegCamera(media.carphone_path(), port=port).__enter__()  # and comes back
        until(p, lambda v: v == "ok")
    finally:
        p.terminate()
        _, err = p.communicate(timeout=30)
        cam.__exit__()
    assert "restarting" not in err and "Traceback" not in err, err[-2000:]


def test_a_stream_served_by_the_ffmpeg_cli_is_read_with_the_live_policy():
    from tests.media import ffmpeg_mjpeg_camera

    with ffmpeg_mjpeg_camera(media.carphone_path()) as url:
        got = newest_frames(url, 20)
    assert len(got) == 20 and got[0][0].shape == (144, 176, 3)
    ts = [t for _, t, _ in got]
    assert all(b > a for a, b in zip(ts, ts[1:], strict=False))


rtsp = pytest.mark.skipif(not __import__("tests.media").media.rtsp_available(),
                          reason="GStreamer's RTSP server is not installed (setup.sh installs it)")


def _with_auth(url: str, auth: str) -> str:
    return url.replace("rtsp://", f"rtsp://{auth}@", 1)


@rtsp
def test_an_rtsp_camera_with_credentials_gives_newest_frames_stamped_as_they_arrive():
    from tests.media import rtsp_camera

    with rtsp_camera(media.carphone_path(), auth=f"user:{SECRET}") as url:
        got = newest_frames(_with_auth(url, f"user:{SECRET}"), 20)
    assert len(got) == 20 and got[0][0].shape == (144, 176, 3)
    ts = [t for _, t, _ in got]
    assert all(b > a for a, b in zip(ts, ts[1:], strict=False))


@rtsp
def test_an_rtsp_camera_that_refuses_us_is_one_line_without_the_password():
    from tests.media import rtsp_camera

    with rtsp_camera(media.carphone_path(), auth=f"user:{SECRET}") as url:
        assert newest_frames(_with_auth(url, f"user:{SECRET}"), 1)  # it serves those who may
        src = NetworkCameraSource(_with_auth(url, "user:wrong-pw"), 15.0)
        with pytest.raises(DeviceError) as e:
            src.connect()
    assert "cannot open the stream" in str(e.value) and "wrong-pw" not in str(e.value)
    assert "rtsp://user:***@127.0.0.1" in str(e.value)


@rtsp
@pytest.mark.e2e
def test_live_from_an_rtsp_camera_sees_the_face(tmp_path):
    from tests.e2e.test_e2e import launch, live_config, predictions
    from tests.media import rtsp_camera

    with rtsp_camera(media.carphone_path(), auth=f"user:{SECRET}") as url:
        r = launch("live", "--config", live_config(tmp_path), "--video", _with_auth(url, f"user:{SECRET}"),
                   "--audio", "none", "--headless", "--duration", "6")
    assert r.returncode == 0, r.stderr[-2000:]
    preds = predictions(r.stdout)
    assert preds and sum(p["modalities"]["video"] == "ok" for p in preds) >= len(preds) // 2
    assert SECRET not in r.stdout + r.stderr
