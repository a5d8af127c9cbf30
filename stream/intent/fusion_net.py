"""The learned multimodal fusion model (early, intermediate or late fusion).

Each modality's per-step features are projected to a shared width (128);
every step is tagged with its modality and its time within the window.

* ``early``: masked mean of each modality's projected steps, concatenated with
  the stream-availability flags, into one MLP.
* ``intermediate``: all steps of all modalities as tokens (plus a summary token)
  through a small Transformer encoder: cross-modal attention over the window.
* ``late``: one small network and one head per modality; their logits are
  mixed by learned gates over the modalities that are available.

Masks keep missing data out (never zero-filled as if it were data): padded or
absent steps are masked in attention and in means, and a stream that is down
is flagged unavailable. Training drops video and audio at random (modality
dropout) so the model copes when one is gone. Outputs: intent logits
(``none`` included), an "addressed" logit, and per-prediction modality
contributions by occlusion (how much the answer changes without each one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stream.fusion.align import Window
from stream.intent.baseline import Prediction

MODS = ("video", "audio", "text")
TV, TA, TT = 16, 24, 2  # steps kept per window (uniformly subsampled if more)
VIDEO_DIM, AUDIO_DIM, TEXT_DIM = 10 + 1280, 1 + 128, 384 + 2  # text: + the text classifier's probs


class TextPrior:
    """The baseline text intent classifier, as a feature: its probabilities per text.

    It was trained on every training-template sentence (far more text than the
    sessions hold), so it gives the fusion model a strong prior on *what* was
    said; fusion learns *whether* it was meant for the assistant.
    """

    def __init__(self, ckpt: dict) -> None:
        from stream.intent.baseline import TextIntentNet

        self.ckpt = ckpt
        self.net = TextIntentNet(ckpt["dim"], len(ckpt["intents"]), ckpt["hidden"])
        self.net.load_state_dict(ckpt["state"])
        self.net.eval()
        self.dim = len(ckpt["intents"])

    @staticmethod
    def load(path: Path) -> TextPrior:
        return TextPrior(torch.load(path, map_location="cpu", weights_only=False))

    def __call__(self, emb: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(self.net(torch.from_numpy(np.atleast_2d(emb).astype(np.float32))),
                                 -1).numpy()


@dataclass
class WindowArrays:
    """One window's inputs: per modality, step features (n, dim) and step end times (n,) in ns."""

    end_ns: int
    window_ns: int
    video: np.ndarray
    video_t: np.ndarray
    audio: np.ndarray
    audio_t: np.ndarray
    text: np.ndarray
    text_t: np.ndarray
    available: np.ndarray  # (3,) bool: the stream is up (its data is trustworthy)


def _keep_last(n: int, k: int) -> np.ndarray:
    """Indices of at most ``k`` of ``n`` steps, spread uniformly, always keeping the last."""
    if n <= k:
        return np.arange(n)
    return np.round(np.linspace(0, n - 1, k)).astype(int)


def window_arrays(w: Window, window_ns: int, prior: TextPrior | None = None) -> WindowArrays:
    """Turn an aligner window into model inputs (the live and replay path)."""
    def stack(items, f, dim):
        return (np.stack([f(it) for it in items]).astype(np.float32) if items
                else np.zeros((0, dim), np.float32))

    v = w.items.get("video", [])
    a = w.items.get("audio", [])
    t = w.items.get("text", [])
    video = stack(v, lambda it: np.concatenate([it.parts[0], it.parts[1] if len(it.parts) > 1
                                                else np.zeros(1280, np.float32)]), VIDEO_DIM)
    audio = stack(a, lambda it: np.concatenate([[it.meta.get("vad", 0.0)], it.parts[2]]), AUDIO_DIM)
    text = stack(t, lambda it: np.concatenate([it.parts[0], [float(it.meta.get("source") == "typed"),
                                                              (w.end_ns - it.t_end) / window_ns]]),
                 TEXT_DIM)
    if prior is not None:
        extra = prior(text[:, :384]) if len(text) else np.zeros((0, prior.dim), np.float32)
        text = np.concatenate([text, extra], 1).astype(np.float32)
    avail = np.array([w.status.get(m, "missing") != "missing" for m in MODS])
    return WindowArrays(w.end_ns, window_ns, video, np.array([it.t_end for it in v], np.int64),
                        audio, np.array([it.t_end for it in a], np.int64), text,
                        np.array([it.t_end for it in t], np.int64), avail)


def collate(ws: list[WindowArrays], norm: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Pad and normalise a list of windows into batch tensors."""
    B = len(ws)
    out: dict[str, torch.Tensor] = {}
    text_dim = len(norm["text_mean"])
    for name, T, dim in (("video", TV, VIDEO_DIM), ("audio", TA, AUDIO_DIM), ("text", TT, text_dim)):
        x = np.zeros((B, T, dim), np.float32)
        tt = np.zeros((B, T), np.float32)
        m = np.zeros((B, T), bool)
        for i, w in enumerate(ws):
            feats, times = getattr(w, name), getattr(w, name + "_t")
            if name == "text":
                idx = np.arange(max(0, len(feats) - T), len(feats))  # the newest texts
            else:
                idx = _keep_last(len(feats), T)
            n = len(idx)
            if n:
                x[i, :n] = (feats[idx] - norm[name + "_mean"]) / norm[name + "_std"]
                tt[i, :n] = (times[idx] - w.end_ns) / w.window_ns  # in [-1, 0]
                m[i, :n] = True
        out[name], out[name + "_t"], out[name + "_mask"] = (torch.from_numpy(x), torch.from_numpy(tt),
                                                            torch.from_numpy(m))
    out["available"] = torch.from_numpy(np.stack([w.available for w in ws]))
    return out


def _masked_mean(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    w = m.unsqueeze(-1).float()
    return (x * w).sum(1) / w.sum(1).clamp(min=1.0)


class FusionNet(nn.Module):
    def __init__(self, n_intents: int, mode: str = "intermediate", d: int = 128, layers: int = 2,
                 heads: int = 4, dropout: float = 0.1, text_dim: int = TEXT_DIM) -> None:
        super().__init__()
        if mode not in ("early", "intermediate", "late"):
            raise ValueError(f"unknown fusion mode {mode!r}")
        self.mode, self.d, self.n_intents = mode, d, n_intents
        dims = {"video": VIDEO_DIM, "audio": AUDIO_DIM, "text": text_dim}
        self.proj = nn.ModuleDict({m: nn.Sequential(nn.Linear(dims[m], d), nn.GELU(), nn.Dropout(dropout))
                                   for m in MODS})
        self.mod_emb = nn.Parameter(torch.randn(3, d) * 0.02)
        self.time_emb = nn.Linear(1, d)
        self.avail_emb = nn.Linear(3, d)
        if mode == "early":
            self.body = nn.Sequential(nn.Linear(3 * d + 3, 2 * d), nn.GELU(), nn.Dropout(dropout),
                                      nn.Linear(2 * d, d), nn.GELU())
        elif mode == "intermediate":
            self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
            layer = nn.TransformerEncoderLayer(d, heads, 2 * d, dropout, batch_first=True,
                                               norm_first=True, activation="gelu")
            self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d)
        else:
            self.per_mod = nn.ModuleDict({m: nn.Sequential(nn.Linear(2 * d, d), nn.GELU(),
                                                           nn.Linear(d, n_intents + 1)) for m in MODS})
            self.gate = nn.ModuleDict({m: nn.Linear(2 * d, 1) for m in MODS})
        if mode != "late":
            self.intent_head = nn.Linear(d, n_intents)
            self.addressed_head = nn.Linear(d, 1)

    def tokens(self, b: dict[str, torch.Tensor], m: str, i: int) -> torch.Tensor:
        return (self.proj[m](b[m]) + self.mod_emb[i]
                + self.time_emb(b[m + "_t"].unsqueeze(-1)))

    def forward(self, b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        avail = b["available"]
        masks = {m: b[m + "_mask"] & avail[:, i:i + 1] for i, m in enumerate(MODS)}
        toks = {m: self.tokens(b, m, i) for i, m in enumerate(MODS)}
        if self.mode == "early":
            pooled = [_masked_mean(toks[m], masks[m]) for m in MODS]
            h = self.body(torch.cat([*pooled, avail.float()], -1))
            return self.intent_head(h), self.addressed_head(h).squeeze(-1)
        if self.mode == "intermediate":
            B = avail.shape[0]
            cls = self.cls.expand(B, 1, self.d) + self.avail_emb(avail.float()).unsqueeze(1)
            x = torch.cat([cls, *(toks[m] for m in MODS)], 1)
            keep = torch.cat([torch.ones(B, 1, dtype=torch.bool), *(masks[m] for m in MODS)], 1)
            h = self.norm(self.body(x, src_key_padding_mask=~keep)[:, 0])
            return self.intent_head(h), self.addressed_head(h).squeeze(-1)
        # late: per-modality opinions, gated over what is available
        outs, gates = [], []
        for i, m in enumerate(MODS):
            pooled = torch.cat([_masked_mean(toks[m], masks[m]),
                                self.avail_emb(avail.float())], -1)
            outs.append(self.per_mod[m](pooled))
            g = self.gate[m](pooled).squeeze(-1)
            gates.append(g.masked_fill(~avail[:, i], -1e4))
        w = torch.softmax(torch.stack(gates, -1), -1)  # (B, 3)
        mixed = (torch.stack(outs, 1) * w.unsqueeze(-1)).sum(1)
        return mixed[:, :-1], mixed[:, -1]


class FusionModel:
    """A trained :class:`FusionNet` behind the :class:`~stream.model.IntentModel` interface."""

    def __init__(self, path: Path) -> None:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        if ck.get("kind") != "fusion":
            raise ValueError(f"{path}: not a fusion checkpoint")
        self.ckpt = ck
        self.intents: list[str] = ck["intents"]
        self.net = FusionNet(len(self.intents), ck["mode"], **ck.get("net", {}))
        self.net.load_state_dict({k: v.float() for k, v in ck["state"].items()})
        self.net.eval()
        self.norm = {k: np.asarray(v, np.float32) for k, v in ck["norm"].items()}
        self.prior = TextPrior(ck["text_prior"]) if ck.get("text_prior") else None
        self.window_ns = int(ck["window_s"] * 1e9)
        self.force_unavailable: set[str] = set()  # ablations: pretend a modality is absent

    def predict(self, w: Window) -> Prediction:
        wa = window_arrays(w, self.window_ns, self.prior)
        for m in self.force_unavailable:
            wa.available[MODS.index(m)] = False
        # The window as is, and with each available modality taken away (occlusion).
        variants = [wa]
        for i in range(3):
            v = WindowArrays(**{**wa.__dict__, "available": wa.available.copy()})
            v.available[i] = False
            variants.append(v)
        with torch.inference_mode():
            logits, addr = self.net(collate(variants, self.norm))
            probs = torch.softmax(logits, -1).numpy()
            a = torch.sigmoid(addr).numpy()
        k = int(probs[0].argmax())
        diffs = [0.5 * np.abs(probs[0] - probs[i + 1]).sum() + abs(a[0] - a[i + 1])
                 if wa.available[i] else 0.0 for i in range(3)]
        total = sum(diffs)
        present = [i for i in range(3) if wa.available[i]]
        contrib = {m: (diffs[i] / total if total > 1e-6 else (1 / len(present) if i in present else 0.0))
                   for i, m in enumerate(MODS)}
        texts = w.items.get("text", [])
        last = max(texts, key=lambda it: it.t_end) if texts else None
        return Prediction(w.end_ns, self.intents[k], round(float(probs[0, k]), 4), round(float(a[0]), 4),
                          dict(w.status), {m: round(float(v), 3) for m, v in contrib.items()},
                          last.meta.get("text", "") if last else "", "")
