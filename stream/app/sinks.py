"""Where a pipeline's predictions go: the terminal dashboard, JSON lines, a file, a recording, memory.

A sink sees every prediction and transcript, is ticked on every supervision
turn with the workers' health, and is closed at the end (``ok`` says whether
the run got going). Combine as many as you like.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from stream.core.clock import now_ns

if TYPE_CHECKING:
    from stream.app.pipeline import Pipeline


class Sink:
    def open(self, pipeline: Pipeline) -> None:
        """The workers are about to start."""

    def started(self) -> None:
        """Every worker is up; predictions follow."""

    def prediction(self, p: dict) -> None: ...

    def transcript(self, text: str, final: bool) -> None: ...

    def tick(self, health: dict[str, dict], events: list[str]) -> None:
        """Every supervision turn: each worker's last heartbeat, and new warnings."""

    def close(self, ok: bool) -> None: ...


class MemorySink(Sink):
    """Collects predictions (with the monotonic ns they arrived at) for Python callers and bench."""

    def __init__(self) -> None:
        self.predictions: list[dict] = []
        self.arrived_ns: list[int] = []

    def prediction(self, p: dict) -> None:
        self.predictions.append(p)
        self.arrived_ns.append(now_ns())


class JsonLinesSink(Sink):
    """One prediction per line on stdout (``--headless``); warnings on stderr."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def prediction(self, p: dict) -> None:
        print(json.dumps(p), file=self.out, flush=True)

    def tick(self, health: dict[str, dict], events: list[str]) -> None:
        for e in events:
            print(f"warning: {e}", file=sys.stderr, flush=True)


class FileSink(Sink):
    """Predictions to a JSONL file, renamed into place at the end (complete up to the stop)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.f = open(self.tmp, "w")

    def prediction(self, p: dict) -> None:
        self.f.write(json.dumps(p) + "\n")

    def close(self, ok: bool) -> None:
        self.f.close()
        if ok:
            os.replace(self.tmp, self.path)
        else:  # it never started: no file rather than an empty one
            self.tmp.unlink()


class RecordingSink(Sink):
    """Records a session: the capture workers write the media, this writes the predictions,
    the manifest (incomplete until the end) and a progress line."""

    def __init__(self, root: str | Path, progress: bool = True) -> None:
        from stream.session.format import JsonlWriter, write_manifest

        self.root = Path(root)
        self.created = not self.root.exists()  # (the CLI checks it is empty otherwise)
        self.root.mkdir(parents=True, exist_ok=True)
        write_manifest(self.root, complete=False, source="record")
        self.preds = JsonlWriter(self.root / "predictions.jsonl")
        self.progress = progress
        self.line = ""
        self.t0 = time.monotonic()
        self.last = 0.0
        self.events: list[str] = []

    def started(self) -> None:
        self.t0 = time.monotonic()

    def prediction(self, p: dict) -> None:
        self.preds.add(p)

    def tick(self, health: dict[str, dict], events: list[str]) -> None:
        self.events += events  # restarts and give-ups: the manifest says what happened
        if time.monotonic() - self.last < 1.0:
            return
        self.last = time.monotonic()
        drops = sum(v for h in health.values() for k, v in h.get("stats", {}).items()
                    if "drop" in k or "overflow" in k)
        size = sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file())
        self.line = f"{time.monotonic() - self.t0:6.1f} s  {size / 1e6:7.2f} MB  drops {drops}"
        if self.progress:
            print(f"\rrecording {self.line}", end="", file=sys.stderr, flush=True)

    def close(self, ok: bool) -> None:
        from stream.session.format import finish_recording

        self.preds.close()
        if self.progress:
            print(file=sys.stderr)
        if not ok:  # it never started: leave nothing behind, not an empty "session"
            for f in sorted(self.root.rglob("*"), reverse=True):
                f.rmdir() if f.is_dir() else f.unlink()
            if self.created:
                self.root.rmdir()
            return
        finish_recording(self.root, time.monotonic() - self.t0, tuple(self.events))


class DashboardSink(Sink):
    """The rich terminal dashboard; ``interactive``: typed lines (stdin) go to the assistant."""

    def __init__(self, title: str, interactive: bool = False, recording: RecordingSink | None = None) -> None:
        from rich.console import Console

        from stream.ui.dashboard import DashState

        self.state = DashState(title)
        self.console = Console()
        self.interactive, self.recording = interactive, recording
        self.live = None

    def open(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.console.print(f"[dim]starting workers ({', '.join(pipeline.workers)})…[/dim]")

    def started(self) -> None:
        from rich.live import Live

        self.live = Live(get_renderable=self.state.render, console=self.console, refresh_per_second=5,
                         screen=False, redirect_stderr=False)
        self.live.start()
        if self.interactive and sys.stdin.isatty():
            threading.Thread(target=self._typing, daemon=True).start()

    def _typing(self) -> None:
        for line in sys.stdin:
            if line.strip():
                self.state.typed = line.strip()
                self.pipeline.send_text(line.strip())

    def prediction(self, p: dict) -> None:
        self.state.prediction(p)

    def transcript(self, text: str, final: bool) -> None:
        self.state.transcript(text, final)

    def tick(self, health: dict[str, dict], events: list[str]) -> None:
        self.state.health = health
        self.state.events.extend(events)
        if self.recording is not None:
            self.state.recording = f"{self.recording.root}  {self.recording.line}"

    def close(self, ok: bool) -> None:
        if self.live is not None:
            self.live.stop()


class SvgSink(Sink):
    """The dashboard as a picture: the frame as it was just after the first command (the
    latest frame if none came) written to ``path`` as SVG at the end (rich's export)."""

    def __init__(self, path: str | Path, title: str, width: int = 100, height: int = 32) -> None:
        from stream.ui.dashboard import DashState

        self.path, self.width, self.height = Path(path), width, height
        self.state = DashState(title)
        self.after: int | None = None  # predictions still to take after the first command
        self.svg: str | None = None

    def prediction(self, p: dict) -> None:
        self.state.prediction(p)
        if self.after is None and p.get("intent", "none") != "none":
            self.after = 3  # a moment later, so the timeline and transcript show it too
        elif self.after is not None and self.svg is None:
            self.after -= 1
            if self.after <= 0:
                self.svg = self._render()

    def transcript(self, text: str, final: bool) -> None:
        self.state.transcript(text, final)

    def tick(self, health: dict[str, dict], events: list[str]) -> None:
        self.state.health = health
        self.state.events.extend(events)

    def _render(self) -> str:
        import io

        from rich.console import Console

        con = Console(record=True, width=self.width, height=self.height, file=io.StringIO())
        con.print(self.state.render())
        return con.export_svg(title=self.state.title)

    def close(self, ok: bool) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")  # whole or not at all
        tmp.write_text(self.svg or self._render())
        tmp.replace(self.path)
