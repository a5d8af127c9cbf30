"""What n-best choosing gains, outside the pipeline: each reference utterance of the sessions
(``speech.jsonl``) decoded whole, read by the intent model's text part.

    python -m stream.offline.nbest_eval SESSION... [--model tiny.en|base] [--n 5] [--weights 0.5 1 2]
        [--second base --below 0.9 ...]

Counts the commands (and the chit-chat, read as ``none``) whose intent the text model gets
right from: the greedy decode, the beam's first hypothesis, the chosen one (per weight), and
any of the n (the ceiling). The README's "n-best" paragraph quotes it. ``--second``: a second
recogniser's n best too, chosen among with the first's (weight 1): always (``union``), or only
where the text model is less than ``below`` sure of the first's choice (``second_below_X``;
``second_decodes_below_X`` counts those utterances); ``any_of_both``, the two recognisers'
ceiling: any of their 2n hypotheses read right (no choosing among them can do better).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from stream.config import Config
from stream.intent.intent_set import NONE
from stream.offline.asr_eval import utterance_audio


def _read(chooser, intents: list[str], texts: list[str], embeddings) -> list[str]:
    """The text model's intent for each sentence (its words and embedding)."""
    return [intents[int(p.argmax())] for p in chooser.prior(embeddings, texts)] if texts else []


def _second_opinion(chooser, intents: list[str], first: tuple, second: tuple, below: list[float]) -> dict:
    """Intents read with a second recogniser's hypotheses (``first``/``second``: texts,
    embeddings, scores): the union always, the union where the first choice is unsure, and
    what each of the second's hypotheses reads as (``second_reads``)."""
    chooser.weight = 1.0
    (t1, e1, s1), (t2, e2, s2) = first, second
    texts, scores = t1 + t2, s1 + s2
    if not texts:
        return {"union": NONE, **{f"second_below_{b:g}": NONE for b in below}, "sure": 1.0,
                "second_reads": []}
    emb = np.concatenate([e for e in (e1, e2) if len(e)])
    k1 = chooser(t1, e1, s1) if t1 else None
    p1 = chooser.prior(e1[k1:k1 + 1], t1[k1:k1 + 1])[0] if k1 is not None else None  # read once
    sure = float(p1.max()) if p1 is not None else 0.0
    first_read = intents[int(p1.argmax())] if p1 is not None else NONE
    k = chooser(texts, emb, scores)
    union = _read(chooser, intents, texts[k:k + 1], emb[k:k + 1])[0]
    return {"union": union, **{f"second_below_{b:g}": union if sure < b else first_read for b in below},
            "sure": sure, "second_reads": _read(chooser, intents, t2, e2)}


def evaluate(roots: list[str], model_name: str, n: int, weights: list[float], second: str | None = None,
             below: list[float] = ()) -> dict:
    from stream.encoders.asr import hypotheses, load_model
    from stream.encoders.text import TextEmbedder
    from stream.intent.nbest import HypothesisChooser

    cfg = Config()
    cfg.asr.n_best = max(n, 2)
    model, emb = load_model(model_name), TextEmbedder()
    model2 = load_model(second) if second else None
    chooser = HypothesisChooser.load(cfg)
    intents = chooser.prior.ckpt["intents"]
    keys = ["greedy", "beam_first", *[f"chosen_{w:g}" for w in weights], f"any_of_{n}"]
    if second:
        keys += ["union", "any_of_both", *(f"second{x}_below_{b:g}" for x in ("", "_decodes") for b in below)]
    got = {kind: dict.fromkeys(keys, 0) for kind in ("commands", "chit_chat")}
    count = {"commands": 0, "chit_chat": 0}
    for root in roots:
        for r, audio in utterance_audio(Path(root)):
            kind = "chit_chat" if r["intent"] == NONE else "commands"
            count[kind] += 1
            greedy = hypotheses(model, audio, 1, None, context_s=cfg.asr.context_s)
            hyps = hypotheses(model, audio, 1, None, context_s=cfg.asr.context_s, n=n)
            texts, first = [h for h, _ in hyps], [h for h, _ in greedy[:1]]
            e = emb(texts)
            read = _read(chooser, intents, texts, e)
            right = {"greedy": _read(chooser, intents, first, emb(first))[:1] == [r["intent"]],
                     "beam_first": read[:1] == [r["intent"]], f"any_of_{n}": r["intent"] in read}
            if not hyps:  # nothing heard: right only if nothing was meant
                right = dict.fromkeys(right, kind == "chit_chat")
            for w in weights:
                chooser.weight = w
                k = chooser(texts, e, [s for _, s in hyps]) if hyps else 0
                right[f"chosen_{w:g}"] = read[k] == r["intent"] if hyps else kind == "chit_chat"
            if model2 is not None:
                hyps2 = hypotheses(model2, audio, 1, None, context_s=cfg.asr.context_s, n=n)
                t2 = [h for h, _ in hyps2]
                reads = _second_opinion(chooser, intents, (texts, e, [s for _, s in hyps]),
                                        (t2, emb(t2) if t2 else np.zeros((0, 384), np.float32),
                                         [s for _, s in hyps2]), below)
                right |= {k: v == r["intent"] for k, v in reads.items() if k not in ("sure", "second_reads")}
                right["any_of_both"] = right[f"any_of_{n}"] or r["intent"] in reads["second_reads"]
                right |= {f"second_decodes_below_{b:g}": reads["sure"] < b for b in below}
            for key in keys:
                got[kind][key] += bool(right[key])
    return {"model": model_name, "second": second, "n": n, "utterances": count, "right": got}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sessions", nargs="+")
    ap.add_argument("--model", default="tiny.en", choices=["tiny.en", "base"])
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--weights", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    ap.add_argument("--second", choices=["tiny.en", "base"], help="a second recogniser's n best too")
    ap.add_argument("--below", type=float, nargs="+", default=[0.9],
                    help="--second only where the text model is less sure than this of the first's choice")
    args = ap.parse_args()
    got = evaluate(args.sessions, args.model, args.n, args.weights, args.second, args.below)
    print(json.dumps(got, indent=2))


if __name__ == "__main__":
    main()
