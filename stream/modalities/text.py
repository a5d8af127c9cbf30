"""Text: typed lines and final transcripts -> MiniLM sentence embeddings.

Always on (typed input needs no device). Each text is an instant: a fusion
window holds it while its end lies inside the window, and a new text opens a
window at once, so it is answered without waiting for the next hop.
"""

from __future__ import annotations

import numpy as np

from stream.modalities.registry import Feature, Modality, WorkerDecl, register

EMBED_DIM = 384  # all-MiniLM-L6-v2
# Transcripts closer than this belong to one turn: a pause mid-command ("turn down the basement
# volume ... by 84 %") splits it into two finals ~0.4 s apart; separate commands are further.
TURN_GAP_NS = 1_000_000_000


def _step(it, end_ns: int, window_ns: int) -> np.ndarray:
    typed = float(_typed(it))
    return np.concatenate([it.parts["embedding"], [typed, (end_ns - it.t_end) / window_ns]])


def newest_turn(items: list) -> list:
    """The window's texts that belong to its newest one's turn (oldest first). A typed line
    is a whole turn; transcripts less than ``TURN_GAP_NS`` apart are one. Without this, a
    line typed a second after another was read as the two together: the model averages a
    window's texts, and half of such pairs got the first line's intent."""
    items = sorted(items, key=lambda it: it.t_end)
    k = len(items) - 1
    while (k > 0 and not _typed(items[k]) and not _typed(items[k - 1])
           and items[k].t_start - items[k - 1].t_end < TURN_GAP_NS):
        k -= 1
    return items[k:]


def _typed(it) -> bool:
    return it.meta.get("source") == "typed"


def _show(g: dict) -> str:
    if not g.get("last"):
        return ""
    second = f" (base asked: {g['second_ms']} ms)" if g.get("second") and "second_ms" in g else ""
    return f"last: {g['last'][:30]}{second}"


TEXT = register(Modality(
    name="text",
    workers=lambda cfg: [WorkerDecl("text", "workers.text", inputs=("asr",))],
    parts=lambda cfg: {"embedding": Feature("float32", (EMBED_DIM,))},
    step=_step,
    step_dim=lambda cfg: EMBED_DIM + 2,
    steps=2,
    keep="newest",
    turn=newest_turn,
    addressed=lambda turn: bool(turn) and all(_typed(it) for it in turn),
    events=True,
    cache_meta=("text", "source"),
    meta={"text": str, "source": str},
    always_on=True,
    in_session=lambda s: (s.root / "text.jsonl").is_file(),
    show=_show,
))
