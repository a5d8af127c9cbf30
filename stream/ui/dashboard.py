"""The terminal dashboard (rich Live) and the state it shows.

The supervisor loop feeds :class:`DashState`; rich redraws it from its own
thread at ``refresh_per_second`` (>= 4), so drawing never slows the pipeline.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from rich.console import Group
from rich.layout import Layout
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

STATUS_STYLE = {"ok": "green", "stale": "yellow", "missing": "red"}
BARS = "▁▂▃▄▅▆▇█"
WORKER_STYLE = {"ok": "green", "starting": "yellow", "down": "red", "lost": "bold red", "away": "red"}


def _ms(v: float) -> str:
    return f"{v:.1f}" if v < 10 else f"{v:.0f}"


SHORT = {"capture": "cap", "encode": "enc", "transport": "net", "window": "wait", "fusion": "fuse"}


def _stage_line(stages: dict) -> str:
    """Where the latency goes: p50/p95 of each stage of the newest input's path (short names,
    so that the line fits 80 columns; the README's dashboard section spells them out)."""
    parts = [f"{SHORT.get(k, k)} {_ms(v[0])}/{_ms(v[1])}" for k, v in stages.items()
             if isinstance(v, list) and len(v) == 2 and all(isinstance(x, int | float) for x in v)]
    return "p50/p95 ms: " + " ".join(parts)


class DashState:
    def __init__(self, title: str = "stream assistant") -> None:
        self.title = title
        self.lock = threading.Lock()
        self.current: dict[str, Any] = {}
        self.timeline: deque[dict] = deque(maxlen=12)
        self.recent: deque[tuple[float, float, str]] = deque(maxlen=300)  # (t, addressed, intent)
        self.partial = ""
        self.final = ""
        self.typed = ""
        self.health: dict[str, dict] = {}
        self.events: deque[str] = deque(maxlen=4)
        self.recording = ""  # "DIR 12.3 s 4.5 MB" while recording

    def prediction(self, p: dict) -> None:
        with self.lock:
            self.current = p
            self.recent.append((p.get("t", 0.0), p.get("addressed", 0.0), p.get("intent", "none")))
            last = self.timeline[-1] if self.timeline else None
            if last is None or last["intent"] != p["intent"] or p.get("event"):
                self.timeline.append(p)

    def transcript(self, text: str, final: bool) -> None:
        with self.lock:
            if final:
                self.final, self.partial = text, ""
            else:
                self.partial = text

    def _now(self, p: dict, partial: str, final: str, typed: str,
             recent: list[tuple[float, float, str]], stages: Any) -> Panel:
        intent = p.get("intent", "…")
        head = Text()
        head.append(f"{intent}", style="bold magenta" if intent not in ("none", "…") else "bold")
        if p.get("slots"):  # what the command acts on
            head.append(" " + " ".join(f"{k}={v}" for k, v in p["slots"].items()), style="magenta")
        head.append(f"   confidence {p.get('confidence', 0):.2f}")
        addressed = p.get("addressed", 0.0)
        head.append("   addressed ")
        head.append(f"{addressed:.2f}", style="green" if addressed >= 0.5 else "dim")
        head.append(f"   t={p.get('t', 0):.1f}s")
        if p.get("early"):
            head.append("   early", style="bold cyan")  # answered before the end of the turn
        mods = Text("modalities: ")
        for m, s in p.get("modalities", {}).items():
            mods.append(f"{m} ", style=STATUS_STYLE.get(s, ""))
            mods.append(f"({s})  ", style="dim")
        contrib = p.get("contributions", {})
        if contrib:
            mods.append("  contribution " + " ".join(f"{k} {v:.0%}" for k, v in contrib.items()),
                        style="dim")
        talk = Text()
        talk.append("heard: ", style="dim")
        talk.append(final or "—", style="bold")
        if partial:
            talk.append(f"   …{partial}", style="italic yellow")
        if typed:
            talk.append("   typed: ", style="dim")
            talk.append(typed)
        lines = [head, mods, talk, self._spark(recent)]
        if isinstance(stages, dict) and stages:
            lines.append(Text(_stage_line(stages), style="dim"))
        return Panel(Group(*lines), title=self.title, border_style="cyan")

    @staticmethod
    def _spark(recent: list[tuple[float, float, str]], span_s: float = 10.0, width: int = 40) -> Text:
        """The last ``span_s`` seconds at a glance: the addressed score as a sparkline, a
        command's onset marked in colour."""
        out = Text("last 10 s  ", style="dim")
        if not recent:
            return out
        t_end = recent[-1][0]
        cells: list[tuple[float, str]] = [(0.0, "none")] * width
        for t, a, intent in recent:
            if t > t_end - span_s:
                k = min(width - 1, int((t - (t_end - span_s)) / span_s * width))
                cells[k] = (max(cells[k][0], a), intent if intent != "none" else cells[k][1])
        for a, intent in cells:
            out.append(BARS[min(len(BARS) - 1, int(a * len(BARS)))],
                       style="bold magenta" if intent != "none" else ("green" if a >= 0.5 else "dim"))
        return out

    @staticmethod
    def _timeline(timeline: list[dict]) -> Table:
        tl = Table(expand=True, box=None, header_style="bold")
        for c in ("t (s)", "intent", "conf", "addr", "text"):
            tl.add_column(c)
        for q in reversed(timeline):
            intent = q["intent"] + (" (early)" if q.get("early") else "")
            slots = " ".join(str(v) for k, v in (q.get("slots") or {}).items() if k != "domain")
            tl.add_row(f"{q['t']:.1f}", intent, f"{q['confidence']:.2f}", f"{q['addressed']:.2f}",
                       Text((q.get("text") or "")[:40] + (f" ({slots})" if slots else "")))
        return tl

    @staticmethod
    def _note(name: str, g: dict) -> str:
        """A worker's line: its modality's own note (registry), fusion's latency, or an error."""
        from stream.modalities.registry import modalities

        if g.get("device") == "reconnecting":
            return f"reconnecting: {g.get('error', 'device gone')}"
        if g.get("error"):
            return str(g["error"])
        if name == "fusion":
            return f"latency {g.get('latency_p50_ms', '–')}/{g.get('latency_p95_ms', '–')} ms"
        shows = {m.name: m.show for m in modalities()}
        return shows[name](g) if name in shows else ""

    def _health(self, health: dict[str, dict]) -> Table:
        hl = Table(expand=True, box=None, header_style="bold")
        for c in ("worker", "state", "rate", "encode ms", "drops/late", "restarts", "note"):
            hl.add_column(c)
        for name, h in health.items():
            state = h.get("state", "starting")
            g, st = h.get("gauges", {}), h.get("stats", {})
            rate = f"{g['fps']} fps" if "fps" in g else ""
            enc = g.get("encode_ms", g.get("decode_ms", ""))
            drops = sum(v for k, v in st.items() if any(
                w in k for w in ("drop", "late", "gap", "overflow", "invalid", "out_of_order", "bad_",
                                 "missing_part", "unknown")))
            note = self._note(name, g)
            if "clock" in h:  # a worker on another host: how well its clock is known
                c = h["clock"]
                note = (f"remote: offset {c['offset_ms']:+.3f} ms, rtt {c['rtt_ms']:.2f} ms, "
                        f"±{c['uncertainty_ms']:.3f} ms" + (f" · {note}" if note else ""))
            hl.add_row(name, Text(state, style=WORKER_STYLE.get(state, "")), rate, str(enc), str(drops),
                       str(h.get("restarts", 0)), Text(note, style="red" if g.get("error") else ""))
        return hl

    def _foot(self, health: dict[str, dict], events: list[str], recording: str) -> Text:
        foot = Text("\n".join(events), style="yellow") if events else Text(
            "type a line + Enter to send text · Ctrl-C quits", style="dim")
        if recording:
            foot.append(f"\n● recording {recording}", style="red")
        counts = {k: v for k, v in health.get("fusion", {}).get("stats", {}).items() if v}
        if counts:
            foot.append("\nfusion counts: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())),
                        style="dim")
        return foot

    def render(self) -> Layout:
        with self.lock:
            p = dict(self.current)
            timeline = list(self.timeline)
            recent = list(self.recent)
            health = {k: dict(v) for k, v in self.health.items()}
            partial, final, typed, events = self.partial, self.final, self.typed, list(self.events)
            recording = self.recording
        layout = Layout()
        stages = health.get("fusion", {}).get("gauges", {}).get("stages_ms")
        layout.split_column(Layout(self._now(p, partial, final, typed, recent, stages), size=7),
                            Layout(Panel(self._timeline(timeline), title="recent predictions"), ratio=2),
                            Layout(Panel(Group(self._health(health), self._foot(health, events, recording)),
                                         title="health"), ratio=2))
        return layout
