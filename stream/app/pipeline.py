"""A pipeline run as an object: start the workers, feed the sinks, end when the sources do.

Every command that runs the assistant (live, replay, demo, record, eval, bench)
goes through :class:`Pipeline`; so can a Python user::

    from stream.app.pipeline import Pipeline
    from stream.app.sinks import MemorySink
    sink = MemorySink()
    Pipeline(cfg, RunOptions(sources={"video": "face.mp4", "audio": "speech.wav"}), [sink]).run()
    sink.predictions
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import replace

from stream.app.sinks import RecordingSink, Sink
from stream.config import Config
from stream.core.message import Message
from stream.modalities.registry import get
from stream.process.stage import RunOptions
from stream.process.supervisor import Supervisor

DRAIN_S = 60.0  # after the sources end, how long fusion may take to finish its windows
# The command line sets this: once a stop signal came, the process is gone within this many
# seconds whatever hangs (printing every thread's stack first, so the hang can be found).
STOP_WATCHDOG_S: float | None = None


class Pipeline:
    def __init__(self, cfg: Config, options: RunOptions, sinks: list[Sink]) -> None:
        rec = next((s for s in sinks if isinstance(s, RecordingSink)), None)
        if rec is not None:
            options = replace(options, record=str(rec.root))
        self.cfg, self.options, self.sinks = cfg, options, sinks
        self.sup = Supervisor(cfg, options, self._prediction, self._transcript)
        self.workers = self.sup.names
        # Capture modalities: the run ends when all of them have.
        self.sources = [s for s in self.sup.streams if not get(s, cfg).always_on]
        self.t0 = 0.0
        self.ended_at: float | None = None
        self.interrupted = False  # ended by Ctrl-C or SIGTERM, not by its sources

    def _prediction(self, p: dict) -> None:
        for s in self.sinks:
            s.prediction(p)

    def _transcript(self, m: Message) -> None:
        for s in self.sinks:
            s.transcript(m.meta.get("text", ""), bool(m.meta.get("final")))

    def start(self) -> int:
        """Check the sources, spawn the workers; returns the session's time origin (monotonic ns)."""
        check_sources(self.cfg, self.options.sources)
        for s in self.sinks:
            s.open(self)
        origin = self.sup.start()
        self.t0 = time.monotonic()
        for s in self.sinks:
            s.started()
        return origin

    @property
    def finished(self) -> bool:
        return self.sup.finished

    def step(self, timeout_s: float = 0.05) -> None:
        """Supervise for a while; tell the sources to stop at the duration or once they ended."""
        self.sup.poll(timeout_s)
        events, self.sup.events = list(self.sup.events), []
        health = {n: self.sup.health[n] for n in self.sup.names if n in self.sup.health}
        for s in self.sinks:
            s.tick(health, events)
        if self.ended_at is None:
            duration = self.cfg.run.duration_s
            timeout = duration and time.monotonic() - self.t0 >= duration
            done = self.sources and all(self.sup.health.get(s, {}).get("ended") or s in self.sup.lost
                                        for s in self.sources)
            if timeout or done:
                self.sup.end()
                self.ended_at = time.monotonic()

    def send_text(self, text: str) -> None:
        self.sup.send_text(text)

    def stop(self, ok: bool = True) -> None:
        self.sup.stop()
        for s in self.sinks:
            s.close(ok)

    def run(self) -> int:
        """Until the sources end (or the duration, Ctrl-C, SIGTERM); StartupError if it cannot start.

        Returns 0, or 1 if a worker had to be given up (a stream was lost)."""
        # Both explicitly: a process started from a background job inherits SIGINT *ignored*,
        # and Python then never raises KeyboardInterrupt (seen in CI: Ctrl-C did nothing).
        if threading.current_thread() is threading.main_thread():  # (a batch task may not be)
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, _interrupt)
        ok = False
        try:
            self.start()
            ok = True
            while not self.finished:
                self.step()
                if self.ended_at is not None and time.monotonic() - self.ended_at > DRAIN_S:
                    print(f"warning: fusion did not drain within {DRAIN_S:.0f} s; stopping",
                          file=sys.stderr)
                    break
        except KeyboardInterrupt:
            self.interrupted = True
            if STOP_WATCHDOG_S:
                import faulthandler

                faulthandler.dump_traceback_later(STOP_WATCHDOG_S, exit=True)
        finally:
            self.stop(ok)
        if self.sup.lost:
            print(f"error: lost {', '.join(sorted(self.sup.lost))} (gave up restarting)", file=sys.stderr)
            return 1
        return 0


def _interrupt(*_) -> None:
    raise KeyboardInterrupt  # SIGTERM ends a run like Ctrl-C


def check_sources(cfg: Config, sources: dict[str, str]) -> None:
    """Open every file source once before anything starts: a bad file is one line, at once.

    Devices are checked by their workers, before the start handshake."""
    from stream.session.format import Session
    from stream.sources.base import SourceTiming, is_file_spec

    for root in {spec.removeprefix("session:") for spec in sources.values() if spec.startswith("session:")}:
        Session(root).check()  # once per session, whichever streams it feeds
    for name, spec in sources.items():
        mod = get(name, cfg)
        if mod.source is None or spec.startswith("session:") or not is_file_spec(spec):
            continue  # devices, "synthetic", "none": nothing to open here
        src = mod.source(spec, cfg, SourceTiming())
        src.connect()
        src.disconnect()
