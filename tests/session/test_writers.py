"""Session writers restarted mid-session (their worker crashed): they append, never rewrite."""

import json

import numpy as np
import pytest

from stream.session.format import AudioWriter, Session, VideoWriter, finish_recording, write_manifest

pytestmark = pytest.mark.unit


def _frames(n: int, t0: float, fps: float = 15.0):
    for i in range(n):
        img = np.full((48, 64, 3), (i * 7) % 255, np.uint8)
        yield img, t0 + i / fps


def test_a_restarted_video_writer_appends_after_the_last_complete_segment(tmp_path):
    write_manifest(tmp_path, complete=False, source="record")
    vw = VideoWriter(tmp_path, 15.0)
    for img, t in _frames(40, 0.0):  # ~2.7 s: segments 0, 1 and part of 2
        vw.add(img, t)
    vw.close()
    # What a kill -9 leaves: a torn index row and a half-written segment.
    with open(tmp_path / "video" / "frames.csv", "a") as f:
        f.write("40,3,0,2.66")
    (tmp_path / "video" / "seg_000003.part.mp4").write_bytes(b"\0" * 100)
    vw = VideoWriter(tmp_path, 15.0)  # the restarted worker, 2 s later
    for img, t in _frames(20, 4.7):
        vw.add(img, t)
    vw.close()
    finish_recording(tmp_path, 6.0, ("video: killed by SIGKILL; restarting",))

    s = Session(tmp_path)
    ids = [f[0] for f in s.frames_index]
    assert ids == list(range(60))  # no duplicate frame ids
    ts = [f[3] for f in s.frames_index]
    assert all(b > a for a, b in zip(ts, ts[1:], strict=False))  # time never goes back
    assert len(list(s.frames())) == 60  # every indexed frame decodes
    assert not list((tmp_path / "video").glob("*.part.*"))
    segs = sorted({f[1] for f in s.frames_index})
    assert len(segs) == len(set(segs)) and segs[0] == 0
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["complete"] and m["restarts"] == ["video: killed by SIGKILL; restarting"]
    (gap,) = m["gaps"]
    assert gap["stream"] == "video" and gap["from"] == pytest.approx(39 / 15) and gap["to"] == 4.7


def test_a_restarted_audio_writer_appends_and_the_reader_sees_the_gap(tmp_path):
    write_manifest(tmp_path, complete=False, source="record")
    aw = AudioWriter(tmp_path)
    for k in range(12):  # 1.15 s
        aw.add(np.full(1536, 0.1, np.float32), k * 0.096)
    aw.close()
    aw = AudioWriter(tmp_path)
    for k in range(12):
        aw.add(np.full(1536, 0.2, np.float32), 3.0 + k * 0.096)
    aw.close()
    s = Session(tmp_path)
    (t0, a), (t1, b) = s.audio_runs()
    assert (t0, t1) == (0.0, 3.0) and len(a) == len(b) == 12 * 1536
    assert np.allclose(a, 0.1, atol=1e-3) and np.allclose(b, 0.2, atol=1e-3)  # nothing overwritten
    (gap,) = [json.loads(x) for x in (tmp_path / "gaps.jsonl").read_text().splitlines()]
    assert gap["stream"] == "audio" and gap["from"] == pytest.approx(12 * 0.096, abs=1e-3)


def test_a_missing_segment_is_found_before_a_replay(tmp_path):
    from stream.session.format import SessionError

    write_manifest(tmp_path, complete=False, source="record")
    vw = VideoWriter(tmp_path, 15.0)
    for img, t in _frames(40, 0.0):
        vw.add(img, t)
    vw.close()
    Session(tmp_path).check()
    (tmp_path / "video" / "seg_000001.mp4").unlink()
    with pytest.raises(SessionError, match=r"1 indexed segment\(s\) missing \(first: seg_000001.mp4\)"):
        Session(tmp_path).check()
