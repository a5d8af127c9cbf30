"""Where a prediction's latency goes, stage by stage, measured on its newest input.

A prediction is as late as the input captured last in its window; that input's path is
*capture* (captured, waiting for its encoder), *encode*, *transport* (encoded to received by
fusion, over ZeroMQ), *window* (received until its window closed) and *fusion* (the model).
The stamps travel in each message's ``stages``; replays from cached features have none.
"""

from __future__ import annotations

from collections import deque

from stream.fusion.align import Window

STAGES = ("capture", "encode", "transport", "window", "fusion")
KEEP = 200  # predictions the percentiles are over


class StageLatency:
    def __init__(self) -> None:
        self.ms: dict[str, deque[float]] = {s: deque(maxlen=KEEP) for s in STAGES}

    def add(self, w: Window, closed_ns: int, done_ns: int) -> None:
        st = w.newest.stages if w.newest is not None else {}
        need = ("capture", "encode_start", "encode_end", "receive")
        if not all(isinstance(st.get(k), int) for k in need):
            return  # a replay from cached features, or a sender that does not stamp
        spans = (st["encode_start"] - st["capture"], st["encode_end"] - st["encode_start"],
                 st["receive"] - st["encode_end"], closed_ns - st["receive"], done_ns - closed_ns)
        for s, ns in zip(STAGES, spans, strict=True):
            self.ms[s].append(ns / 1e6)

    def summary(self) -> dict[str, list[float]]:
        """Stage -> [p50, p95] in ms, for the stages measured so far."""
        return {s: p50_p95(xs) for s, xs in self.ms.items() if xs}


def p50_p95(xs) -> list[float]:
    """The median and 95th percentile (nearest rank) of a non-empty collection, rounded."""
    v = sorted(xs)
    return [round(v[len(v) // 2], 1), round(v[min(len(v) - 1, int(len(v) * 0.95))], 1)]
