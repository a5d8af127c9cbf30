"""More of the recogniser's words for the text model: training sentences spoken by the training
split's voices, recognised as the live path recognises them.

The corpus's training sessions hold ~265 spoken utterances, so the text model sees few of the
recogniser's errors ("at 38 minutes to the timer" for "add"). This speaks more of the training
split's sentences (commands and small talk, in the proportions of the corpus) in its voices,
each across a room with the corpus's noise, and keeps what the recogniser makes of it: tiny.en's
5 best chosen among by the shipped text model, base asked where that is unsure, exactly as the
text worker does. Validation and test sentences and voices are never used. Run::

    python -m stream.offline.heard data/heard.jsonl [--n 1000] [--seed 1]    # ~15 min here

then ``train-text --heard data/heard.jsonl ...``. One line per utterance: ``{"said", "heard",
"intent", "voice", "asked"}``.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from stream.config import Config
from stream.intent import intent_set as hi

ROOMS = 8  # rooms (reverberation, noise) per voice set
NATURAL_SHARE = 0.6  # of utterances in the natural voices (the rest robotic)
TALK_SHARE = 0.15  # of utterances small talk (labelled none)
PAD_S = 0.4  # silence each side, as a whole-utterance decode has
THREADS = 2  # fixed: what is heard must not depend on the machine


def utterances(n: int, seed: int, cfg: Config) -> Iterator[dict]:
    """``n`` training sentences spoken and recognised (fewer where nothing was heard)."""
    from stream.encoders.asr import hypotheses, load_model, second_opinion
    from stream.encoders.audio import SR
    from stream.encoders.text import TextEmbedder
    from stream.intent.nbest import HypothesisChooser
    from stream.offline import corpus

    sents = corpus.splits(0, cfg.home)["train"]  # the corpus's own split (its default seed), its names
    tiny, base = load_model("tiny.en", "cpu", THREADS), load_model("base", "cpu", THREADS)
    chooser, embed = HypothesisChooser.load(cfg), TextEmbedder()
    rng = random.Random(seed)
    rooms = {(vs, k): corpus.Renderer(seed * 1000 + k + (500 if vs == "robotic" else 0), vs)
             for vs in ("natural", "robotic") for k in range(ROOMS)}  # (each draws its room and noise)
    pad = np.zeros(int(PAD_S * SR), np.float32)
    for _ in range(n):
        room = rooms[("natural" if rng.random() < NATURAL_SHARE else "robotic", rng.randrange(ROOMS))]
        if rng.random() < TALK_SHARE:
            said, intent = rng.choice(sents.talk), hi.NONE
        else:
            ex = rng.choice(sents.commands)
            said, intent = ex.text, ex.intent
        x, voice = room.speech(said, "train")
        x, _, _ = corpus.noisy(np.concatenate([pad, x, pad]), room)
        hyps = hypotheses(tiny, x, cfg.asr.beam_size, None, True, cfg.asr.context_s, cfg.asr.n_best)
        if not hyps:
            continue
        heard, _, asked = chooser.choose(embed, hyps, lambda x=x: second_opinion(base, x, cfg.asr),
                                         cfg.asr.second_below)
        yield {"said": said, "heard": heard, "intent": intent, "voice": voice, "asked": asked}


def write(path: Path, n: int, seed: int, cfg: Config, log=print) -> int:
    """``n`` utterances to ``path`` (JSON lines), whole or not at all; how many were heard."""
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    k = 0
    try:
        with tmp.open("w") as f:
            for k, row in enumerate(utterances(n, seed, cfg), 1):
                f.write(json.dumps(row) + "\n")
                if k % 100 == 0:
                    log(f"{k} of {n}: {row['voice']} said {row['said']!r}, heard {row['heard']!r}")
    except BaseException:  # (Ctrl-C included) no partial file left behind
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--n", type=int, default=1000, help="utterances (default 1000: the shipped models')")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.n < 1:
        raise SystemExit(f"--n: {args.n} is not a positive number of utterances")
    print(f"{write(args.out, args.n, args.seed, Config())} utterances heard -> {args.out}")


if __name__ == "__main__":
    main()
