"""Pictures for eval: a timeline per session and a confusion matrix (PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from stream.intent.intent_set import NONE  # noqa: E402
from stream.offline.evaluate import grid_predictions  # noqa: E402

STATUS = {"ok": 0, "stale": 1, "missing": 2}
STATUS_COLORS = ["#4caf50", "#ffb300", "#e53935"]


def timeline(path: Path, title: str, preds: list[dict], spans: list[dict], duration_s: float,
             hop_s: float) -> None:
    """Labels against the hop grid's predictions, each text's answer marked on them."""
    answers = [p for p in preds if p.get("event") and p["intent"] != NONE]
    preds = sorted(grid_predictions(preds, hop_s), key=lambda p: p["t"])
    intents = sorted(({s["intent"] for s in spans} | {p["intent"] for p in preds + answers}) - {NONE})
    row = {k: i + 1 for i, k in enumerate(intents)}
    fig, axes = plt.subplots(3, 1, figsize=(12, 2.2 + 0.35 * len(intents) + 2.5), sharex=True,
                             gridspec_kw={"height_ratios": [max(2, len(intents) + 1), 1.2, 1]})
    ax = axes[0]
    for s in spans:
        y = row.get(s["intent"], 0)
        ax.barh(y, s["end"] - s["start"], left=s["start"], height=0.8, color="#90caf9",
                edgecolor="#1565c0", label="label" if s is spans[0] else None)
    xs = [p["t"] for p in preds if p["intent"] != NONE]
    ys = [row[p["intent"]] for p in preds if p["intent"] != NONE]
    ax.scatter(xs, ys, s=10, color="#d81b60", zorder=3, label="predicted")
    ax.scatter([p["t"] for p in answers], [row[p["intent"]] for p in answers], s=40, marker="x",
               color="black", zorder=4, label="a text's answer")
    ax.set_yticks([0, *row.values()], [NONE, *row.keys()], fontsize=8)
    ax.set_ylim(-0.6, len(intents) + 0.6)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title)
    ax = axes[1]
    ax.plot([p["t"] for p in preds], [p["addressed"] for p in preds], color="#6a1b9a", lw=1.2)
    ax.axhline(0.5, color="grey", lw=0.6, ls="--")
    ax.set_ylabel("addressed", fontsize=8)
    ax.set_ylim(-0.05, 1.05)
    ax = axes[2]
    mods = list(preds[0]["modalities"]) if preds else []
    if preds:
        grid = np.array([[STATUS.get(p["modalities"].get(m, "missing"), 2) for p in preds] for m in mods])
        ts = [p["t"] for p in preds]
        ax.imshow(grid, aspect="auto", interpolation="nearest", extent=[ts[0], ts[-1], len(mods) - 0.5, -0.5],
                  cmap=matplotlib.colors.ListedColormap(STATUS_COLORS), vmin=0, vmax=2)
    ax.set_yticks(range(len(mods)), mods, fontsize=8)
    ax.set_xlabel("session time (s): modality status green ok / amber stale / red missing", fontsize=8)
    ax.set_xlim(0, duration_s)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_png(path: Path, classes: list[str], m: np.ndarray, title: str) -> None:
    n = len(classes)
    fig, ax = plt.subplots(figsize=(2 + 0.45 * n, 1.5 + 0.45 * n))
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if m[i, j]:
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), classes, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), classes, fontsize=7)
    ax.set_xlabel("predicted (per window)")
    ax.set_ylabel("label")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
