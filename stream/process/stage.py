"""The shape of every worker's logic: a stage (after whisper_streaming and Pipecat).

A stage only turns inputs into outputs; the shared loop
(:func:`stream.process.runtime.run_worker`) owns the sockets, the start
handshake, heartbeats, publishing, watermarks and end of stream. The contract:

* ``setup(ctx)``: load models, open devices, before the start handshake (a
  missing camera fails the start-up, plainly);
* ``start(origin_ns)``: the session's time zero is known;
* ``process(msg)``: one input message in, what it produces out;
* ``poll()``: self-driven work (read a source, close windows), called every turn;
* ``end()``: the supervisor asked sources to stop (``Control.END``); a source stage
  is then done, others go on until their inputs end (they may have a backlog);
* ``finish()``: flush what is pending once ``done`` (end of stream follows);
* ``close()``: release devices and files.

:func:`run_stage` drives a stage in-process, with no sockets and no processes,
which is how the unit tests exercise every stage.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stream.config import Config
from stream.core.clock import now_ns
from stream.core.message import EOS, Message, Topic


@dataclass
class RunOptions:
    """What one run does besides the config: its sources and what to write (typed, not a dict)."""

    sources: dict[str, str] = field(default_factory=dict)  # modality -> device, file, session:DIR, ...
    typed: list[dict] = field(default_factory=list)  # scripted typed lines {"t", "text"} (replay)
    scripted: bool = False  # typed input is the script alone (replay): it ends where the script does
    start_s: float = 0.0  # session seconds to start at (replay)
    end_s: float | None = None
    loop_period_s: float | None = None  # replay --loop: the script repeats every period
    record: str | None = None  # session directory the capture stages record into
    cache: str | None = None  # session directory fusion writes its feature cache into
    resume_after_s: float | None = None  # a restarted worker: its predecessor published up to here
    streams: list[str] = field(default_factory=list)  # modalities in this run (set by the supervisor)
    workers: list[str] = field(default_factory=list)  # worker processes in this run


@dataclass
class Output:
    """One message a stage wants published (the loop adds stream, sequence number and time)."""

    topic: str
    t_start: int
    t_end: int
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, int] = field(default_factory=dict)
    watermark: int | None = None  # advance the stream's watermark with this message


@dataclass
class StageContext:
    """What a stage is given: config, run options, and counters its worker reports."""

    cfg: Config
    options: RunOptions
    endpoints: dict[str, str] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)  # the streams this stage listens to in this run
    stats: Counter[str] = field(default_factory=Counter)  # drops, errors (dashboard, heartbeats)
    gauges: dict[str, Any] = field(default_factory=dict)  # current values (fps, encode ms, ...)


class Stage:
    """Base class: override what the stage needs."""

    watermark: int = -1  # nothing older than this will come from the stage any more
    done: bool = False  # nothing more will come (the loop then sends end of stream)
    wake: tuple = ()  # zmq sockets the stage reads in ``poll``: the worker's wait for input
    # ends as soon as one has something (a typed line is not left waiting out the timeout)

    def setup(self, ctx: StageContext) -> None:
        self.ctx = ctx

    def start(self, origin_ns: int) -> None:
        self.origin_ns = origin_ns
        self.resume_ns = self._resume_point()

    def _resume_point(self) -> int:
        """Where a restarted worker takes over (event time): after what its predecessor
        published and, when paced, not before the session's present, so it neither repeats
        nor bursts to catch up. -1 for a worker that is not a restart."""
        opt, speed = self.ctx.options, self.ctx.cfg.run.speed
        if opt.resume_after_s is None:
            return -1
        s = opt.resume_after_s
        if speed:  # 0: as fast as possible, no present to catch up with
            s = max(s, opt.start_s + (now_ns() - self.origin_ns) * speed / 1e9)
        return self.origin_ns + int(s * 1e9)

    def process(self, msg: Message) -> list[Output]:
        return []

    def poll(self) -> list[Output]:
        return []

    def on_heartbeat(self, stream: str, watermark: int) -> None:
        """An input's heartbeat (fusion advances that stream's watermark)."""

    def end(self) -> None:
        """The run is ending: sources stop (see CaptureStage); others finish their inputs first."""

    def finish(self) -> list[Output]:
        return []

    def close(self) -> None:
        pass


def _drain(stage: Stage, max_idle: int) -> list[Output]:
    """Poll until the stage is done or has had nothing to say ``max_idle`` times in a row."""
    out: list[Output] = []
    idle = 0
    while not stage.done and idle < max_idle:
        got = stage.poll()
        out += got
        idle = 0 if got else idle + 1
    return out


def run_stage(stage: Stage, inputs: Iterable[Message] = (), *, cfg: Config | None = None,
              options: RunOptions | None = None, origin_ns: int = 0, end: bool = True,
              max_idle: int = 20, listens: list[str] | None = None) -> list[Output]:
    """Run a stage in-process: every input, then polls until it is done; returns its outputs.

    ``end``: once it is idle, tell the stage to end (as the supervisor does at the end of a
    run) and drain it again. ``listens``: the streams it is wired to (default: those in
    ``inputs``).
    """
    inputs = list(inputs)
    ctx = StageContext(cfg or Config(), options or RunOptions(),
                       inputs=listens if listens is not None else sorted({m.stream for m in inputs}))
    stage.setup(ctx)
    stage.start(origin_ns)
    out: list[Output] = []
    for m in inputs:
        out += stage.process(m)
        out += stage.poll()
    out += _drain(stage, max_idle)
    if end and not stage.done:
        stage.end()
        out += _drain(stage, max_idle)
    out += stage.finish()
    stage.close()
    return out


def eos(stream: str) -> Message:
    """A bare end-of-stream watermark from ``stream`` (for feeding a stage in tests)."""
    return Message(stream, 0, EOS, EOS, EOS, topic=Topic.WATERMARK)
