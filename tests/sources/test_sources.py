"""Sources: file, session and synthetic timing, slicing, looping; one check for media files."""

import numpy as np
import pytest
import soundfile as sf

from stream.config import Config
from stream.sources.audio import FileAudioSource, SyntheticAudioSource, open_audio
from stream.sources.base import DeviceError, SourceTiming
from stream.sources.media import probe_audio, probe_video
from stream.sources.video import CameraSource, FileVideoSource, SyntheticVideoSource, open_video

pytestmark = pytest.mark.unit
S, SR = 1_000_000_000, 16000
MAX = SourceTiming(speed=None, replay=True)


def drain(src, limit=10_000):
    src.connect()
    out = []
    while len(out) < limit and (item := src.read()) is not None:
        out.append(item)
    src.disconnect()
    return out


@pytest.fixture
def wav(tmp_path):
    p = tmp_path / "a.wav"
    sf.write(p, np.linspace(-0.5, 0.5, 44100 * 2, dtype=np.float32), 44100)  # 2 s at 44.1 kHz
    return p


def test_file_audio_is_resampled_and_cut_into_timed_chunks(wav):
    items = drain(FileAudioSource(str(wav), 1536, 0, MAX))
    assert all(len(c) == 1536 and c.dtype == np.float32 for c, _ in items)
    assert len(items) == int(np.ceil(2 * SR / 1536))
    assert [t for _, t in items] == [int(i * 1536 * S / SR) for i in range(len(items))]


def test_file_audio_slice_and_loop(wav):
    part = drain(FileAudioSource(str(wav), 1600, 0, SourceTiming(speed=None, start_s=0.5, end_s=1.5)))
    assert len(part) == 10
    loop = drain(FileAudioSource(str(wav), 1600, 0, SourceTiming(speed=None, loop=True)), limit=45)
    ts = [t for _, t in loop]
    assert ts == sorted(ts) and ts[20] == 2 * S  # time runs on into the second round


def test_file_video_keeps_the_containers_timestamps(media):
    items = drain(FileVideoSource(str(media["face"]), 5 * S, MAX))
    assert len(items) == 120
    np.testing.assert_allclose([(t - 5 * S) / S for _, t in items], np.arange(120) / 29.97, atol=2e-3)


def test_synthetic_sources_pace_nothing_at_max_speed_and_stop_at_their_duration():
    v = drain(SyntheticVideoSource(64, 48, 10.0, 0, speed=None, duration_s=1.0))
    assert len(v) == 10 and v[0][0].shape == (48, 64, 3)
    a = drain(SyntheticAudioSource(1600, 0, speed=None, duration_s=1.0))
    assert len(a) == 10 and np.abs(a[0][0]).max() < 0.05  # faint noise, no speech


def test_specs_open_the_right_source(wav, media):
    cfg = Config()
    assert isinstance(open_video("synthetic", cfg, MAX), SyntheticVideoSource)
    assert isinstance(open_video(str(media["face"]), cfg, MAX), FileVideoSource)
    assert isinstance(open_video("7", cfg, MAX), CameraSource)
    assert isinstance(open_audio(str(wav), cfg, MAX), FileAudioSource)


def test_one_check_for_media_files_names_the_file(tmp_path, media, wav):
    assert probe_video(media["face"])[2] == 120
    assert abs(probe_audio(wav) - 2.0) < 1e-6
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    for fn, path, why in ((probe_video, tmp_path / "nope.mp4", "video file not found"),
                          (probe_video, bad, "not a readable video"),
                          (probe_audio, bad, "not a readable audio file")):
        with pytest.raises(DeviceError, match=why) as e:
            fn(path)
        assert str(path) in str(e.value)
    with pytest.raises(DeviceError, match="no such camera"):
        CameraSource("no-such-camera-here", 320, 240, 15).connect()
