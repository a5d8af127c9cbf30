"""Cached features in a session (``features/``), and fusion-only replay from them.

A full replay (``replay --speed max``, ``eval``) writes what fusion received:
per stream the messages' time spans, watermarks and tensors (video cues and
embeddings, audio VAD and embeddings, text embeddings with their text).
Replaying from these skips every encoder, so evaluation and training run many
times faster than real time, and give the same predictions as a full replay
(tested). The cache records the encoders that made it and is ignored when they
differ from the running ones.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from stream.config import Config
from stream.core.message import Message
from stream.fusion.align import EOS
from stream.fusion.fuser import Fuser

# Bump when an encoder or what it outputs changes: older caches are then ignored.
ENCODERS = {
    "video": "blazeface-short+facemesh-lips cues v1; mobilenet_v2-b0353104 features 224",
    "audio": "torchaudio logmel64 stats v1; silero-vad 6.2.3",
    "text": "all-MiniLM-L6-v2 mean-pooled; faster-whisper tiny.en int8 beam1",
    "version": 1,
}


class FeatureRecorder:
    """Collects fusion's inputs during a full replay; writes them at the end, atomically."""

    def __init__(self, root: Path, origin_ns: int) -> None:
        self.root, self.origin_ns = root, origin_ns
        self.rows: dict[str, list[Message]] = {"video": [], "audio": [], "text": []}

    def add(self, m: Message) -> None:
        if m.topic in self.rows:
            self.rows[m.topic].append(m)

    def write(self) -> None:
        tmp = self.root / ".features.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        o = self.origin_ns
        for stream, msgs in self.rows.items():
            arrays: dict[str, np.ndarray] = {
                "t": np.array([[m.t_start - o, m.t_end - o] for m in msgs], np.int64).reshape(-1, 2),
                "wm": np.array([m.watermark - o for m in msgs], np.int64),
            }
            if stream == "video" and msgs:
                arrays["cues"] = np.stack([m.parts[0] for m in msgs])
                if len(msgs[0].parts) > 1:
                    arrays["embedding"] = np.stack([m.parts[1] for m in msgs])
            if stream == "audio" and msgs:
                arrays["vad"] = np.array([m.meta.get("vad", 0.0) for m in msgs], np.float32)
                arrays["embedding"] = np.stack([m.parts[2] for m in msgs])
                arrays["logmel"] = np.stack([m.parts[1] for m in msgs])
            if stream == "text" and msgs:
                arrays["embedding"] = np.stack([m.parts[0] for m in msgs])
                (tmp / "text.jsonl").write_text("".join(
                    json.dumps({"text": m.meta.get("text", ""), "source": m.meta.get("source")}) + "\n"
                    for m in msgs))
            np.savez(tmp / f"{stream}.npz", **arrays)
        (tmp / "meta.json").write_text(json.dumps({"encoders": ENCODERS}, indent=2) + "\n")
        dest = self.root / "features"
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)


def has_features(root: Path) -> bool:
    meta = root / "features" / "meta.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("encoders") == ENCODERS
    except json.JSONDecodeError:
        return False


def load_messages(root: Path) -> dict[str, list[Message]]:
    """The cached fusion inputs as messages with session-relative times (origin 0)."""
    out: dict[str, list[Message]] = {}
    d = root / "features"
    for stream in ("video", "audio", "text"):
        with np.load(d / f"{stream}.npz") as f:
            z = {k: f[k] for k in f.files}  # each f[k] reads the file again: read once
        t, wm = z["t"], z["wm"]
        texts = [json.loads(x) for x in (d / "text.jsonl").read_text().splitlines()] \
            if stream == "text" and (d / "text.jsonl").is_file() else []
        msgs = []
        for i in range(len(wm)):
            if stream == "video":
                parts = [z["cues"][i]] + ([z["embedding"][i]] if "embedding" in z else [])
                meta: dict = {}
            elif stream == "audio":
                parts = [np.zeros(0, np.float32), z["logmel"][i], z["embedding"][i]]
                meta = {"vad": float(z["vad"][i])}
            else:
                parts, meta = [z["embedding"][i]], texts[i]
            msgs.append(Message(stream, i, int(t[i, 0]), int(t[i, 1]), int(wm[i]), parts, meta,
                                {}, topic=stream))
        out[stream] = msgs
    return out


def speech_events(root: Path) -> list[dict]:
    """Transcribed utterances in the cache, as {"t", "end", "text"} in session seconds."""
    return [{"t": m.t_start / 1e9, "end": m.t_end / 1e9, "text": m.meta.get("text", "")}
            for m in load_messages(root).get("text", []) if m.meta.get("source") == "asr"]


def fusion_replay(root: Path, cfg: Config, streams: list[str], model=None) -> list[dict]:
    """Predictions of a fusion-only replay from the cache (no workers, no encoders)."""
    cfg.run.replay = True
    msgs = load_messages(root)
    fuser = Fuser(cfg, streams, origin_ns=0, model=model)
    # Everything is known in advance: add it all, then let the watermarks close every window.
    for s in fuser.streams:
        for m in msgs.get(s, []):
            fuser.add(m, 0)
    for s in fuser.streams:
        fuser.advance(s, EOS)
    return [fuser.predict(w, None) for w in fuser.poll(0)]
