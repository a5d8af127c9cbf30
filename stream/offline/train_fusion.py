"""Training the fusion model from labelled sessions' cached features (``launch.py train``).

Windows come from the same aligner the live pipeline uses (grid windows plus a
window at each text event), over the session's cached encoder outputs. A
window's target intent is the label of the span its newest text belongs to
(``none`` for speech nobody addressed to the assistant, and for windows
without text); its "addressed" target is true when that text was typed or
addressed speech, or, without text, when addressed speech overlaps the
window's last second. The model's inputs are whatever modalities the sessions
hold (the registry's feature spec), so a new modality trains like the others.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stream.config import Config
from stream.core.message import EOS, Message
from stream.errors import StreamError
from stream.fusion.align import Aligner, Window
from stream.intent.fusion_net import FusionNet, WindowArrays, collate, trim, window_arrays
from stream.intent.intent_set import NONE
from stream.intent.text_classifier import TextPrior
from stream.modalities.registry import get, modalities, step_spec
from stream.session.features import ENCODERS, load_messages
from stream.session.format import Session


class TrainError(StreamError, ValueError):
    """Unusable training input; the message names the session or file."""


@dataclass
class Example:
    w: WindowArrays
    intent: int
    addressed: float
    spoken_command: bool = False  # newest text is addressed speech labelled with a command
    nobody: bool = False  # every frame shows nobody (a donor of "nobody in view" video)
    heard: bool = False  # it holds recognised speech


def model_spec(cfg: Config, streams: list[str], prior: TextPrior | None = None) -> dict[str, dict]:
    """The feature spec of a model over ``streams``: the registry's, plus the text prior's width."""
    spec = step_spec(cfg, streams)
    if prior is not None and prior.modality in spec:
        spec[prior.modality] = {**spec[prior.modality], "dim": spec[prior.modality]["dim"] + prior.dim}
    return spec


def _texts(w: Window) -> list:
    """The window's instant items (typed lines and transcripts)."""
    return [it for s, items in w.items.items() if get(s).events for it in items]


def _targets(w: Window, spans: list[dict], typed_spans: set[int]) -> tuple[str, float]:
    texts = _texts(w)
    s_ns = [(int(s["start"] * 1e9), int(s["end"] * 1e9), s) for s in spans]
    if texts:
        last = max(texts, key=lambda it: it.t_end)
        typed = last.meta.get("source") == "typed"
        for a, b, s in s_ns:
            if (typed and a - 50_000_000 <= last.t_end <= b) or \
               (not typed and last.t_start < b + 300_000_000 and last.t_end > a - 300_000_000):
                return s["intent"], float(typed or s["intent"] != NONE or bool(s.get("addressed")))
        return NONE, float(typed)
    lo = w.end_ns - 1_000_000_000
    for i, (a, b, s) in enumerate(s_ns):
        if i in typed_spans:
            continue
        if (s["intent"] != NONE or s.get("addressed")) and a < w.end_ns and b > lo:
            return NONE, 1.0
    return NONE, 0.0


def check_labels(root: Path, intents: list[str]) -> list[dict]:
    """The session's labels, or TrainError naming the file (and line) that is wrong."""
    if not (root / "labels.jsonl").is_file():
        raise TrainError(f"{root / 'labels.jsonl'}: missing (training needs labelled sessions)")
    try:
        spans = Session(root).labels()
    except ValueError as e:
        raise TrainError(str(e)) from None
    for i, s in enumerate(spans, 1):
        if s.get("intent") not in intents:
            raise TrainError(f"{root / 'labels.jsonl'}:{i}: intent {s.get('intent')!r} is not one the "
                             f"model knows ({', '.join(intents)})")
    return spans


def window_examples(msgs: dict[str, list[Message]], spans: list[dict], typed_t: list[float],
                    intents: list[str], spec: dict[str, dict], window_s: float = 2.0, hop_s: float = 0.2,
                    text_every: int = 1, other_every: int = 1, prior=None) -> list[Example]:
    """Training windows over a session's fusion inputs (origin 0) with their targets.

    Neighbouring grid windows overlap by 90 %: ``text_every``/``other_every`` keep
    one in N of the grid windows with/without text (event windows are always kept).
    """
    typed_spans = {i for i, s in enumerate(spans) if any(s["start"] - 0.05 <= t <= s["end"] for t in typed_t)}
    streams = [m.name for m in modalities() if m.name in msgs and m.name in spec]
    events = tuple(s for s in streams if get(s).events)
    win_ns, hop_ns = int(window_s * 1e9), int(hop_s * 1e9)
    al = Aligner(streams, streams, win_ns, hop_ns, 0, None, instants=events)
    for s in streams:
        for m in msgs[s]:
            if al.add(m) and s in events:
                al.trigger(m.t_end, 0)
    for s in streams:
        al.advance(s, EOS)
    out = []
    for k, w in enumerate(al.poll(0)):
        intent, addressed = _targets(w, spans, typed_spans)
        texts = _texts(w)
        every = text_every if texts else other_every
        if not w.event and k % every:
            continue
        spoken = bool(texts) and intent != NONE and \
            max(texts, key=lambda it: it.t_end).meta.get("source") == "asr"
        wa = trim(window_arrays(w, spec, win_ns, prior), spec)
        video = wa.feats.get("video")
        nobody = video is not None and len(video) > 0 and not video[:, 0].any()
        heard = any(it.meta.get("source") == "asr" for it in texts)
        out.append(Example(wa, intents.index(intent), addressed, spoken, nobody, heard))
    return out


def session_examples(root: Path, intents: list[str], spec: dict[str, dict], window_s: float = 2.0,
                     hop_s: float = 0.2, text_every: int = 1, other_every: int = 1,
                     prior=None) -> list[Example]:
    """Training windows of one session (from ``features/``) with their targets."""
    sess = Session(root)
    spans = check_labels(root, intents)
    typed_t = [e["t"] for e in sess.text_events() if e.get("source") == "typed"]
    msgs = load_messages(root, streams=sess.streams)
    return window_examples(msgs, spans, typed_t, intents, spec, window_s, hop_s, text_every,
                           other_every, prior)


def norm_stats(examples: list[Example]) -> dict[str, np.ndarray]:
    out = {}
    for name in examples[0].w.feats:
        rows = [e.w.feats[name] for e in examples if len(e.w.feats[name])]
        dim = examples[0].w.feats[name].shape[1]
        x = np.concatenate(rows) if rows else np.zeros((1, dim))
        out[name + "_mean"] = x.mean(0).astype(np.float32)
        out[name + "_std"] = (x.std(0) + 1e-3).astype(np.float32)
    return out


def _batch(exs: list[Example], norm, spec, rng: np.random.Generator | None, drop: float,
           donors: list[Example] | None = None, swap: float = 0.0):
    ws, ys, addr = [], [], []
    for e in exs:
        w, y, a = e.w, e.intent, e.addressed
        if rng is not None and donors and e.spoken_command and rng.random() < swap:
            # Counterfactual: the same command with nobody in view must give none. Without
            # this the model learns to recognise the (few) training utterances, not the scene.
            d = donors[int(rng.integers(len(donors)))].w
            w = replace(w, feats={**w.feats, "video": d.feats["video"]},
                        times={**w.times, "video": d.times["video"] - d.end_ns + w.end_ns})
            y, a = 0, 0.0
        if rng is not None and drop > 0:
            # Modality dropout: a capture device (camera, microphone, ...) goes away for this window.
            # Speech whose only sign of not being addressed is the empty scene keeps its video: no
            # camera means nobody can tell, and then a command is answered (as the nobody-in-view
            # rule does), not learnt as "no camera, so not for me".
            scene_says_none = y == 0 and e.heard and (e.nobody or w is not e.w)
            avail = w.available.copy()
            for i, m in enumerate(spec):
                if not get(m).always_on and rng.random() < drop and not (m == "video" and scene_says_none):
                    avail[i] = False
            w = replace(w, available=avail)
        ws.append(w)
        ys.append(y)
        addr.append(a)
    return collate(ws, norm, spec), torch.tensor(ys), torch.tensor(addr, dtype=torch.float32)


def evaluate(net: FusionNet, exs: list[Example], norm, spec, bs: int = 256) -> dict:
    net.eval()
    preds, ys, addr_ok, loss = [], [], [], 0.0
    ce, bce = nn.CrossEntropyLoss(reduction="sum"), nn.BCEWithLogitsLoss(reduction="sum")
    with torch.inference_mode():
        for i in range(0, len(exs), bs):
            b, y, a = _batch(exs[i:i + bs], norm, spec, None, 0.0)
            logits, al = net(b)
            loss += float(ce(logits, y) + bce(al, a))
            preds.append(logits.argmax(-1).numpy())
            ys.append(y.numpy())
            addr_ok.append(((al > 0).float() == a).numpy())
    p, y = np.concatenate(preds), np.concatenate(ys)
    f1s = []
    for c in np.unique(np.concatenate([p, y])):
        tp, fp, fn = ((p == c) & (y == c)).sum(), ((p == c) & (y != c)).sum(), ((p != c) & (y == c)).sum()
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    cmd = y != 0
    return {"loss": loss / len(exs), "accuracy": float((p == y).mean()), "macro_f1": float(np.mean(f1s)),
            "command_accuracy": float((p[cmd] == y[cmd]).mean()) if cmd.any() else None,
            "addressed_accuracy": float(np.concatenate(addr_ok).mean())}


def _class_weights(train_ex: list[Example], n: int) -> torch.Tensor:
    """Soften the imbalance (most windows are `none`) without letting rare classes dominate."""
    counts = np.bincount([e.intent for e in train_ex], minlength=n).astype(np.float32)
    weights = torch.tensor((counts.sum() / np.maximum(counts, 1)) ** 0.5, dtype=torch.float32)
    return weights / weights[counts > 0].mean()


def _epoch(net, opt, loss_fn, train_ex, norm, spec, rng, bs, drop, donors, swap, progress, ep) -> float:
    """One pass over the training windows in a random order; returns the mean loss."""
    net.train()
    order = rng.permutation(len(train_ex))
    steps = (len(train_ex) + bs - 1) // bs
    total = 0.0
    for k in range(steps):
        b, y, a = _batch([train_ex[i] for i in order[k * bs:(k + 1) * bs]], norm, spec, rng, drop,
                         donors, swap)
        logits, al = net(b)
        loss = loss_fn(logits, y, al, a)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        total += loss.item()
        if progress is not None:
            progress(ep, k + 1, steps)
    return total / steps


def train(train_ex: list[Example], val_ex: list[Example], intents: list[str], spec: dict[str, dict],
          mode: str = "late", epochs: int = 30, patience: int = 5, seed: int = 0, bs: int = 128,
          lr: float = 1e-3, drop: float = 0.2, progress=None, log=print, prior=None,
          swap: float = 0.3, window_s: float = 2.0) -> tuple[dict, dict]:
    """Returns (checkpoint dict, history). Deterministic for a seed on the CPU."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    norm = norm_stats(train_ex)
    net = FusionNet(len(intents), {m: s["dim"] for m, s in spec.items()}, mode)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-2)
    ce, bce = nn.CrossEntropyLoss(weight=_class_weights(train_ex, len(intents))), nn.BCEWithLogitsLoss()
    best, best_score, bad, history = None, -1.0, 0, []
    donors = [e for e in train_ex if e.nobody] if "video" in spec else []
    for ep in range(epochs):
        t0 = time.perf_counter()
        loss = _epoch(net, opt, lambda lo, y, al, a: ce(lo, y) + bce(al, a), train_ex, norm, spec, rng,
                      bs, drop, donors, swap, progress, ep)
        val = evaluate(net, val_ex, norm, spec)
        row = {"epoch": ep + 1, "train_loss": round(loss, 4),
               **{f"val_{k}": (round(v, 4) if v is not None else None) for k, v in val.items()},
               "seconds": round(time.perf_counter() - t0, 1)}
        history.append(row)
        log(row)
        score = val["macro_f1"] + val["addressed_accuracy"] * 0.25
        if score > best_score + 1e-4:
            best_score, best, bad = score, copy.deepcopy(net.state_dict()), 0
        else:
            bad += 1
            if bad >= patience:
                log(f"early stop after epoch {ep + 1} (no val gain for {patience})")
                break
    net.load_state_dict(best)
    ckpt = {"kind": "fusion", "mode": mode, "intents": intents, "window_s": window_s,
            "features": spec, "net": {}, "state": best,
            "text_prior": prior.ckpt if prior is not None else None,
            "norm": {k: v.tolist() for k, v in norm.items()}, "encoders": ENCODERS,
            "seed": seed, "history": history,
            "metrics": {"val": evaluate(net, val_ex, norm, spec)}}
    return ckpt, {"history": history}
