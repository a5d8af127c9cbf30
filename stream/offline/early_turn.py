"""How often an early answer (semantic end of turn) is contradicted by its final transcript.

``python -m stream.offline.early_turn SESSION... [--confidence C]``: for each session with a
feature cache, its audio goes through the live path in-process (audio stage, then the ASR
stage with ``asr.early = "always"``, as live would run it), the early and final transcripts
are embedded, and fusion replays them over the session's cached video and audio features
with the shipped model. Every early window is decided as live decides it: answered if the
model is sure of a command, and an answer that the final then revises to another intent is
*contradicted*. Counts are per session and in total, against the labelled command spans.
Partials are skipped (they never feed a final or an early transcript). Each session is also
scored as ``eval`` scores it (spoken command spans right, false triggers, unaddressed speech
that fired): with ``--config`` changing the recogniser, this is ``eval`` for a new
recogniser without re-encoding the video.

Synthetic voices hardly pause inside a command, so the corpus rarely tests a revision.
``hesitations`` asks the harder question: had the speaker paused after word k of each
recognised command (k = 2 .. n-1), would the early answer to its first k words have been
given, and would the whole command have contradicted it? (Context: the session's own
cached features; the pause placed in proportion to the words.)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from stream.config import Config
from stream.core.message import Message
from stream.session.format import Session

KEYS = ("early_answered", "early_confirmed", "early_upheld", "early_contradicted", "early_unsure")


def transcripts(session: Session, cfg: Config, emb, detector) -> list[Message]:
    """The session's early and final transcripts, embedded, as the text stage publishes them."""
    from stream.encoders import weights
    from stream.encoders.asr import StreamingAsr, load_model, second_name, second_opinion
    from stream.intent.nbest import HypothesisChooser, parse_hypotheses
    from stream.offline.asr_eval import asr_outputs

    device = weights.ctranslate2_device(cfg.run.device)
    asr = StreamingAsr(cfg.asr, device, live=False, home=cfg.home)
    outs = [o for o in asr_outputs(session, cfg, asr) if o.meta.get("final") or o.meta.get("early")]
    chooser = HypothesisChooser.load(cfg)
    name = second_name(cfg.asr, device)
    second = load_model(name, device, cfg.run.torch_threads) if name else None
    texts, vecs = [o.meta["text"] for o in outs], [None] * len(outs)
    for i, o in enumerate(outs):  # the intent model chooses among the n best, as the text stage does
        if chooser is not None and (hyps := parse_hypotheses(o.meta.get("hypotheses"))):
            pcm = o.parts.get("pcm") if second else None
            ask = (lambda a=pcm: second_opinion(second, a, cfg.asr, cfg.home)) if pcm is not None else None
            texts[i], vecs[i], _ = chooser.choose(emb, hyps, ask, cfg.asr.second_below)
    plain = [i for i, v in enumerate(vecs) if v is None]
    for i, v in zip(plain, emb([texts[i] for i in plain]) if plain else [], strict=True):
        vecs[i] = v
    out = []
    for i, (o, text, v) in enumerate(zip(outs, texts, vecs, strict=True)):
        meta = {"text": text, "source": "asr"}
        if o.meta["early"]:  # as the text stage marks it
            meta.update(early=True, complete=round(float(detector(v)[0]), 4))
        out.append(Message("text", i, o.t_start, o.t_end, o.t_start if o.meta["early"] else o.t_end,
                           {"embedding": v}, meta, topic="text"))
    return out


def hesitations(fuser, finals: list[Message], commands: list[dict], emb, detector) -> dict:
    """Each command's final transcript cut after word k (k = 2 .. n-1), answered early or not."""
    from stream.fusion.align import Item
    from stream.intent.intent_set import NONE

    f, a, c = fuser.turns.confidence, fuser.turns.addressed, fuser.turns.complete
    out = {"commands": 0, "pauses": 0, "answered": 0, "contradicted": 0, "examples": []}
    share = []  # per command: the share of its pause points that give a contradicted answer
    for m in finals:
        words = m.meta["text"].split()
        t = m.t_end / 1e9
        if len(words) < 3 or not any(sp["start"] <= t <= sp["end"] + 1.0 for sp in commands):
            continue
        final = fuser.model.predict(fuser.aligner.peek(m.t_end, 0))
        cuts = range(2, len(words))
        vecs = emb([" ".join(words[:k]) for k in cuts])
        complete = detector(vecs)
        bad = 0
        for k, v, done in zip(cuts, vecs, complete, strict=True):
            end = m.t_start + (m.t_end - m.t_start) * k // len(words)
            text = " ".join(words[:k])
            item = Item(m.t_start, end, {"embedding": v}, {"text": text, "source": "asr"}, 0)
            p = fuser.model.predict(fuser.aligner.peek(end, 0, ("text", item)))
            out["pauses"] += 1
            if p.intent == NONE or p.confidence < f or p.addressed < a or done < c:
                continue
            out["answered"] += 1
            if p.intent != final.intent:
                bad += 1
                out["examples"].append(f"{text!r} -> {p.intent}, then {m.meta['text']!r} -> {final.intent}")
        out["commands"] += 1
        out["contradicted"] += bad
        share.append(bad / len(cuts))
    out["contradicted_per_command_if_each_paused_once"] = round(sum(share) / len(share), 4) if share else None
    return out


def measure_session(session: Session, cfg: Config, model, emb, detector,
                    spoken: list[Message]) -> dict:
    """``spoken``: the session's early and final transcripts (:func:`transcripts`)."""
    from stream.session.features import drain, load_messages

    cached = load_messages(session.root, cfg)
    typed = [m for m in cached.pop("text", []) if m.meta.get("source") != "asr"]
    fuser = _filled(cfg, model, cached, typed + spoken)
    preds = drain(fuser)
    counts = {k: sum(v for c, v in fuser.aligner.counts.items() if c.endswith("." + k)) for k in KEYS}
    commands = [sp for sp in session.labels() if sp["intent"] != "none"]
    finals = [m for m in spoken if not m.meta.get("early")]
    return {**counts, **_scored(session, preds, finals, cfg.fusion.hop_s),
            "early_transcripts": sum(1 for m in spoken if m.meta.get("early")),
            "finals": sum(1 for m in spoken if not m.meta.get("early")),
            "command_spans": len(commands),
            "early_in_command_spans": sum(1 for p in preds if p.get("early") and any(
                sp["start"] <= p["t"] <= sp["end"] + 1.0 for sp in commands)),
            "hesitations": hesitations(_filled(cfg, model, cached, typed + finals), finals, commands,
                                       emb, detector)}


def _scored(session: Session, preds: list[dict], finals: list[Message], hop_s: float) -> dict:
    """What ``eval`` would say of these predictions (as counts, so sessions add up)."""
    from stream.offline import evaluate

    speech = [{"t": m.t_start / 1e9, "end": m.t_end / 1e9} for m in finals]
    sc = evaluate.score(preds, session.labels(), session.duration_s, session.text_events(), speech=speech,
                        hop_s=hop_s)
    spoken = [e for e in sc["events"] if e["kind"] == "spoken"]
    return {"spoken_spans": len(spoken), "spoken_right": sum(e["right"] for e in spoken),
            "false_triggers": sc["false_triggers"], "unaddressed_utterances": sc["unaddressed_utterances"],
            "unaddressed_fired": sc["unaddressed_fired"]}


def _filled(cfg: Config, model, cached: dict[str, list[Message]], texts: list[Message]):
    """A fuser holding the cached video and audio and these texts, no window closed yet."""
    from stream.session.features import filled_fuser

    texts = sorted(texts, key=lambda m: (m.t_end, m.seq))  # (stable: an early one before its final)
    return filled_fuser(cfg, list(cached) + ["text"], {**cached, "text": texts}, model)


def _total(per: dict[str, dict]) -> dict:
    total = {k: sum(r[k] for r in per.values()) for k in next(iter(per.values())) if k != "hesitations"}
    n = total["command_spans"]
    total["contradicted_per_command"] = round(total["early_contradicted"] / n, 4) if n else None
    k = total["spoken_spans"]
    total["spoken_event_accuracy"] = round(total["spoken_right"] / k, 4) if k else None
    hs = [r["hesitations"] for r in per.values()]
    h = {k: sum(x[k] for x in hs) for k in ("commands", "pauses", "answered", "contradicted")}
    shares = [x["contradicted_per_command_if_each_paused_once"] * x["commands"] for x in hs if x["commands"]]
    h["contradicted_per_command_if_each_paused_once"] = \
        round(sum(shares) / h["commands"], 4) if h["commands"] else None
    return {**total, "hesitations": h}


def measure(sessions: list[Session], cfg: Config, confidences: list[float],
            completes: list[float], log=print) -> dict:
    """Per pair of thresholds (intent confidence, completeness): totals and each session's."""
    from stream.app.replay import replay_config
    from stream.encoders import weights
    from stream.encoders.text import TextEmbedder
    from stream.intent.checkpoint import load_model
    from stream.intent.end_of_turn import load_detector

    cfg = replay_config(cfg, 0.0)
    cfg = replace(cfg, asr=replace(cfg.asr, early="always", partial_every_ms=10**9))
    model = load_model(cfg.fusion.model, cfg)
    emb = TextEmbedder(weights.torch_device(cfg.run.device), cfg.text.max_len)
    detector = load_detector(cfg.text.end_of_turn)
    spoken = {}
    for s in sessions:
        log(f"early-turn: {s.root}")
        spoken[s.root] = transcripts(s, cfg, emb, detector)
    out = {}
    for conf in confidences:
        for done in completes:
            cc = replace(cfg, fusion=replace(cfg.fusion, early_confidence=conf, early_complete=done))
            per = {s.root.name: measure_session(s, cc, model, emb, detector, spoken[s.root])
                   for s in sessions}
            out[f"confidence {conf}, complete {done}"] = {"total": _total(per), "sessions": per}
    return out


def main(argv: list[str] | None = None) -> int:
    from stream import config as config_mod

    ap = argparse.ArgumentParser(prog="python -m stream.offline.early_turn")
    ap.add_argument("sessions", nargs="+")
    ap.add_argument("--confidence", type=float, nargs="+",
                    help="fusion.early_confidence values to try (default: the config's)")
    ap.add_argument("--complete", type=float, nargs="+",
                    help="fusion.early_complete values to try (default: the config's)")
    ap.add_argument("--config", default="live", help="configs/NAME.toml or a path (asr settings)")
    args = ap.parse_args(argv)
    cfg = config_mod.load(args.config)
    sessions = [Session(Path(p)) for p in args.sessions]
    confidences = args.confidence or [cfg.fusion.early_confidence]
    completes = args.complete or [cfg.fusion.early_complete]
    print(json.dumps(measure(sessions, cfg, confidences, completes,
                             log=lambda s: print(s, file=sys.stderr)), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
