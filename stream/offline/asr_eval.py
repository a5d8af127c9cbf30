"""Where words are lost: the streaming recogniser against whole-utterance decoding.

For each session with reference transcripts (``speech.jsonl``, written by ``corpus``):

* **streaming**: the session's audio through the live path in-process (the audio stage
  with its VAD, chunk by chunk, then the ASR stage), its finals matched to the
  references by time;
* **whole**: each reference utterance decoded at once by the same recogniser with the
  same settings, with ``PAD_S`` of the session's own audio on each side.

Word error rates (Whisper's English normaliser, then jiwer) per session, per voice and
overall, and the transcripts side by side. Partial transcripts are not produced here:
they never feed a final, and skipping them makes the streaming pass several times faster.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from stream.config import Config
from stream.errors import SessionError
from stream.session.format import Session
from stream.session.records import SPEECH_FILE, read_speech

PAD_S = 0.4  # silence around a whole-utterance decode (Whisper does best with a little)
NS = 1_000_000_000


@dataclass
class Utterance:
    session: str
    voice: str
    start: float
    end: float
    ref: str
    stream: str = ""  # the streaming path's finals over this utterance, joined
    whole: str = ""


def normaliser():
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer({})  # no British/American spelling table: none is offline


def streaming_finals(session: Session, cfg: Config, asr) -> list[tuple[float, float, str]]:
    """The live path's final transcripts of the session: (start s, end s, text)."""
    return [(o.t_start / NS, o.t_end / NS, o.meta["text"])
            for o in asr_outputs(session, cfg, asr) if o.meta.get("final")]


def asr_outputs(session: Session, cfg: Config, asr) -> list:
    """The ASR stage's outputs over the session's audio, in-process: the live path, replayed."""
    from stream.app.replay import replay_config
    from stream.core.message import Message
    from stream.process.stage import RunOptions, eos, run_stage
    from stream.stages.asr import AsrStage
    from stream.stages.audio import AudioStage

    cfg = replay_config(cfg, 0.0)
    audio = run_stage(AudioStage(), cfg=cfg,
                      options=RunOptions(sources={"audio": f"session:{session.root}"}))
    msgs = [Message("audio", i, o.t_start, o.t_end, o.watermark, o.parts, o.meta, topic="audio")
            for i, o in enumerate(audio)]
    return run_stage(AsrStage(asr), [*msgs, eos("audio")], cfg=cfg)


def _session_audio(session: Session) -> tuple[float, np.ndarray]:
    runs = session.audio_runs()
    if not runs:
        raise SessionError(f"{session.root}: no audio")
    from stream.encoders.audio import SR

    t0, x = runs[0]  # a generated or imported session is one run; a gap splits a recording
    for t, y in runs[1:]:
        at = int(round((t - t0) * SR))
        x = np.concatenate([x[:at], np.zeros(max(0, at - len(x)), np.float32), y])
    return t0, x


def utterance_audio(root: Path) -> Iterator[tuple[dict, np.ndarray]]:
    """Each reference utterance of a session (``speech.jsonl``, checked) with its audio, cut
    as for a whole-utterance decode (``PAD_S`` of the session's own audio each side)."""
    from stream.encoders.audio import SR

    if not (root / SPEECH_FILE).is_file():
        raise SessionError(f"{root / SPEECH_FILE}: missing (an encoded corpus session has one)")
    t0, x = _session_audio(Session(root))
    for r in read_speech(root / SPEECH_FILE):
        a, b = int((r["start"] - PAD_S - t0) * SR), int((r["end"] + PAD_S - t0) * SR)
        yield r, x[max(a, 0):max(b, 0)]


def whole_utterance(asr, x: np.ndarray) -> str:
    """One decode of a whole utterance, with the streaming path's decode settings."""
    from stream.encoders.asr import decode

    return decode(asr.model, x, asr.cfg.beam_size, asr.prompt, context_s=asr.cfg.context_s)


def references(session: Session, name: str | None = None) -> list[Utterance]:
    """The session's reference utterances (``speech.jsonl``), checked; ``name``: the session's
    in the report (default its directory's)."""
    path = session.root / SPEECH_FILE
    if not path.is_file():
        raise SessionError(f"{path}: missing (asr-eval needs reference transcripts; "
                           "`corpus` writes them, or write one line per utterance by hand)")
    return [Utterance(name or session.root.name, r["voice"], r["start"], r["end"], r["text"])
            for r in read_speech(path)]


def evaluate_session(session: Session, utts: list[Utterance], cfg: Config, model) -> list[str]:
    """Fill in both hypotheses of every reference utterance; returns the streaming finals that
    overlap no reference (heard in noise or silence: insertions). ``model``: the recogniser."""
    from stream.encoders.asr import StreamingAsr
    from stream.encoders.audio import SR

    asr = StreamingAsr(cfg.asr, model=model, home=cfg.home)  # fresh state per session, one model
    t0, x = _session_audio(session)
    for u in utts:
        a, b = int((u.start - PAD_S - t0) * SR), int((u.end + PAD_S - t0) * SR)
        u.whole = whole_utterance(asr, x[max(a, 0):max(b, 0)])
    extra = []
    for fs, fe, text in streaming_finals(session, cfg, asr):
        overlap = [max(0.0, min(fe, u.end) - max(fs, u.start)) for u in utts]
        if not utts or max(overlap) <= 0:
            extra.append(text)
            continue
        u = utts[int(np.argmax(overlap))]
        u.stream = f"{u.stream} {text}".strip()
    return extra


def wer(utts: list[Utterance], which: str, norm=None) -> float | None:
    """Word error rate over these utterances (errors over reference words, pooled)."""
    import jiwer

    norm = norm or normaliser()
    pairs = [(norm(u.ref), norm(getattr(u, which))) for u in utts]
    pairs = [(r, h) for r, h in pairs if r.strip()]
    if not pairs:
        return None
    refs, hyps = zip(*pairs, strict=True)
    return round(float(jiwer.wer(list(refs), list(hyps))), 4)


def _rates(utts: list[Utterance], norm) -> dict:
    s, w = wer(utts, "stream", norm), wer(utts, "whole", norm)
    gap = None if s is None or w is None else round((s - w) / w, 3) if w > 0 else None
    return {"utterances": len(utts), "wer_stream": s, "wer_whole": w, "stream_vs_whole": gap}


def evaluate(sessions: list[Session], cfg: Config, log=print) -> dict:
    """The report: overall, per voice, per session, and every utterance side by side."""
    from stream.app.evaluation import session_names
    from stream.encoders import weights
    from stream.encoders.asr import StreamingAsr

    # (val/spoken_00 and test/spoken_00 are val_spoken_00 and test_spoken_00, as in `eval`)
    names = dict(zip([s.root for s in sessions], session_names(sessions), strict=True))
    refs = {s.root: references(s, names[s.root]) for s in sessions}  # every file checked before any work
    # Partials never feed a final (see the module docstring): skip them.
    cfg = replace(cfg, asr=replace(cfg.asr, partial_every_ms=10**9))
    model = StreamingAsr(cfg.asr, weights.ctranslate2_device(cfg.run.device)).model  # as the ASR worker
    utts: list[Utterance] = []
    extra: dict[str, list[str]] = {}
    for s in sessions:
        log(f"asr-eval: {s.root}")
        extra[names[s.root]] = evaluate_session(s, refs[s.root], cfg, model)
        utts += refs[s.root]
    norm = normaliser()
    by_voice, by_session = defaultdict(list), defaultdict(list)
    for u in utts:
        by_voice[u.voice].append(u)
        by_session[u.session].append(u)
    return {
        "overall": {**_rates(utts, norm), "insertions": sum(len(v) for v in extra.values())},
        "voices": {v: _rates(us, norm) for v, us in sorted(by_voice.items())},
        "sessions": {k: {**_rates(us, norm), "insertions": extra[k]} for k, us in by_session.items()},
        "utterances": [u.__dict__ for u in utts],
    }
