"""How often an early answer (semantic end of turn) is contradicted by its final transcript.

``python -m stream.offline.early_turn SESSION... [--confidence C]``: for each session with a
feature cache, its audio goes through the live path in-process (audio stage, then the ASR
stage with ``asr.early = "always"``, as live would run it), the early and final transcripts
are embedded, and fusion replays them over the session's cached video and audio features
with the shipped model. Every early window is decided as live decides it: answered if the
model is sure of a command, and an answer that the final then revises to another intent is
*contradicted*. Counts are per session and in total, against the labelled command spans.
Partials are skipped (they never feed a final or an early transcript).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from stream.config import Config
from stream.core.message import EOS, Message
from stream.session.format import Session

KEYS = ("early_answered", "early_confirmed", "early_upheld", "early_contradicted", "early_unsure")


def transcripts(session: Session, cfg: Config) -> list[Message]:
    """The session's early and final transcripts, embedded, as the text stage publishes them."""
    from stream.encoders import weights
    from stream.encoders.asr import StreamingAsr
    from stream.encoders.text import TextEmbedder
    from stream.offline.asr_eval import asr_outputs

    asr = StreamingAsr(cfg.asr, weights.ctranslate2_device(cfg.run.device), live=False)
    outs = [o for o in asr_outputs(session, cfg, asr) if o.meta.get("final") or o.meta.get("early")]
    emb = TextEmbedder(weights.torch_device(cfg.run.device), cfg.text.max_len)
    vecs = emb([o.meta["text"] for o in outs]) if outs else []
    return [Message("text", i, o.t_start, o.t_end, o.t_start if o.meta["early"] else o.t_end,
                    {"embedding": v}, {"text": o.meta["text"], "source": "asr",
                                       **({"early": True} if o.meta["early"] else {})},
                    topic="text")
            for i, (o, v) in enumerate(zip(outs, vecs, strict=True))]


def measure_session(session: Session, cfg: Config, model) -> dict:
    from stream.fusion.fuser import Fuser
    from stream.session.features import load_messages

    cached = load_messages(session.root, cfg)
    typed = [m for m in cached.pop("text", []) if m.meta.get("source") != "asr"]
    spoken = transcripts(session, cfg)
    texts = sorted(typed + spoken, key=lambda m: (m.t_end, m.seq))  # (stable: early first)
    fuser = Fuser(cfg, list(cached) + ["text"], origin_ns=0, model=model)
    for msgs in [*cached.values(), texts]:
        for m in msgs:
            fuser.add(m, 0)
    for s in fuser.streams:
        fuser.advance(s, EOS)
    preds = [p for p in (fuser.predict(w, None) for w in fuser.poll(0)) if p is not None]
    counts = {k: sum(v for c, v in fuser.aligner.counts.items() if c.endswith("." + k)) for k in KEYS}
    commands = [sp for sp in session.labels() if sp["intent"] != "none"]
    return {**counts, "early_transcripts": sum(1 for m in spoken if m.meta.get("early")),
            "finals": sum(1 for m in spoken if not m.meta.get("early")),
            "command_spans": len(commands),
            "early_in_command_spans": sum(1 for p in preds if p.get("early") and any(
                sp["start"] <= p["t"] <= sp["end"] + 1.0 for sp in commands))}


def measure(sessions: list[Session], cfg: Config, log=print) -> dict:
    from stream.app.replay import replay_config
    from stream.intent.checkpoint import load_model

    cfg = replay_config(cfg, 0.0)
    cfg = replace(cfg, asr=replace(cfg.asr, early="always", partial_every_ms=10**9))
    model = load_model(cfg.fusion.model, cfg)
    per = {}
    for s in sessions:
        log(f"early-turn: {s.root}")
        per[s.root.name] = measure_session(s, cfg, model)
    total = {k: sum(r[k] for r in per.values()) for k in next(iter(per.values()))}
    n = total["command_spans"]
    total["contradicted_per_command"] = round(total["early_contradicted"] / n, 4) if n else None
    return {"confidence": cfg.fusion.early_confidence, "total": total, "sessions": per}


def main(argv: list[str] | None = None) -> int:
    from stream import config as config_mod

    ap = argparse.ArgumentParser(prog="python -m stream.offline.early_turn")
    ap.add_argument("sessions", nargs="+")
    ap.add_argument("--confidence", type=float, help="fusion.early_confidence (default: config's)")
    args = ap.parse_args(argv)
    over = {"fusion": {"early_confidence": args.confidence}} if args.confidence is not None else None
    cfg = config_mod.load("live", over)
    sessions = [Session(Path(p)) for p in args.sessions]
    print(json.dumps(measure(sessions, cfg, log=lambda s: print(s, file=sys.stderr)), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
