"""Sessions on disk: a directory of standard media plus a manifest.

Layout (version 1)::

    manifest.json         format, version, streams, duration; "complete" once closed
    video/seg_000000.mp4  ~1 s MPEG-4 segments (playable; video.m3u lists them)
    video/frames.csv      frame,segment,index,t        t: capture time, s from session start
    audio/seg_000000.wav  ~1 s 16 kHz mono PCM segments (audio.m3u lists them)
    audio/chunks.csv      segment,offset,t,n           t of each chunk's first sample
    text.jsonl            {"t", "end", "text", "source": "typed" | "asr"}
    labels.jsonl          {"start", "end", "intent"}   (optional)
    predictions.jsonl     what the assistant predicted (optional)
    gaps.jsonl            {"stream", "from", "to", "segment"}: a recorder restarted mid-session

Crash safety: segments are written whole to a temporary name and renamed, and
an index row is written only after its segment exists, so a recorder killed
with ``kill -9`` leaves a readable session that lacks at most the last second.
Readers use the index files, never directory listings. A recorder restarted
in the same session (its worker crashed) appends after the last complete row
and segment, and notes the gap in ``gaps.jsonl``; ``finish_recording`` copies
the gaps into the manifest.
"""

from __future__ import annotations

import csv
import json
import math
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from stream.errors import SessionError

FORMAT, VERSION = "stream-session", 1
SR = 16000
GAP_S = 0.010  # chunk times further apart than this mark a dropout


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def write_manifest(root: Path, complete: bool, source: str, **extra) -> None:
    m = {"format": FORMAT, "version": VERSION, "source": source, "complete": complete,
         "created": datetime.now(UTC).isoformat(timespec="seconds"), **extra}
    write_json_atomic(root / "manifest.json", m)


class _Writer(threading.Thread):
    """Writes segments off the capture thread; segment files appear atomically."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="segment-writer")
        self.q: queue.Queue = queue.Queue()
        self.start()

    def run(self) -> None:
        while (job := self.q.get()) is not None:
            job()

    def close(self) -> None:
        self.q.put(None)
        self.join()


class _Index:
    """A segment index opened for appending. A recorder restarted in the same session goes
    on after the last complete row and the highest segment on disk (a torn row is cut off,
    half-written segments removed), and notes the gap it left in ``gaps.jsonl``."""

    def __init__(self, dir: Path, name: str, cols: tuple[str, ...], stream: str) -> None:
        path = dir / name
        if path.is_file():
            data = path.read_bytes()
            if not data.endswith(b"\n"):
                path.write_bytes(data[:data.rfind(b"\n") + 1])
        for part in dir.glob("*.part.*"):
            part.unlink()
        self.rows = _csv_index(path, cols)
        seg = cols.index("segment")
        segs = [r[seg] for r in self.rows]
        segs += [int(p.name[4:10]) for p in dir.glob("seg_*") if p.name[4:10].isdigit()]
        self.next_segment = max(segs) + 1 if segs else 0
        self.dir, self.stream = dir, stream
        self.f = open(path, "a", newline="")
        if self.f.tell() == 0:
            self.f.write(",".join(cols) + "\n")
            self.f.flush()
        self.gap_from: float | None = None  # set by the writer from its last row

    def note_resume(self, t: float) -> None:
        """The first item after a restart: record the gap once."""
        if self.gap_from is not None:
            with open(self.dir.parent / "gaps.jsonl", "a") as g:
                g.write(json.dumps({"stream": self.stream, "from": round(self.gap_from, 6),
                                    "to": round(t, 6), "segment": self.next_segment}) + "\n")
            self.gap_from = None

    def write(self, rows: str) -> None:
        self.f.write(rows)
        self.f.flush()

    def close(self) -> None:
        self.f.close()


class VideoWriter:
    """Appends frames; every ``segment_s`` of frames becomes one MP4 file."""

    def __init__(self, root: Path, fps: float, segment_s: float = 1.0) -> None:
        self.dir = root / "video"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fps, self.segment_s = fps, segment_s
        self.frames: list[tuple[np.ndarray, float]] = []
        self.index = _Index(self.dir, "frames.csv", FRAME_COLS, "video")
        rows = self.index.rows
        self.seg = self.index.next_segment
        self.n = rows[-1][0] + 1 if rows else 0
        self.index.gap_from = rows[-1][3] if rows else None
        self.writer = _Writer()

    def add(self, frame: np.ndarray, t: float) -> None:
        self.index.note_resume(t)
        if self.frames and t - self.frames[0][1] >= self.segment_s:
            self.flush()
        self.frames.append((frame, t))

    def flush(self) -> None:
        if not self.frames:
            return
        frames, seg, first = self.frames, self.seg, self.n
        self.frames, self.seg, self.n = [], self.seg + 1, self.n + len(frames)

        def job() -> None:
            name = f"seg_{seg:06d}.mp4"
            tmp = self.dir / f"seg_{seg:06d}.part.mp4"
            h, w = frames[0][0].shape[:2]
            vw = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            for f, _ in frames:
                vw.write(f)
            vw.release()
            os.replace(tmp, self.dir / name)
            self.index.write("".join(f"{first + i},{seg},{i},{t:.6f}\n"
                                     for i, (_, t) in enumerate(frames)))
            with open(self.dir.parent / "video.m3u", "a") as m3u:
                m3u.write(f"video/{name}\n")
        self.writer.q.put(job)

    def close(self) -> None:
        self.flush()
        self.writer.close()
        self.index.close()


class AudioWriter:
    """Appends 16 kHz mono chunks with their times; ~1 s WAV segments."""

    def __init__(self, root: Path, segment_s: float = 1.0) -> None:
        self.dir = root / "audio"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment = int(segment_s * SR)
        self.chunks: list[tuple[np.ndarray, float]] = []
        self.pending = 0
        self.index = _Index(self.dir, "chunks.csv", CHUNK_COLS, "audio")
        rows = self.index.rows
        self.seg = self.index.next_segment
        self.index.gap_from = rows[-1][2] + rows[-1][3] / SR if rows else None
        self.writer = _Writer()

    def add(self, chunk: np.ndarray, t: float) -> None:
        self.index.note_resume(t)
        self.chunks.append((chunk.astype(np.float32), t))
        self.pending += len(chunk)
        if self.pending >= self.segment:
            self.flush()

    def flush(self) -> None:
        if not self.chunks:
            return
        chunks, seg = self.chunks, self.seg
        self.chunks, self.pending, self.seg = [], 0, self.seg + 1

        def job() -> None:
            import soundfile as sf

            name = f"seg_{seg:06d}.wav"
            tmp = self.dir / f"seg_{seg:06d}.part.wav"
            sf.write(tmp, np.concatenate([c for c, _ in chunks]), SR, subtype="PCM_16")
            os.replace(tmp, self.dir / name)
            rows, off = [], 0
            for c, t in chunks:
                rows.append(f"{seg},{off},{t:.6f},{len(c)}\n")
                off += len(c)
            self.index.write("".join(rows))
            with open(self.dir.parent / "audio.m3u", "a") as m3u:
                m3u.write(f"audio/{name}\n")
        self.writer.q.put(job)

    def close(self) -> None:
        self.flush()
        self.writer.close()
        self.index.close()


class JsonlWriter:
    """One JSON object a line, flushed per line (crash-safe up to the last line)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "a")

    def add(self, obj: dict) -> None:
        self.f.write(json.dumps(obj) + "\n")
        self.f.flush()

    def close(self) -> None:
        self.f.close()


# -- reading ------------------------------------------------------------------------
def read_jsonl(path: Path, tolerate_torn_tail: bool = True) -> list[dict]:
    """Objects of a JSONL file; a torn last line (crash) is dropped, other bad lines raise."""
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            if tolerate_torn_tail and i == len(lines):
                break
            raise SessionError(f"{path}:{i}: bad JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise SessionError(f"{path}:{i}: expected a JSON object")
        out.append(obj)
    return out


FRAME_COLS, CHUNK_COLS = ("frame", "segment", "index", "t"), ("segment", "offset", "t", "n")


def _csv_index(path: Path, names: tuple[str, ...]) -> list[tuple]:
    """An index file's rows, typed (t a float, the rest ints). A torn last row (a crash
    mid-write) is dropped; any other bad row is an error naming its line."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return []
    if tuple(rows[0]) != names:
        raise SessionError(f"{path}:1: expected the header {','.join(names)}")
    out = []
    for i, row in enumerate(rows[1:], 2):
        try:
            if len(row) != len(names):
                raise ValueError(f"{len(row)} fields, expected {len(names)}")
            vals = tuple(float(v) if n == "t" else int(v) for n, v in zip(names, row, strict=True))
            if not all(math.isfinite(v) and v >= 0 for v in vals):
                raise ValueError("a negative or non-finite number")
        except ValueError as e:
            if i == len(rows):
                break
            raise SessionError(f"{path}:{i}: bad row ({e})") from None
        out.append(vals)
    return out


@dataclass
class Frame:
    index: int
    t: float
    image: np.ndarray


class Session:
    """Read-only view of a session directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        mpath = self.root / "manifest.json"
        if not self.root.is_dir():
            raise SessionError(f"{self.root}: no such session directory")
        if not mpath.is_file():
            raise SessionError(f"{mpath}: missing (not a session)")
        try:
            self.manifest = json.loads(mpath.read_text())
        except json.JSONDecodeError as e:
            raise SessionError(f"{mpath}: bad JSON ({e.msg})") from None
        if not isinstance(self.manifest, dict) or self.manifest.get("format") != FORMAT:
            raise SessionError(f"{mpath}: not a {FORMAT} manifest")
        if self.manifest.get("version", 0) > VERSION:
            raise SessionError(f"{mpath}: version {self.manifest['version']} is newer than {VERSION}")
        self.frames_index = _csv_index(self.root / "video" / "frames.csv", FRAME_COLS)
        self.chunks_index = _csv_index(self.root / "audio" / "chunks.csv", CHUNK_COLS)

    def check(self) -> None:
        """Every indexed segment is on disk: found before a replay starts, not in its middle."""
        for kind, segs, ext in (("video", {r[1] for r in self.frames_index}, "mp4"),
                                ("audio", {r[0] for r in self.chunks_index}, "wav")):
            missing = sorted(s for s in segs if not (self.root / kind / f"seg_{s:06d}.{ext}").is_file())
            if missing:
                raise SessionError(f"{self.root / kind}: {len(missing)} indexed segment(s) missing "
                                   f"(first: seg_{missing[0]:06d}.{ext})")

    @property
    def streams(self) -> list[str]:
        """The modalities this session holds, in registry order."""
        from stream.modalities.registry import modalities

        return [m.name for m in modalities() if m.in_session(self)]

    @property
    def duration_s(self) -> float:
        if "duration_s" in self.manifest and self.manifest.get("complete"):
            return float(self.manifest["duration_s"])
        return self.media_end_s

    @property
    def media_end_s(self) -> float:
        """Where the recorded video and audio end, in session seconds (0.0 without either)."""
        ends = [0.0]
        if self.frames_index:
            ends.append(self.frames_index[-1][3] + 1 / self.fps)
        if self.chunks_index:
            ends.append(self.chunks_index[-1][2] + self.chunks_index[-1][3] / SR)
        return max(ends)

    @property
    def fps(self) -> float:
        v = self.manifest.get("streams", {}).get("video", {})
        if "fps" in v:
            return float(v["fps"])
        ts = [f[3] for f in self.frames_index[:50]]
        return 1 / float(np.median(np.diff(ts))) if len(ts) > 2 else 15.0

    # Video --------------------------------------------------------------------
    def frames(self, start: float = 0.0, end: float | None = None) -> Iterator[Frame]:
        """Frames in time order with their capture times (seek with ``start``)."""
        by_seg: dict[int, list[tuple[int, int, float]]] = {}
        for frame, seg, idx, t in self.frames_index:
            if t >= start and (end is None or t < end):
                by_seg.setdefault(seg, []).append((frame, idx, t))
        for seg in sorted(by_seg):
            path = self.root / "video" / f"seg_{seg:06d}.mp4"
            cap = cv2.VideoCapture(str(path))
            if not cap.isOpened():
                raise SessionError(f"{path}: missing or unreadable video segment")
            wanted = {idx: (frame, t) for frame, idx, t in by_seg[seg]}
            i = 0
            while wanted:
                ok, img = cap.read()
                if not ok:
                    break
                if i in wanted:
                    frame, t = wanted.pop(i)
                    yield Frame(frame, t, img)
                i += 1
            cap.release()

    # Audio --------------------------------------------------------------------
    def audio_runs(self) -> list[tuple[float, np.ndarray]]:
        """Contiguous runs of audio as (start time, samples); dropouts split runs."""
        import soundfile as sf

        runs: list[tuple[float, list[np.ndarray]]] = []
        cache: dict[int, np.ndarray] = {}
        end_t = None
        for seg, off, t, n in self.chunks_index:
            if seg not in cache:
                path = self.root / "audio" / f"seg_{seg:06d}.wav"
                try:
                    cache = {seg: sf.read(path, dtype="float32")[0]}
                except Exception as e:  # noqa: BLE001
                    raise SessionError(f"{path}: missing or unreadable audio segment ({e})") from None
            x = cache[seg][off:off + n]
            if end_t is None or abs(t - end_t) > GAP_S:
                runs.append((t, [x]))
            else:
                runs[-1][1].append(x)
            end_t = t + n / SR
        return [(t0, np.concatenate(xs)) for t0, xs in runs]

    # Text, labels, predictions -------------------------------------------------
    def text_events(self) -> list[dict]:
        return read_jsonl(self.root / "text.jsonl")

    def labels(self) -> list[dict]:
        """Labelled spans, checked like an import's (a bad line is one error naming it)."""
        from stream.session.records import read_labels

        path = self.root / "labels.jsonl"
        return read_labels(path) if path.is_file() else []

    def predictions(self) -> list[dict]:
        return read_jsonl(self.root / "predictions.jsonl")


def finish_recording(root: Path, wall_s: float, restarts: tuple[str, ...] = ()) -> None:
    """Mark a recording complete, with what it holds and what happened (restarts, gaps)."""
    s = Session(root)
    streams: dict = {"text": {"events": len(s.text_events())}}
    if s.frames_index:
        streams["video"] = {"fps": s.fps, "frames": len(s.frames_index)}
    if s.chunks_index:
        streams["audio"] = {"sample_rate": SR, "samples": sum(c[3] for c in s.chunks_index)}
    extra = {"restarts": list(restarts)} if restarts else {}
    gaps = read_jsonl(root / "gaps.jsonl")
    if gaps:
        extra["gaps"] = gaps
    write_manifest(root, complete=True, source="record", duration_s=round(s.duration_s, 3),
                   streams=streams, wall_s=round(wall_s, 2), **extra)
