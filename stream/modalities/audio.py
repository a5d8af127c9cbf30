"""Audio: microphone chunks -> log-mel, silero VAD probability, a log-mel-statistics embedding.

Its raw chunks also feed the ASR worker, whose final transcripts become text.
"""

from __future__ import annotations

import numpy as np

from stream.modalities.registry import Feature, Modality, WorkerDecl, register

SR = 16000


def _parts(cfg) -> dict[str, Feature]:
    chunk = SR * cfg.audio.chunk_ms // 1000
    frames = chunk // 160 + 1  # torchaudio's centred STFT, hop 160
    return {"pcm": Feature("float32", (chunk,), cache=False),  # for the ASR worker
            "logmel": Feature("float32", (frames, cfg.audio.n_mels)),
            "embedding": Feature("float32", (2 * cfg.audio.n_mels,))}


def _workers(cfg) -> list[WorkerDecl]:
    out = [WorkerDecl("audio", "workers.audio")]
    if cfg.asr.enabled:
        out.append(WorkerDecl("asr", "workers.asr", inputs=("audio",), torch=False))  # CTranslate2
    return out


def _step(it, end_ns: int, window_ns: int) -> np.ndarray:
    return np.concatenate([[it.meta.get("vad", 0.0)], it.parts["embedding"]])


def _source(spec, cfg, timing):
    from stream.sources.audio import open_audio

    return open_audio(spec, cfg, timing)


def _writer(root, source):
    from stream.session.format import AudioWriter

    return AudioWriter(root)


def _show(g: dict) -> str:
    if "vad" not in g:
        return ""
    return f"vad {g['vad']:.2f}" + (f"  level {g['level_db']:.0f} dBFS" if "level_db" in g else "")


AUDIO = register(Modality(
    name="audio",
    workers=_workers,
    parts=_parts,
    step=_step,
    step_dim=lambda cfg: 1 + 2 * cfg.audio.n_mels,
    steps=24,
    cache_meta=("vad",),
    meta={"vad": float},
    source=_source,
    in_session=lambda s: bool(s.chunks_index),
    writer=_writer,
    show=_show,
))
