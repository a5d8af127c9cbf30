"""``launch.py import``: build a session from ordinary media files.

Everything is validated before anything is written; the session is built in
a temporary directory beside the target and renamed into place at the end,
so a failure leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import soundfile as sf

from stream.encoders.audio import to_mono_16k
from stream.session.format import SR, AudioWriter, JsonlWriter, SessionError, VideoWriter, write_manifest
from stream.session.records import read_labels, read_text_events
from stream.sources.media import probe_audio, probe_video

CHUNK = 1536


def _write_video(tmp: Path, video: Path) -> dict:
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    vw = VideoWriter(tmp, fps)
    n, (h, w) = 0, (0, 0)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        vw.add(frame, cap.get(cv2.CAP_PROP_POS_MSEC) / 1000)  # the container's timestamp
        n, (h, w) = n + 1, frame.shape[:2]
    cap.release()
    vw.close()
    return {"fps": fps, "frames": n, "width": w, "height": h, "source": str(video)}


def _write_audio(tmp: Path, audio: Path) -> dict:
    x, sr = sf.read(str(audio), dtype="float32", always_2d=True)
    x = to_mono_16k(x, sr)
    aw = AudioWriter(tmp)
    for i in range(0, len(x), CHUNK):
        aw.add(x[i:i + CHUNK], i / SR)
    aw.close()
    return {"sample_rate": SR, "samples": len(x), "source_rate": sr, "source": str(audio)}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    w = JsonlWriter(path)
    for r in rows:
        w.add(r)
    w.close()


def _validate(video: Path | None, audio: Path | None, text: Path | None, labels: Path | None,
              known_intents: list[str], duration_s: float | None) -> tuple[float, list[dict], list[dict]]:
    """(duration, text events, label spans), or SessionError naming what is wrong."""
    v_dur = probe_video(video)[0] if video else None
    a_dur = probe_audio(audio) if audio else None
    events = read_text_events(text) if text else []
    spans = read_labels(labels, known_intents) if labels else []
    for name, dur, path in (("video", v_dur, video), ("audio", a_dur, audio)):
        if dur is not None and spans and spans[-1]["end"] > dur + 0.05:
            raise SessionError(f"{path}: {name} is {dur:.2f} s, shorter than the labels "
                               f"(last span ends at {spans[-1]['end']:.2f} s)")
    duration = max(d for d in (v_dur, a_dur, duration_s) if d is not None)
    for e in events:
        if e["t"] > duration:
            raise SessionError(f"{text}: event at {e['t']} s is after the media end ({duration:.2f} s)")
    return duration, events, spans


def import_session(out: Path, video: Path | None, audio: Path | None, text: Path | None,
                   labels: Path | None, known_intents: list[str],
                   duration_s: float | None = None) -> dict:
    """Build a session; ``duration_s`` makes a text-only session (no media) possible."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SessionError(f"{out}: already exists (choose a new directory)")
    if video is None and audio is None and duration_s is None:
        raise SessionError("import: give --video and/or --audio")
    duration, events, spans = _validate(video, audio, text, labels, known_intents, duration_s)
    # Written into a temporary directory, then renamed: nothing half-written.
    tmp = out.parent / f".{out.name}.importing"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write_manifest(tmp, complete=False, source="import")
        streams: dict = {}
        if video:
            streams["video"] = _write_video(tmp, video)
        if audio:
            streams["audio"] = _write_audio(tmp, audio)
        _write_jsonl(tmp / "text.jsonl", events)
        streams["text"] = {"events": len(events)}
        if labels:
            _write_jsonl(tmp / "labels.jsonl", spans)
        write_manifest(tmp, complete=True, source="import", duration_s=round(duration, 3),
                       streams=streams, labels=len(spans))
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"duration_s": duration, "streams": streams, "labels": len(spans)}
