"""The learned multimodal fusion model (early, intermediate or late fusion).

The network is built from a *feature spec* stored in its checkpoint: per
modality, the width of one feature step, how many steps a window keeps and
which ones (see :func:`stream.modalities.registry.step_spec`). Each
modality's steps are projected to a shared width (128) and tagged with their
modality and their time within the window.

* ``early``: masked mean of each modality's projected steps, concatenated with
  the stream-availability flags, into one MLP.
* ``intermediate``: all steps of all modalities as tokens (plus a summary token)
  through a small Transformer encoder: cross-modal attention over the window.
* ``late``: one small network and one head per modality; their logits are
  mixed by learned gates over the modalities that are available.

Masks keep missing data out (never zero-filled as if it were data): padded or
absent steps are masked in attention and in means, and a stream that is down
is flagged unavailable. Outputs: intent logits (``none`` included), an
"addressed" logit, and per-prediction modality contributions by occlusion
(how much the answer changes without each one).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from stream.config import Config
from stream.encoders.weights import ModelMissing
from stream.fusion.align import Window
from stream.intent.intent_set import NONE
from stream.intent.prediction import Prediction
from stream.intent.text_classifier import TextPrior
from stream.modalities.registry import get, step_spec

# Checkpoints written before the spec was stored: the three built-in modalities, in this order.
LEGACY_SPEC = {"video": {"dim": 10 + 1280, "steps": 16, "keep": "uniform"},
               "audio": {"dim": 1 + 128, "steps": 24, "keep": "uniform"},
               "text": {"dim": 384 + 2, "steps": 2, "keep": "newest"}}


@dataclass
class WindowArrays:
    """One window's inputs: per modality, feature steps (n, dim) and their end times (n,) in ns."""

    end_ns: int
    window_ns: int
    feats: dict[str, np.ndarray]
    times: dict[str, np.ndarray]
    available: np.ndarray  # (modalities,) bool, in the spec's order: the stream is up

    def without(self, i: int) -> WindowArrays:
        """The same window with modality ``i`` marked unavailable (occlusion, dropout)."""
        avail = self.available.copy()
        avail[i] = False
        return replace(self, available=avail)


def keep_steps(n: int, k: int, keep: str) -> np.ndarray:
    """Indices of at most ``k`` of ``n`` steps: spread uniformly (always keeping the last), or
    the newest ``k``."""
    if keep == "newest":
        return np.arange(max(0, n - k), n)
    if n <= k:
        return np.arange(n)
    return np.round(np.linspace(0, n - 1, k)).astype(int)


def window_arrays(w: Window, spec: dict[str, dict], window_ns: int,
                  prior: TextPrior | None = None) -> WindowArrays:
    """Turn an aligner window into model inputs (the live, replay and training path)."""
    feats, times = {}, {}
    for name, s in spec.items():
        items = w.items.get(name, [])
        if items and (turn := get(name).turn) is not None:
            items = turn(items)
        own_dim = s["dim"] - (prior.dim if prior is not None and name == prior.modality else 0)
        step = get(name).step
        x = (np.stack([step(it, w.end_ns, window_ns) for it in items]).astype(np.float32) if items
             else np.zeros((0, own_dim), np.float32))
        if prior is not None and name == prior.modality:
            extra = (prior(x[:, :prior.in_dim], [it.meta.get("text", "") for it in items]) if len(x)
                     else np.zeros((0, prior.dim), np.float32))
            x = np.concatenate([x, extra], 1).astype(np.float32)
        feats[name] = x
        times[name] = np.array([it.t_end for it in items], np.int64)
    avail = np.array([w.status.get(m, "missing") != "missing" for m in spec])
    return WindowArrays(w.end_ns, window_ns, feats, times, avail)


def trim(wa: WindowArrays, spec: dict[str, dict]) -> WindowArrays:
    """Keep only the steps the model will see (bounded memory per training window)."""
    idx = {m: keep_steps(len(wa.feats[m]), s["steps"], s["keep"]) for m, s in spec.items()}
    return replace(wa, feats={m: wa.feats[m][i] for m, i in idx.items()},
                   times={m: wa.times[m][i] for m, i in idx.items()})


def collate(ws: list[WindowArrays], norm: dict[str, np.ndarray],
            spec: dict[str, dict]) -> dict[str, torch.Tensor]:
    """Pad and normalise a list of windows into batch tensors."""
    B = len(ws)
    out: dict[str, torch.Tensor] = {}
    for name, s in spec.items():
        T, dim = s["steps"], s["dim"]
        x = np.zeros((B, T, dim), np.float32)
        tt = np.zeros((B, T), np.float32)
        m = np.zeros((B, T), bool)
        for i, w in enumerate(ws):
            feats, times = w.feats[name], w.times[name]
            idx = keep_steps(len(feats), T, s["keep"])
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
    def __init__(self, n_intents: int, dims: dict[str, int], mode: str = "intermediate", d: int = 128,
                 layers: int = 2, heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        if mode not in ("early", "intermediate", "late"):
            raise ValueError(f"unknown fusion mode {mode!r}")
        self.mode, self.d, self.n_intents, self.mods = mode, d, n_intents, list(dims)
        n = len(self.mods)
        self.proj = nn.ModuleDict({m: nn.Sequential(nn.Linear(dims[m], d), nn.GELU(), nn.Dropout(dropout))
                                   for m in self.mods})
        self.mod_emb = nn.Parameter(torch.randn(n, d) * 0.02)
        self.time_emb = nn.Linear(1, d)
        self.avail_emb = nn.Linear(n, d)
        if mode == "early":
            self.body = nn.Sequential(nn.Linear(n * d + n, 2 * d), nn.GELU(), nn.Dropout(dropout),
                                      nn.Linear(2 * d, d), nn.GELU())
        elif mode == "intermediate":
            self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
            layer = nn.TransformerEncoderLayer(d, heads, 2 * d, dropout, batch_first=True,
                                               norm_first=True, activation="gelu")
            self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d)
        else:
            self.per_mod = nn.ModuleDict({m: nn.Sequential(nn.Linear(2 * d, d), nn.GELU(),
                                                           nn.Linear(d, n_intents + 1)) for m in self.mods})
            self.gate = nn.ModuleDict({m: nn.Linear(2 * d, 1) for m in self.mods})
        if mode != "late":
            self.intent_head = nn.Linear(d, n_intents)
            self.addressed_head = nn.Linear(d, 1)

    def tokens(self, b: dict[str, torch.Tensor], m: str, i: int) -> torch.Tensor:
        return (self.proj[m](b[m]) + self.mod_emb[i]
                + self.time_emb(b[m + "_t"].unsqueeze(-1)))

    def forward(self, b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        avail = b["available"]
        masks = {m: b[m + "_mask"] & avail[:, i:i + 1] for i, m in enumerate(self.mods)}
        toks = {m: self.tokens(b, m, i) for i, m in enumerate(self.mods)}
        if self.mode == "early":
            pooled = [_masked_mean(toks[m], masks[m]) for m in self.mods]
            h = self.body(torch.cat([*pooled, avail.float()], -1))
            return self.intent_head(h), self.addressed_head(h).squeeze(-1)
        if self.mode == "intermediate":
            B = avail.shape[0]
            cls = self.cls.expand(B, 1, self.d) + self.avail_emb(avail.float()).unsqueeze(1)
            x = torch.cat([cls, *(toks[m] for m in self.mods)], 1)
            keep = torch.cat([torch.ones(B, 1, dtype=torch.bool), *(masks[m] for m in self.mods)], 1)
            h = self.norm(self.body(x, src_key_padding_mask=~keep)[:, 0])
            return self.intent_head(h), self.addressed_head(h).squeeze(-1)
        # late: per-modality opinions, gated over what is available
        outs, gates = [], []
        for i, m in enumerate(self.mods):
            pooled = torch.cat([_masked_mean(toks[m], masks[m]),
                                self.avail_emb(avail.float())], -1)
            outs.append(self.per_mod[m](pooled))
            g = self.gate[m](pooled).squeeze(-1)
            gates.append(g.masked_fill(~avail[:, i], -1e4))
        w = torch.softmax(torch.stack(gates, -1), -1)  # (B, modalities)
        mixed = (torch.stack(outs, 1) * w.unsqueeze(-1)).sum(1)
        return mixed[:, :-1], mixed[:, -1]


def checkpoint_spec(ck: dict) -> dict[str, dict]:
    """The feature spec a checkpoint was trained with (older ones: the legacy three)."""
    if "features" in ck:
        return ck["features"]
    spec = {k: dict(v) for k, v in LEGACY_SPEC.items()}
    spec["text"]["dim"] = int(ck.get("net", {}).get("text_dim", spec["text"]["dim"]))
    return spec


def check_compatible(ck: dict, cfg: Config, where: str) -> None:
    """The running config must produce what the model was trained on: window length, widths."""
    if abs(float(ck["window_s"]) - cfg.fusion.window_s) > 1e-9:
        raise ModelMissing(f"{where}: trained with {ck['window_s']} s windows, but fusion.window_s is "
                           f"{cfg.fusion.window_s}")
    spec, running = checkpoint_spec(ck), step_spec(cfg)
    prior_dim = len(ck["text_prior"]["intents"]) if ck.get("text_prior") else 0
    for name, s in spec.items():
        if name not in running:
            raise ModelMissing(f"{where}: uses modality {name!r}, which is not registered "
                               f"(run.plugins?)")
        want = s["dim"] - (prior_dim if name == TextPrior.modality else 0)
        if running[name]["dim"] != want:
            raise ModelMissing(f"{where}: expects {name} features {want} wide, the config gives "
                               f"{running[name]['dim']} (a different encoder setting?)")


class FusionModel:
    """A trained :class:`FusionNet` behind the :class:`~stream.intent.prediction.IntentModel` interface."""

    def __init__(self, ck: dict, cfg: Config, where: str = "model") -> None:
        check_compatible(ck, cfg, where)
        self.ckpt = ck
        self.intents: list[str] = ck["intents"]
        self.spec = checkpoint_spec(ck)
        self.mods = list(self.spec)
        net_kw = {k: v for k, v in ck.get("net", {}).items() if k != "text_dim"}
        self.net = FusionNet(len(self.intents), {m: s["dim"] for m, s in self.spec.items()}, ck["mode"],
                             **net_kw)
        self.net.load_state_dict({k: v.float() for k, v in ck["state"].items()})
        self.net.eval()
        self.norm = {k: np.asarray(v, np.float32) for k, v in ck["norm"].items()}
        self.prior = TextPrior(ck["text_prior"]) if ck.get("text_prior") else None
        self.window_ns = int(ck["window_s"] * 1e9)
        self.force_unavailable: set[str] = set()  # ablations: pretend a modality is absent
        self.text_decides = cfg.fusion.text_decides
        self.addressed_threshold = cfg.fusion.addressed_threshold
        self._none = self.intents.index(NONE) if NONE in self.intents else -1
        if self.prior is not None:  # the prior's intents, as this model's indices (-1: unknown)
            self._from_prior = np.array([self.intents.index(n) if n in self.intents else -1
                                         for n in self.prior.ckpt["intents"]])

    def _contributions(self, probs: np.ndarray, a: np.ndarray, avail: np.ndarray) -> dict[str, float]:
        n = len(self.mods)
        diffs = [0.5 * np.abs(probs[0] - probs[i + 1]).sum() + abs(a[0] - a[i + 1])
                 if avail[i] else 0.0 for i in range(n)]
        total = sum(diffs)
        present = [i for i in range(n) if avail[i]]
        return {m: round(float(diffs[i] / total if total > 1e-6 else
                               (1 / len(present) if i in present else 0.0)), 3)
                for i, m in enumerate(self.mods)}

    def _which_command(self, wa: WindowArrays, probs: np.ndarray,
                       addressed: float | None) -> tuple[int, float]:
        """The intent to answer and its confidence: fusion's, unless the text prior is sure
        (``fusion.text_decides``) that the window's words mean a command fusion did not answer.
        Fusion weighs the scene and the voice, which say *whether* someone addresses us, but it
        was trained on a few thousand windows; the prior on every training sentence reads
        *which* command better ("my fan of the garage off": fusion HassGetState, the prior
        HassTurnOff at 0.86). Then: the prior's command, at fusion's probability of any command
        times the prior's confidence. ``addressed``: how sure we are the words were said to us
        (1: typed; fusion's own addressed score if at least ``fusion.addressed_threshold``; None:
        not said to us). Then a none of fusion's becomes the prior's command too, at that times
        the prior's confidence: "Decrease the brightness to max." said to the camera was a
        confident none, though addressed (0.998) and the prior's HassLightSet (0.988). (Speech
        with nobody in view is still not answered: the fuser's rule, after this.)"""
        k, none = int(probs.argmax()), self._none
        text = wa.feats.get(self.prior.modality) if self.prior is not None else None
        if ((k == none and addressed is None) or text is None or not len(text)
                or self.text_decides >= 1.0):
            return k, float(probs[k])
        prior = text[:, -self.prior.dim:].mean(0)  # the newest turn's texts (one, mostly)
        j = int(self._from_prior[int(prior.argmax())])
        if j < 0 or j == k or j == none or prior.max() < self.text_decides:
            return k, float(probs[k])
        if k == none:
            return j, float(addressed * prior.max())
        return j, float((1.0 - (probs[none] if none >= 0 else 0.0)) * prior.max())

    def _typed(self, w: Window) -> bool:
        """The window's newest text turn was said to us by construction (typed)."""
        mod = get(self.prior.modality) if self.prior is not None else None
        items = w.items.get(mod.name, []) if mod is not None else []
        if not items or mod.addressed is None:
            return False
        return mod.addressed(mod.turn(items) if mod.turn is not None else items)

    def predict(self, w: Window) -> Prediction:
        wa = window_arrays(w, self.spec, self.window_ns, self.prior)
        for m in self.force_unavailable:
            wa.available[self.mods.index(m)] = False
        # The window as is, and with each modality taken away (occlusion).
        variants = [wa, *(wa.without(i) for i in range(len(self.mods)))]
        with torch.inference_mode():
            logits, addr = self.net(collate(variants, self.norm, self.spec))
            probs = torch.softmax(logits, -1).numpy()
            a = torch.sigmoid(addr).numpy()
        typed = self._typed(w)
        addressed = 1.0 if typed else float(a[0])  # (typed text is always addressed: baseline too)
        k, confidence = self._which_command(
            wa, probs[0], addressed if addressed >= self.addressed_threshold else None)
        texts = [it for m in self.mods if get(m).events for it in w.items.get(m, [])]
        last = max(texts, key=lambda it: it.t_end) if texts else None
        contributions = self._contributions(probs, a, wa.available)
        if typed and int(probs[0].argmax()) == self._none and k != self._none:
            # The words alone answered (fusion said none): say so, as the baseline does.
            contributions = {m: float(m == self.prior.modality) for m in self.mods}
        return Prediction(w.end_ns, self.intents[k], round(confidence, 4), round(addressed, 4),
                          dict(w.status), contributions,
                          last.meta.get("text", "") if last else "", "")
