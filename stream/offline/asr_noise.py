"""The recogniser's word errors, learned and replayed on clean sentences (ASR error simulation).

The text intent model learns from template sentences, which are spelled right; what it reads
live is what Whisper heard: "add 20 seconds to the timer" arrives as "at 20 seconds to the
timer", "deactivate" as "deep to activate". Training on the recogniser's real transcripts
helps only for the few sentences the corpus says aloud. Here the errors themselves are
learned, from (what was said, what was heard) pairs: which words (and word pairs) Whisper
replaced with what, and how often; then every training sentence gets noisy copies with the
same errors at the same rates, so phrasings never said aloud are learned as heard too.
"""

from __future__ import annotations

import difflib
import random
from collections import Counter, defaultdict
from pathlib import Path

from stream.config import Config
from stream.encoders.asr import words  # said and heard compared as hypotheses are

MAX_WORDS = 2  # the longest stretch of said words whose replacement is learned


class Confusions:
    def __init__(self) -> None:
        self.heard_as: dict[tuple[str, ...], Counter] = defaultdict(Counter)  # said -> heard
        self.said: Counter = Counter()  # how often each word was said

    @classmethod
    def learn(cls, pairs: list[tuple[str, str]]) -> Confusions:
        """From (said, heard) sentence pairs: each replaced or dropped stretch of up to
        ``MAX_WORDS`` said words, and what was heard instead."""
        c = cls()
        for said, heard in pairs:
            r, h = words(said), words(heard)
            c.said.update((w,) for w in r)
            ops = difflib.SequenceMatcher(a=r, b=h, autojunk=False).get_opcodes()
            for op, i1, i2, j1, j2 in ops:
                if op == "replace" and i2 - i1 <= MAX_WORDS and j2 - j1 <= MAX_WORDS + 1:
                    c.heard_as[tuple(r[i1:i2])][tuple(h[j1:j2])] += 1
                elif op == "delete" and i2 - i1 == 1:
                    c.heard_as[tuple(r[i1:i2])][()] += 1
        return c

    def __len__(self) -> int:
        return len(self.heard_as)

    def _rate(self, key: tuple[str, ...]) -> float:
        """How often ``key`` was misheard: per time said for a word; how often a pair was
        said is not counted, so a pair is replaced a third of the time (rare on purpose)."""
        if len(key) > 1:
            return 1 / 3
        n = sum(self.heard_as[key].values())
        return n / max(self.said[key], n)

    def noisy(self, text: str, rng: random.Random) -> str:
        """``text`` as the recogniser might hear it: each stretch it has misheard before is
        replaced, at the rate it was, by one of the things heard instead (as often as those)."""
        w, out, i = words(text), [], 0
        while i < len(w):
            for n in range(MAX_WORDS, 0, -1):
                key = tuple(w[i:i + n])
                if len(key) == n and key in self.heard_as and rng.random() < self._rate(key):
                    heard, counts = zip(*self.heard_as[key].items(), strict=True)
                    out += rng.choices(heard, counts)[0]
                    i += n
                    break
            else:
                out.append(w[i])
                i += 1
        return " ".join(out)


def said_and_heard(sessions: list[Path], cfg: Config, log=print) -> list[tuple[str, str]]:
    """(what was said, one thing Whisper heard) for each of the ``asr.n_best`` hypotheses of
    every reference utterance of ``sessions`` (``speech.jsonl``), decoded whole with the
    config's recogniser settings: the lower-ranked hypotheses show the errors it is prone to."""
    from stream.encoders.asr import decoding_prompt, hypotheses, load_model, model_name
    from stream.encoders.weights import ctranslate2_device
    from stream.offline.asr_eval import utterance_audio

    device = ctranslate2_device(cfg.run.device)
    model = load_model(model_name(cfg.asr.model, device), device)
    prompt = decoding_prompt(cfg.asr.prompt, cfg.home)
    pairs = []
    for root in sessions:
        for r, audio in utterance_audio(root):
            pairs += [(r["text"], h) for h, _ in hypotheses(model, audio, cfg.asr.beam_size, prompt,
                                                            context_s=cfg.asr.context_s,
                                                            n=max(cfg.asr.n_best, 1))]
        log(f"{root}: {len(pairs)} (said, heard) pairs so far")
    return pairs
