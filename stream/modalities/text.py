"""Text: typed lines and final transcripts -> MiniLM sentence embeddings.

Always on (typed input needs no device). Each text is an instant: a fusion
window holds it while its end lies inside the window, and a new text opens a
window at once, so it is answered without waiting for the next hop.
"""

from __future__ import annotations

import numpy as np

from stream.modalities.registry import Feature, Modality, WorkerDecl, register

EMBED_DIM = 384  # all-MiniLM-L6-v2


def _step(it, end_ns: int, window_ns: int) -> np.ndarray:
    typed = float(it.meta.get("source") == "typed")
    return np.concatenate([it.parts["embedding"], [typed, (end_ns - it.t_end) / window_ns]])


def _show(g: dict) -> str:
    return f"last: {g['last'][:30]}" if g.get("last") else ""


TEXT = register(Modality(
    name="text",
    workers=lambda cfg: [WorkerDecl("text", "workers.text", inputs=("asr",))],
    parts=lambda cfg: {"embedding": Feature("float32", (EMBED_DIM,))},
    step=_step,
    step_dim=lambda cfg: EMBED_DIM + 2,
    steps=2,
    keep="newest",
    events=True,
    cache_meta=("text", "source"),
    meta={"text": str, "source": str},
    always_on=True,
    in_session=lambda s: (s.root / "text.jsonl").is_file(),
    show=_show,
))
