"""The text model's second opinion: a logistic regression over the words and spelling of a sentence.

MiniLM's sentence embedding reads meaning, and a garbled transcript or an unseen phrasing
moves it a long way: "Next, drag on the speaker." embeds nearer a light command than a
track change, and "Turn off the ceiling fan." (Whisper's capital and full stop) nearer a
volume change. A few words decide a command ("next", "off", "timer"), and their
letters survive a garble better than the sentence's meaning does ("time up" for
"timer"). So the text classifier also scores word unigrams and bigrams and character
2- to 4-grams within words (tf-idf, as scikit-learn's ``char_wb``), and mixes the two
opinions' log-probabilities (``weight`` of this one; :class:`TextPrior`).

Plain numpy and torch: the checkpoint holds n-gram strings and tensors, loaded with
``weights_only`` like every other model here.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import torch

TOKEN = re.compile(r"[a-z0-9']+")
CHAR_N = (2, 3, 4)


def grams(text: str) -> tuple[list[str], list[str]]:
    """A sentence's word n-grams (1-2) and in-word character n-grams (``CHAR_N``), lower-cased;
    punctuation is not a word."""
    words = TOKEN.findall(text.lower())
    ws = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    cs = []
    for w in words:
        p = f" {w} "
        cs += [p[i:i + n] for n in CHAR_N for i in range(len(p) - n + 1)]
    return ws, cs


class LexicalModel:
    """tf-idf n-grams -> intent probabilities (softmax of a linear layer)."""

    def __init__(self, words: list[str], chars: list[str], idf: np.ndarray, W: np.ndarray,
                 b: np.ndarray, weight: float) -> None:
        self.words, self.chars = words, chars
        self.index = ({g: i for i, g in enumerate(words)},
                      {g: i + len(words) for i, g in enumerate(chars)})
        self.idf = np.asarray(idf, np.float32)
        self.W, self.b = np.asarray(W, np.float32), np.asarray(b, np.float32)  # (V, K), (K,)
        self.weight = float(weight)

    def rows(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each sentence's features, sparse: (column indices, values); each group (words,
        characters) L2-normalised on its own."""
        out = []
        for t in texts:
            cols, vals = [], []
            for group, index in zip(grams(t), self.index, strict=True):
                counts = Counter(g for g in group if g in index)
                c = np.array([index[g] for g in counts], np.int64)
                v = np.array([1.0 + math.log(n) for n in counts.values()], np.float32) * self.idf[c]
                norm = float(np.linalg.norm(v))
                cols.append(c)
                vals.append(v / norm if norm > 0 else v)
            out.append((np.concatenate(cols), np.concatenate(vals)))
        return out

    def log_probs(self, texts: list[str]) -> np.ndarray:
        """(len(texts), K) log-probabilities."""
        z = np.stack([v @ self.W[c] for c, v in self.rows(texts)]) + self.b if texts else \
            np.zeros((0, len(self.b)), np.float32)
        z = z - z.max(1, keepdims=True)
        return z - np.log(np.exp(z).sum(1, keepdims=True))

    def state(self) -> dict:
        """The checkpoint part (strings and tensors only)."""
        # (float16 weights: the checkpoint is half the size, the probabilities the same to 1e-3)
        return {"words": self.words, "chars": self.chars, "idf": torch.from_numpy(self.idf),
                "W": torch.from_numpy(self.W).half(), "b": torch.from_numpy(self.b), "weight": self.weight}

    @classmethod
    def from_state(cls, s: dict, n_classes: int | None = None) -> LexicalModel:
        """From :meth:`state`; ValueError if its parts do not fit together (or ``n_classes``)."""
        m = cls(list(s["words"]), list(s["chars"]), s["idf"].numpy(), s["W"].float().numpy(),
                s["b"].numpy(), s["weight"])
        V, K = len(m.words) + len(m.chars), len(m.b)
        if m.W.shape != (V, K) or m.idf.shape != (V,) or K != (n_classes or K) or not 0 <= m.weight <= 1:
            raise ValueError(f"lexical part: weights {m.W.shape} and idf {m.idf.shape} for {V} n-grams "
                             f"and {K} intents (want {n_classes or K}), weight {m.weight}")
        return m

    @classmethod
    def fit(cls, texts: list[str], y: np.ndarray, n_classes: int, weight: float, C: float = 10.0,
            max_iter: int = 200) -> LexicalModel:
        """Multinomial logistic regression, classes balanced, L2 penalty ``1 / C`` (scikit-learn's
        scale), by L-BFGS over the whole set. The vocabulary is every n-gram of ``texts``."""
        seen = [grams(t) for t in texts]
        vocab = [sorted({g for s in seen for g in s[k]}) for k in (0, 1)]
        df = Counter(g for s in seen for k in (0, 1) for g in set(s[k]))
        n = len(texts)
        allg = vocab[0] + vocab[1]
        idf = np.array([math.log((1 + n) / (1 + df[g])) + 1.0 for g in allg], np.float32)
        V = len(allg)
        model = cls(vocab[0], vocab[1], idf, np.zeros((V, n_classes), np.float32),
                    np.zeros(n_classes, np.float32), weight)
        rows = model.rows(texts)
        r = np.concatenate([np.full(len(c), i) for i, (c, _) in enumerate(rows)])
        X = torch.sparse_coo_tensor(np.stack([r, np.concatenate([c for c, _ in rows])]),
                                    torch.from_numpy(np.concatenate([v for _, v in rows])),
                                    (n, V), check_invariants=True).coalesce()
        Y = torch.from_numpy(np.asarray(y, np.int64))
        counts = torch.bincount(Y, minlength=n_classes).float()
        sw = (n / (n_classes * counts.clamp(min=1)))[Y]  # "balanced", as scikit-learn's
        W = torch.zeros(V, n_classes, requires_grad=True)
        b = torch.zeros(n_classes, requires_grad=True)
        opt = torch.optim.LBFGS([W, b], max_iter=max_iter, history_size=20,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-6)

        def closure():
            opt.zero_grad()
            ce = torch.nn.functional.cross_entropy(torch.sparse.mm(X, W) + b, Y, reduction="none")
            loss = (sw * ce).sum() / n + (W * W).sum() / (2 * C * n)
            loss.backward()
            return loss

        opt.step(closure)
        model.W, model.b = W.detach().numpy().copy(), b.detach().numpy().copy()
        return model
