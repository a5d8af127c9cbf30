"""How soon the recogniser's cue fires at the end of each spoken utterance (``asr.speculate_below``).

For each session with reference transcripts (``speech.jsonl``), silero runs over its audio in
the audio worker's chunks; at each utterance's end, the last speech chunk (the one before the
first silent chunk) either has a last VAD frame below a threshold (caught: the early transcript
is decoded there, one chunk sooner) or not. Speech chunks earlier in the utterance whose last frame is
below it, and followed by speech, are void decodes (the voice went on). Usage::

    python -m stream.offline.vad_ends data/corpus/val/spoken_* [--thresholds 0.5 0.8 0.9]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np

from stream.config import Config
from stream.encoders.audio import SR, Vad
from stream.session.format import Session
from stream.session.records import SPEECH_FILE, read_speech


def chunk_frames(x: np.ndarray, chunk: int, reset_s: float = 0.0, silent: float = 0.5) -> np.ndarray:
    """(chunks, frames per chunk) silero probabilities, streamed as the audio worker does."""
    vad = Vad(reset_s, silent=silent)
    n = len(x) // chunk
    return np.stack([vad(x[i * chunk:(i + 1) * chunk]) for i in range(n)]) if n else np.zeros((0, 1))


def utterance_ends(session: str, thresholds: list[float], cfg: Config) -> dict:
    """Per threshold: (utterances caught, void decodes) over the session's utterances."""
    ses = Session(session)
    chunk_s = cfg.audio.chunk_ms / 1000
    speech = read_speech(ses.root / SPEECH_FILE)
    out = {"utterances": 0, **{t: [0, 0] for t in thresholds}}
    for t0, x in ses.audio_runs():
        p = chunk_frames(x, int(chunk_s * SR), cfg.audio.vad_reset_s, cfg.asr.speech_threshold)
        on = p.max(1) >= cfg.asr.speech_threshold
        for u in speech:
            a, b = int((u["start"] - t0) / chunk_s), int((u["end"] - t0) / chunk_s) + 2
            if a < 0 or b + 1 >= len(p):
                continue  # not (all) in this run
            last = max((k for k in range(a, b + 1) if on[k]), default=None)
            if last is None or on[last + 1]:
                continue  # the VAD heard none of it, or it runs on into what follows
            out["utterances"] += 1
            for t in thresholds:
                out[t][0] += bool(p[last, -1] < t)  # its last speech chunk: caught
                out[t][1] += int(sum(on[k] and on[k + 1] and p[k, -1] < t for k in range(a, last)))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sessions", nargs="+")
    ap.add_argument("--thresholds", nargs="+", type=float, default=[0.5, 0.8, 0.9])
    args = ap.parse_args(argv)
    cfg = Config()
    total: dict = defaultdict(lambda: [0, 0])
    n = 0
    for s in args.sessions:
        r = utterance_ends(s, args.thresholds, cfg)
        n += r["utterances"]
        for t in args.thresholds:
            total[t][0] += r[t][0]
            total[t][1] += r[t][1]
        print(json.dumps({"session": s, "utterances": r["utterances"],
                          **{f"below {t}": {"caught": r[t][0], "void": r[t][1]} for t in args.thresholds}}))
    print(json.dumps({"all": n, **{f"below {t}": {"caught": c, "void_per_utterance": round(v / max(n, 1), 2)}
                                    for t, (c, v) in total.items()}}))


if __name__ == "__main__":
    main()
