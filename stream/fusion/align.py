"""Event-time alignment of streams into windows, closed by watermarks.

Windows of length ``window_ns`` end on a grid every ``hop_ns`` from
``origin_ns``; extra *event windows* end at a text event's time so a typed
line or a final transcript is answered at once instead of at the next hop.

A window closes when every required stream's watermark has passed its end.
In live mode (``deadline_ns`` set) it also closes once the wall clock is
``deadline_ns`` past its end; then each lagging stream is marked ``stale``
or ``missing``, never zero-filled. In replay mode (``deadline_ns=None``)
only watermarks close windows, so content does not depend on timing.

A text event that arrives after windows past its time have closed (a busy
machine: the transcript came seconds after the speech) is still answered: its
window holds what happened up to the event's own time, as it would have on
time, and is published after the last closed one (``at_ns``), so predictions
never go back in time. Buffers keep ``late_keep_ns`` of history for this.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stream.core.clock import now_ns as _wall_ns
from stream.core.message import EOS, Message

__all__ = ["EOS", "Aligner", "Item", "Window"]


@dataclass
class Item:
    """One message's payload as fusion keeps it."""

    t_start: int
    t_end: int
    parts: dict[str, np.ndarray]
    meta: dict[str, Any]
    capture_ns: int  # wall (monotonic) time the newest input was captured
    stages: dict[str, int] = field(default_factory=dict)  # capture, encode_*, publish, receive

    @staticmethod
    def of(msg: Message, capture_ns: int | None = None) -> Item:
        cap = capture_ns if capture_ns is not None else msg.stages.get("capture", msg.t_end)
        return Item(msg.t_start, msg.t_end, msg.parts, msg.meta, cap, msg.stages)


@dataclass
class Window:
    start_ns: int
    end_ns: int
    items: dict[str, list[Item]]
    status: dict[str, str]  # stream -> ok | stale | missing
    event: bool = False  # closed early for a text event
    newest_capture_ns: int = 0
    at_ns: int | None = None  # a late event's window: published at this time, not at end_ns
    early: tuple[str, Item] | None = None  # an early answer's (stream, provisional transcript)
    newest: Item | None = None  # the input captured last: the prediction's latency is its path

    @property
    def published_ns(self) -> int:
        """The session time the window's prediction carries (never before an earlier one's)."""
        return self.end_ns if self.at_ns is None else self.at_ns


@dataclass(order=True)
class _Pending:
    end_ns: int
    event: bool = field(compare=False, default=False)
    opened_ns: int = field(compare=False, default=0)
    content_end_ns: int | None = field(compare=False, default=None)  # a late event's own time
    early: tuple[str, Item] | None = field(compare=False, default=None)  # (stream, provisional)
    rank: int = 1  # at the same end, an early window (0) closes first: a final's can correct it


class Aligner:
    def __init__(self, streams: list[str], required: list[str], window_ns: int, hop_ns: int,
                 origin_ns: int, deadline_ns: int | None, stale_ns: int = 500_000_000,
                 slack_ns: int = 150_000_000, event_deadline_ns: int = 50_000_000,
                 instants: tuple[str, ...] = (), late_keep_ns: int = 10_000_000_000) -> None:
        self.streams = list(streams)
        self.instants = set(instants)  # items that count while their end lies in the window
        self.required = [s for s in required if s in self.streams]
        self.window_ns, self.hop_ns, self.origin_ns = window_ns, hop_ns, origin_ns
        self.deadline_ns, self.stale_ns, self.slack_ns = deadline_ns, stale_ns, slack_ns
        self.event_deadline_ns, self.late_keep_ns = event_deadline_ns, late_keep_ns
        self.buf: dict[str, list[Item]] = {s: [] for s in self.streams}
        self.wm: dict[str, int] = {s: -1 for s in self.streams}
        self.seen: set[str] = set()
        self.heard_ns: dict[str, int] = {}  # wall time a stream last said anything
        self.next_grid = origin_ns + hop_ns
        self.pending: list[_Pending] = []
        self.grid_events: set[int] = set()  # grid windows not yet open that answer a text
        self.last_closed = origin_ns
        self.max_t = origin_ns  # newest event time seen; grid windows stop there at EOS
        self.counts: Counter[str] = Counter()  # "<stream>.<reason>" -> n

    # -- input -------------------------------------------------------------
    def add(self, msg: Message, capture_ns: int | None = None, now: int | None = None) -> bool:
        """Buffer one message; returns False if it was dropped (counted)."""
        s = msg.stream
        if s not in self.buf:
            self.counts[f"{s}.unknown_stream"] += 1
            return False
        if msg.t_end < self.wm[s]:
            # The stream promised nothing older would come: out of order.
            self.counts[f"{s}.out_of_order"] += 1
            return False
        if msg.t_end <= self.last_closed and self.last_closed > self.origin_ns:
            self.counts[f"{s}.late"] += 1  # a window it belonged to already closed
        self.buf[s].append(Item.of(msg, capture_ns))
        self.seen.add(s)
        self.max_t = max(self.max_t, msg.t_end)
        self.advance(s, msg.watermark, now)
        return True

    def advance(self, stream: str, watermark: int, now: int | None = None, data: bool = True) -> None:
        """``data``: it came with an item. Only items make a lagging stream ``stale`` rather
        than ``missing``: a worker that heartbeats without a device delivers nothing."""
        if stream in self.wm:
            self.seen.add(stream)
            if data:
                self.heard_ns[stream] = _wall_ns() if now is None else now
            if watermark > self.wm[stream]:
                self.wm[stream] = watermark

    def trigger(self, end_ns: int, now_ns: int, early: tuple[str, Item] | None = None) -> None:
        """Ask for an extra window ending at a text event's time, or, if windows past
        that have closed already (live, deadline), one with the content up to the event's
        time published right after the last closed one.

        ``early``: (stream, item) of a provisional transcript (semantic end of turn): it is
        in this window only, in place of any buffered item of the same utterance."""
        rank = int(early is None)
        if end_ns <= self.last_closed:
            if end_ns > self.last_closed - self.late_keep_ns:  # older: its context is gone
                late = _Pending(self.last_closed + 1, True, now_ns, end_ns, early, rank)
                heapq.heappush(self.pending, late)
            return
        if early is None and (end_ns - self.origin_ns) % self.hop_ns == 0:
            # A grid window ends right there and has not closed yet: it is the answer, and is
            # flagged as one (a consumer acting on event predictions must see every text).
            grid = next((p for p in self.pending if p.end_ns == end_ns and p.content_end_ns is None
                         and p.early is None), None)
            if grid is not None:
                grid.event, grid.opened_ns = True, now_ns
            else:
                self.grid_events.add(end_ns)
            return
        heapq.heappush(self.pending, _Pending(end_ns, True, now_ns, None, early, rank))

    @property
    def ended(self) -> bool:
        """Every stream has sent end-of-stream."""
        return all(w >= EOS for w in self.wm.values())

    # -- output ------------------------------------------------------------
    def _status(self, end: int, now: int) -> dict[str, str]:
        """ok: caught up; stale: behind but alive; missing: silent or never heard."""
        out = {}
        for s in self.streams:
            if self.wm[s] >= end - self.slack_ns:
                out[s] = "ok"
            elif now - self.heard_ns.get(s, -(2**62)) <= self.stale_ns:
                out[s] = "stale"
            else:
                out[s] = "missing"
        return out

    def _ready(self, p: _Pending, now_ns: int) -> bool:
        if all(self.wm[s] >= p.end_ns for s in self.required):
            return True
        if self.deadline_ns is None:  # replay: watermarks only
            return False
        if p.event:
            # An early transcript is its own stream's newest item, and that stream's watermark
            # stays at the utterance's onset until the final: waiting on it cost the deadline.
            req = [s for s in self.required if p.early is None or s != p.early[0]]
            if all(self.wm[s] >= p.end_ns - self.slack_ns for s in req):
                return True
            return now_ns >= p.opened_ns + self.event_deadline_ns
        return now_ns >= p.end_ns + self.deadline_ns

    def poll(self, now_ns: int) -> list[Window]:
        """Close every window that is ready, in end-time order."""
        # Open grid windows up to what could close now.
        horizon = max(min((self.wm[s] for s in self.required), default=now_ns), self.last_closed)
        if self.deadline_ns is not None:
            horizon = max(horizon, now_ns - self.deadline_ns)
        if self.deadline_ns is None or self.ended:
            horizon = min(horizon, self.max_t + self.hop_ns)
        # Live, a text's window closes once the other streams are nearly there (slack, or its
        # 50 ms deadline), before the grid windows just ahead of it would. Those are skipped:
        # closed after it they came out back in time (and were dropped as stale); closed before
        # it they would hold its answer back by a prediction each, and it holds all
        # they would, up to its own time.
        text_end = max((p.end_ns for p in self.pending if p.event and self._ready(p, now_ns)),
                       default=None)
        if text_end is not None:
            horizon = max(horizon, text_end)
        while self.next_grid <= horizon:
            if self.next_grid in self.grid_events:
                self.grid_events.remove(self.next_grid)
                heapq.heappush(self.pending, _Pending(self.next_grid, True, now_ns))
            else:
                heapq.heappush(self.pending, _Pending(self.next_grid))
            self.next_grid += self.hop_ns
        out = []
        while self.pending:
            ready = self._ready(self.pending[0], now_ns)
            if not ready and (text_end is None or self.pending[0].end_ns > text_end):
                break
            p = heapq.heappop(self.pending)
            if ready or p.event:  # else a grid window ahead of a text's window: skipped (above)
                out.append(self._close(p, now_ns))
        self._prune()
        return out

    def _close(self, p: _Pending, now: int) -> Window:
        end = p.end_ns if p.content_end_ns is None else p.content_end_ns
        w = self.peek(end, now, p.early)
        for s in self.streams:
            if w.status[s] != "ok":
                self.counts[f"{s}.{w.status[s]}_windows"] += 1
        self.last_closed = max(self.last_closed, p.end_ns)
        w.event, w.at_ns = p.event, None if p.content_end_ns is None else p.end_ns
        return w

    def peek(self, end: int, now: int, early: tuple[str, Item] | None = None) -> Window:
        """The window ending at ``end`` with what is buffered now, closing nothing (``early``:
        a provisional item in place of its utterance's buffered one, in this window only)."""
        start = end - self.window_ns
        items = {}
        newest, newest_item = 0, None
        for s, buf in self.buf.items():
            if s in self.instants:
                sel = [it for it in buf if start < it.t_end <= end]
            else:
                sel = [it for it in buf if it.t_end > start and it.t_start < end]
            if early is not None and early[0] == s:
                sel = [it for it in sel if it.t_start != early[1].t_start] + [early[1]]
            items[s] = sel
            for it in sel:
                if it.capture_ns > newest:
                    newest, newest_item = it.capture_ns, it
        return Window(start, end, items, self._status(end, now), False, newest, None, early,
                      newest_item)

    def _prune(self) -> None:
        keep_after = self.last_closed - self.window_ns - self.hop_ns
        if self.deadline_ns is not None:  # live: context for a text event that comes late
            keep_after -= self.late_keep_ns
        for p in self.pending:
            keep_after = min(keep_after, (p.end_ns if p.content_end_ns is None else p.content_end_ns)
                             - self.window_ns)
        for s, buf in self.buf.items():
            if buf and buf[0].t_end < keep_after:
                self.buf[s] = [it for it in buf if it.t_end >= keep_after]
