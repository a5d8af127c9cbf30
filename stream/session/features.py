"""Cached features in a session (``features/``), and fusion-only replay from them.

A full replay (``replay --speed max --cache-features``, ``eval``) writes what
fusion received, per stream: the messages' time spans and watermarks, their
named parts (all but raw data the live path alone needs) and the meta fields
the modality declares. Replaying from these skips every encoder, so
evaluation and training run many times faster than real time, and give the
same predictions as a full replay (tested). The cache records the encoders
that made it and is ignored when they differ from the running ones.

Layout: ``features/meta.json``; per stream ``STREAM.npz`` (``t`` (n, 2) and
``wm`` (n,) in ns from the session start, one array per part) and, where the
modality keeps meta fields, ``STREAM.meta.jsonl``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from stream.config import Config
from stream.core.message import EOS, Message
from stream.fusion.fuser import Fuser
from stream.intent.prediction import IntentModel
from stream.modalities.registry import modalities

# Bump when an encoder, what it outputs or the layout changes: older caches are then ignored.
ENCODERS = {
    "video": "blazeface-short+facemesh-lips cues v1; mobilenet_v2-b0353104 features 224",
    "audio": "torchaudio logmel64 stats v1; silero-vad 6.2.3",
    "text": "all-MiniLM-L6-v2 mean-pooled; faster-whisper int8, repeats dropped (sentences, restarts)",
    "version": 3,
}
# settings no cached transcript depends on (speculate_below: early transcripts only, never cached)
ASR_LIVE_ONLY = ("early", "partial_every_ms", "speculate_below", "early_n_best")


def encoders(cfg: Config | None = None) -> dict:
    """What a cache is made by: the encoders, and every recogniser setting its transcripts depend
    on (the Whisper model as resolved on this machine, its window, pre-roll, prompt...): a cache
    made with other settings is not this config's."""
    from stream.encoders.asr import compute_type, decoding_prompt, model_name, second_name
    from stream.encoders.weights import ctranslate2_device
    from stream.intent.nbest import chooser_key

    cfg = cfg or Config()
    asr = {k: v for k, v in asdict(cfg.asr).items() if k not in ASR_LIVE_ONLY}
    device = ctranslate2_device(cfg.run.device)
    asr["model"] = model_name(cfg.asr.model, device)
    asr["compute"] = compute_type(device)
    asr["prompt"] = decoding_prompt(cfg.asr.prompt, cfg.home) or ""
    asr["chooser"] = chooser_key(cfg)  # the text model that picks among the n best
    asr["second_model"] = second_name(cfg.asr, device)
    if not asr["second_model"]:  # none: caches made before the setting existed are still this config's
        del asr["second_model"], asr["second_below"]
    reset = cfg.audio.vad_reset_s  # (0: caches made before the setting existed are this config's)
    audio = ENCODERS["audio"] + (f"; state reset {reset:g} s" if reset else "")
    return {**ENCODERS, "audio": audio, "asr": asr}


class FeatureRecorder:
    """Collects fusion's inputs during a full replay; writes them at the end, atomically."""

    def __init__(self, root: Path, origin_ns: int, cfg: Config, streams: list[str]) -> None:
        self.root, self.origin_ns = root, origin_ns
        self.encoders = encoders(cfg)
        self.mods = [m for m in modalities(cfg) if m.name in streams]
        self.parts = {m.name: [k for k, f in m.parts(cfg).items() if f.cache] for m in self.mods}
        self.rows: dict[str, list[Message]] = {m.name: [] for m in self.mods}
        # Stricter than the subscriber's gap count (``Subscriber.gaps``, for live health), which
        # cannot know what came before it joined and lets a restart's count start again: a cache
        # must hold every message from the first.
        self.next_seq: dict[tuple[str, str], int] = {}  # per producer and topic
        self.gaps: list[str] = []  # where a sequence broke: the cache would not be whole

    def add(self, m: Message) -> None:
        """Every message fusion received on a cached stream, early transcripts included (they
        are counted, not kept: the cache keeps what was finally said)."""
        if m.topic not in self.rows:
            return
        key = (m.stream, m.topic)
        want = self.next_seq.get(key, 0)
        if m.seq != want:  # lost messages, or a worker restarted (its count starts again)
            self.gaps.append(f"{m.stream}/{m.topic}: message {m.seq} where {want} was due")
        self.next_seq[key] = m.seq + 1
        if not m.meta.get("early"):
            self.rows[m.topic].append(m)

    def _write_stream(self, d: Path, mod, msgs: list[Message]) -> None:
        o = self.origin_ns
        arrays: dict[str, np.ndarray] = {
            "t": np.array([[m.t_start - o, m.t_end - o] for m in msgs], np.int64).reshape(-1, 2),
            # (end of stream is a mark, not a time: kept as it is, whatever the run's origin)
            "wm": np.array([EOS if m.watermark >= EOS else m.watermark - o for m in msgs], np.int64),
        }
        for k in self.parts[mod.name]:
            if msgs and k in msgs[0].parts:
                arrays[k] = np.stack([m.parts[k] for m in msgs])
        np.savez(d / f"{mod.name}.npz", **arrays)
        if mod.cache_meta:
            (d / f"{mod.name}.meta.jsonl").write_text("".join(
                json.dumps({k: m.meta.get(k) for k in mod.cache_meta}) + "\n" for m in msgs))

    def write(self) -> str | None:
        """Writes the cache, atomically; or, if a stream arrived with gaps, removes any old one
        and returns why (a cache that lacks messages must not pass as the session's)."""
        if self.gaps:
            shutil.rmtree(self.root / "features", ignore_errors=True)
            return f"{len(self.gaps)} gap(s), first {self.gaps[0]}"
        # A folder of this process's own: two runs may encode one session at once (two `train`
        # runs over the same corpus did), and a shared one was emptied under the other writer.
        tmp = self.root / f".features.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for mod in self.mods:
            self._write_stream(tmp, mod, self.rows[mod.name])
        meta = {"encoders": self.encoders, "streams": [m.name for m in self.mods]}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        dest = self.root / "features"
        shutil.rmtree(dest, ignore_errors=True)
        try:
            os.replace(tmp, dest)
        except OSError:  # another writer's cache landed between the two lines: it stands
            shutil.rmtree(tmp, ignore_errors=True)
        return None


def has_features(root: Path, cfg: Config | None = None) -> bool:
    """Whether ``root`` has a feature cache made the way ``cfg`` (default: the defaults) would."""
    meta = root / "features" / "meta.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("encoders") == encoders(cfg)
    except json.JSONDecodeError:
        return False


def load_messages(root: Path, cfg: Config | None = None,
                  streams: list[str] | None = None) -> dict[str, list[Message]]:
    """The cached fusion inputs (of ``streams``, default all) as messages with session-relative
    times (origin 0)."""
    out: dict[str, list[Message]] = {}
    d = root / "features"
    for mod in modalities(cfg):
        if not (d / f"{mod.name}.npz").is_file() or (streams is not None and mod.name not in streams):
            continue
        with np.load(d / f"{mod.name}.npz") as f:
            z = {k: f[k] for k in f.files}  # each f[k] reads the file again: read once
        t, wm = z.pop("t"), z.pop("wm")
        mpath = d / f"{mod.name}.meta.jsonl"
        metas = [json.loads(x) for x in mpath.read_text().splitlines()] if mpath.is_file() else []
        out[mod.name] = [
            Message(mod.name, i, int(t[i, 0]), int(t[i, 1]), int(wm[i]), {k: v[i] for k, v in z.items()},
                    {k: v for k, v in metas[i].items() if v is not None} if metas else {}, {},
                    topic=mod.name)
            for i in range(len(wm))]
    return out


def speech_events(root: Path) -> list[dict]:
    """Transcribed utterances in the cache, as {"t", "end", "text"} in session seconds
    (reads the text stream only: the video embeddings are most of a cache)."""
    texts = load_messages(root, streams=["text"]).get("text", [])
    return [{"t": m.t_start / 1e9, "end": m.t_end / 1e9, "text": m.meta.get("text", "")}
            for m in texts if m.meta.get("source") == "asr"]


def fusion_replay(root: Path, cfg: Config, streams: list[str], model: IntentModel) -> list[dict]:
    """Predictions of a fusion-only replay from the cache (no workers, no encoders)."""
    cfg = replace(cfg, run=replace(cfg.run, replay=True))  # the caller's config stays as it was
    return drain(filled_fuser(cfg, streams, load_messages(root, cfg), model))


def filled_fuser(cfg: Config, streams: list[str], msgs: dict[str, list[Message]],
                 model: IntentModel) -> Fuser:
    """A fuser (``cfg`` in replay mode) holding every message, each stream in its order, no
    window closed yet: everything is known in advance."""
    fuser = Fuser(cfg, streams, origin_ns=0, model=model)
    for s in fuser.streams:
        for m in msgs.get(s, []):
            fuser.add(m, 0)
    return fuser


def drain(fuser: Fuser) -> list[dict]:
    """End every stream and let the watermarks close every window: the predictions."""
    for s in fuser.streams:
        fuser.advance(s, EOS)
    preds = (fuser.predict(w, None) for w in fuser.poll(0))
    return [p for p in preds if p is not None]
