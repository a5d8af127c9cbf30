"""The common shape of a capture stage: a modality's source -> (recorder) -> encoder -> outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stream.modalities.registry import Modality, get
from stream.process.stage import Stage, StageContext
from stream.sources.base import Reconnecting, Resumed, Source, SourceTiming


class CaptureStage(Stage):
    """Opens its modality's source (before the handshake), records what it reads when asked to.

    Subclasses set ``modality`` and implement ``load`` (the encoders) and ``poll``.
    """

    modality = ""
    source: Source
    rec: Any = None

    def setup(self, ctx: StageContext) -> None:
        super().setup(ctx)
        cfg, opt = ctx.cfg, ctx.options
        self.mod: Modality = get(self.modality, cfg)
        section = getattr(cfg, self.modality, None)  # its config section, if it has one
        loop = opt.loop_period_s is not None or bool(getattr(section, "loop", False))
        self.timing = SourceTiming(speed=cfg.run.speed or None, replay=cfg.run.replay,
                                   start_s=opt.start_s, end_s=opt.end_s, loop=loop)
        self.load(ctx)
        assert self.mod.source is not None, f"{self.modality}: no source declared"
        self.source = self.mod.source(opt.sources[self.modality], cfg, self.timing)
        self.source.connect()  # before the handshake: a missing device fails the start-up, plainly
        if self.source.live_device:  # once it has worked, unplugging it is not the end
            self.source = Reconnecting(self.source)

    def load(self, ctx: StageContext) -> None:
        """Load the encoders."""

    def start(self, origin_ns: int) -> None:
        super().start(origin_ns)
        self.source.set_origin(origin_ns)
        if self.resume_ns >= 0:
            self.source = Resumed(self.source, self.resume_ns)
        record = self.ctx.options.record
        if record and self.mod.writer is not None:
            self.rec = self.mod.writer(Path(record), self.source)

    def end(self) -> None:
        """Stop reading: end of stream follows."""
        self.done = True

    def device_state(self, away: str | None) -> None:
        """Show whether the device is there (the dashboard's note says "reconnecting")."""
        g = self.ctx.gauges
        if away is not None and g.get("device") != "reconnecting":
            g["device"], g["error"] = "reconnecting", away
        elif away is None and g.get("device") == "reconnecting":
            g["device"] = "ok"
            g.pop("error", None)
        self.ctx.stats["reconnects"] = getattr(self.source, "reconnects", 0)

    def record(self, data: Any, t_ns: int) -> None:
        """Keep a captured item in the session being recorded (every one, even those skipped)."""
        if self.rec is not None:
            self.rec.add(data, (t_ns - self.origin_ns) / 1e9)

    def close(self) -> None:
        self.source.disconnect()
        if self.rec is not None:
            self.rec.close()
            self.rec = None
