"""Training the fusion model from labelled sessions' cached features (``launch.py train``).

Windows come from the same aligner the live pipeline uses (grid windows plus a
window at each text event), over the session's cached encoder outputs. A
window's target intent is the label of the span its newest text belongs to
(``none`` for speech nobody addressed to the assistant, and for windows
without text); its "addressed" target is true when that text was typed or
addressed speech, or, without text, when addressed speech overlaps the
window's last second.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stream.fusion.align import EOS, Aligner, Window
from stream.intent.fusion_net import (
    MODS,
    TA,
    TT,
    TV,
    FusionNet,
    WindowArrays,
    _keep_last,
    collate,
    window_arrays,
)
from stream.intent.intent_set import NONE
from stream.session.features import ENCODERS, load_messages
from stream.session.format import Session


class TrainError(ValueError):
    """Unusable training input; the message names the session or file."""


@dataclass
class Example:
    w: WindowArrays
    intent: int
    addressed: float
    spoken_command: bool = False  # newest text is addressed speech labelled with a command
    nobody: bool = False  # every frame shows nobody (a donor of "nobody in view" video)


def _trim(wa: WindowArrays) -> WindowArrays:
    """Keep only the steps the model will see (bounded memory per window)."""
    iv, ia = _keep_last(len(wa.video), TV), _keep_last(len(wa.audio), TA)
    it = np.arange(max(0, len(wa.text) - TT), len(wa.text))
    return WindowArrays(wa.end_ns, wa.window_ns, wa.video[iv], wa.video_t[iv], wa.audio[ia],
                        wa.audio_t[ia], wa.text[it], wa.text_t[it], wa.available)


def _targets(w: Window, spans: list[dict], typed_spans: set[int]) -> tuple[str, float]:
    texts = w.items.get("text", [])
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


def session_examples(root: Path, intents: list[str], window_s: float = 2.0, hop_s: float = 0.2,
                     text_every: int = 1, other_every: int = 1, prior=None) -> list[Example]:
    """Training windows of one session (from ``features/``) with their targets.

    Neighbouring grid windows overlap by 90 %: ``text_every``/``other_every`` keep
    one in N of the grid windows with/without text (event windows are always kept).
    """
    sess = Session(root)
    spans = check_labels(root, intents)
    typed_t = [e["t"] for e in sess.text_events() if e.get("source") == "typed"]
    typed_spans = {i for i, s in enumerate(spans) if any(s["start"] - 0.05 <= t <= s["end"] for t in typed_t)}
    msgs = load_messages(root)
    streams = [m for m in MODS if m in sess.streams]
    win_ns, hop_ns = int(window_s * 1e9), int(hop_s * 1e9)
    al = Aligner(streams, streams, win_ns, hop_ns, 0, None)
    for s in streams:
        for m in msgs.get(s, []):
            if al.add(m) and s == "text":
                al.trigger(m.t_end, 0)
    for s in streams:
        al.advance(s, EOS)
    out = []
    for k, w in enumerate(al.poll(0)):
        intent, addressed = _targets(w, spans, typed_spans)
        every = text_every if w.items.get("text") else other_every
        if not w.event and k % every:
            continue
        texts = w.items.get("text", [])
        spoken = bool(texts) and intent != NONE and \
            max(texts, key=lambda it: it.t_end).meta.get("source") == "asr"
        wa = _trim(window_arrays(w, win_ns, prior))
        nobody = len(wa.video) > 0 and not wa.video[:, 0].any()
        out.append(Example(wa, intents.index(intent), addressed, spoken, nobody))
    return out


def norm_stats(examples: list[Example]) -> dict[str, np.ndarray]:
    out = {}
    for name in MODS:
        rows = [getattr(e.w, name) for e in examples if len(getattr(e.w, name))]
        dim = getattr(examples[0].w, name).shape[1]
        x = np.concatenate(rows) if rows else np.zeros((1, dim))
        out[name + "_mean"] = x.mean(0).astype(np.float32)
        out[name + "_std"] = (x.std(0) + 1e-3).astype(np.float32)
    return out


def _batch(exs: list[Example], norm, rng: np.random.Generator | None, drop: float,
           donors: list[Example] | None = None, swap: float = 0.0):
    ws, ys, addr = [], [], []
    for e in exs:
        w, y, a = e.w, e.intent, e.addressed
        if rng is not None and donors and e.spoken_command and rng.random() < swap:
            # Counterfactual: the same command with nobody in view must give none. Without
            # this the model learns to recognise the (few) training utterances, not the scene.
            d = donors[int(rng.integers(len(donors)))].w
            w = WindowArrays(**{**w.__dict__, "video": d.video,
                                "video_t": d.video_t - d.end_ns + w.end_ns})
            y, a = 0, 0.0
        if rng is not None and drop > 0:
            # Modality dropout: the camera or the microphone goes away for this window.
            avail = w.available.copy()
            for i in (0, 1):
                if rng.random() < drop:
                    avail[i] = False
            w = WindowArrays(**{**w.__dict__, "available": avail})
        ws.append(w)
        ys.append(y)
        addr.append(a)
    return collate(ws, norm), torch.tensor(ys), torch.tensor(addr, dtype=torch.float32)


def evaluate(net: FusionNet, exs: list[Example], norm, n_intents: int, bs: int = 256) -> dict:
    net.eval()
    preds, ys, addr_ok, loss = [], [], [], 0.0
    ce, bce = nn.CrossEntropyLoss(reduction="sum"), nn.BCEWithLogitsLoss(reduction="sum")
    with torch.inference_mode():
        for i in range(0, len(exs), bs):
            b, y, a = _batch(exs[i:i + bs], norm, None, 0.0)
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


def train(train_ex: list[Example], val_ex: list[Example], intents: list[str], mode: str = "intermediate",
          epochs: int = 30, patience: int = 5, seed: int = 0, bs: int = 128, lr: float = 1e-3,
          drop: float = 0.2, progress=None, log=print, prior=None,
          swap: float = 0.3) -> tuple[dict, dict]:
    """Returns (checkpoint dict, history). Deterministic for a seed on the CPU."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    norm = norm_stats(train_ex)
    text_dim = len(norm["text_mean"])
    net = FusionNet(len(intents), mode, text_dim=text_dim)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-2)
    counts = np.bincount([e.intent for e in train_ex], minlength=len(intents)).astype(np.float32)
    # Soften the imbalance (most windows are `none`) without letting rare classes dominate.
    weights = torch.tensor((counts.sum() / np.maximum(counts, 1)) ** 0.5, dtype=torch.float32)
    weights = weights / weights[counts > 0].mean()
    ce, bce = nn.CrossEntropyLoss(weight=weights), nn.BCEWithLogitsLoss()
    best, best_score, bad, history = None, -1.0, 0, []
    donors = [e for e in train_ex if e.nobody]
    steps = (len(train_ex) + bs - 1) // bs
    for ep in range(epochs):
        t0 = time.perf_counter()
        net.train()
        order = rng.permutation(len(train_ex))
        total = 0.0
        for k in range(steps):
            b, y, a = _batch([train_ex[i] for i in order[k * bs:(k + 1) * bs]], norm, rng, drop,
                             donors, swap)
            logits, al = net(b)
            loss = ce(logits, y) + bce(al, a)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            total += loss.item()
            if progress is not None:
                progress(ep, k + 1, steps)
        val = evaluate(net, val_ex, norm, len(intents))
        row = {"epoch": ep + 1, "train_loss": round(total / steps, 4),
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
    ckpt = {"kind": "fusion", "mode": mode, "intents": intents, "window_s": 2.0,
            "net": {"text_dim": text_dim}, "state": best,
            "text_prior": prior.ckpt if prior is not None else None,
            "norm": {k: v.tolist() for k, v in norm.items()}, "encoders": ENCODERS,
            "seed": seed, "history": history,
            "metrics": {"val": evaluate(net, val_ex, norm, len(intents))}}
    return ckpt, {"history": history}
