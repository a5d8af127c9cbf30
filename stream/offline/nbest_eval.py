"""What n-best choosing gains, outside the pipeline: each reference utterance of the sessions
(``speech.jsonl``) decoded whole, read by the intent model's text part.

    python -m stream.offline.nbest_eval SESSION... [--model tiny.en|base] [--n 5] [--weights 0.5 1 2]

Counts the commands (and the chit-chat, read as ``none``) whose intent the text model gets
right from: the greedy decode, the beam's first hypothesis, the chosen one (per weight), and
any of the n (the ceiling). The README's "n-best" paragraph quotes it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stream.config import Config
from stream.intent.intent_set import NONE
from stream.offline.asr_eval import utterance_audio


def _read(chooser, intents: list[str], texts: list[str], embeddings) -> list[str]:
    """The text model's intent for each sentence (its words and embedding)."""
    return [intents[int(p.argmax())] for p in chooser.prior(embeddings, texts)] if texts else []


def evaluate(roots: list[str], model_name: str, n: int, weights: list[float]) -> dict:
    from stream.encoders.asr import hypotheses, load_model
    from stream.encoders.text import TextEmbedder
    from stream.intent.nbest import HypothesisChooser

    cfg = Config()
    cfg.asr.n_best = max(n, 2)
    model, emb = load_model(model_name), TextEmbedder()
    chooser = HypothesisChooser.load(cfg)
    intents = chooser.prior.ckpt["intents"]
    keys = ["greedy", "beam_first", *[f"chosen_{w:g}" for w in weights], f"any_of_{n}"]
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
            for key in keys:
                got[kind][key] += bool(right[key])
    return {"model": model_name, "n": n, "utterances": count, "right": got}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sessions", nargs="+")
    ap.add_argument("--model", default="tiny.en", choices=["tiny.en", "base"])
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--weights", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    args = ap.parse_args()
    print(json.dumps(evaluate(args.sessions, args.model, args.n, args.weights), indent=2))


if __name__ == "__main__":
    main()
