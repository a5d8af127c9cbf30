"""Fusion stage: every modality's features -> time-aligned windows -> intent predictions.

Windows close on watermarks (replay: only on watermarks, so any replay speed
gives identical predictions); live windows also close on a deadline, with
lagging streams marked stale or missing. Each prediction is published in the
public shape (docs/contracts.md). A full replay can cache what fusion received in
the session (``features/``) for fast fusion-only replays.
"""

from __future__ import annotations

import sys
from collections import deque
from pathlib import Path

from stream.core.clock import now_ns
from stream.core.message import EOS, Message, Topic
from stream.fusion.fuser import Fuser
from stream.fusion.latency import KEEP, StageLatency, p50_p95
from stream.intent.slots import filler
from stream.process.stage import Output, Stage, StageContext
from stream.session.features import FeatureRecorder


class FusionStage(Stage):
    def __init__(self, model=None) -> None:
        self.model = model  # an IntentModel; tests may pass their own

    def setup(self, ctx: StageContext) -> None:
        super().setup(ctx)
        if self.model is None:
            import torch

            from stream.intent.checkpoint import load_model

            torch.set_num_threads(ctx.cfg.run.torch_threads)
            self.model = load_model(ctx.cfg.fusion.model, ctx.cfg)
            # The home's slot parser now, warm (~0.35 s), not at start or on the first answers.
            filler(ctx.cfg.home).warm_up()
        self.fuser: Fuser | None = None
        self.cache: FeatureRecorder | None = None
        self.lat: deque[float] = deque(maxlen=KEEP)  # the latest predictions' latency (ms)
        self.stage_ms = StageLatency()

    def start(self, origin_ns: int) -> None:
        super().start(origin_ns)
        cfg, opt = self.ctx.cfg, self.ctx.options
        self.fuser = Fuser(cfg, self.ctx.inputs, origin_ns, self.model, opt.start_s)
        if opt.cache:
            self.cache = FeatureRecorder(Path(opt.cache), origin_ns, cfg, self.fuser.streams)

    def on_heartbeat(self, stream: str, watermark: int) -> None:
        if self.fuser is not None:
            self.fuser.advance(stream, watermark)

    def process(self, m: Message) -> list[Output]:
        assert self.fuser is not None
        self.fuser.add(m, now_ns())
        if self.cache is not None:
            self.cache.add(m)
        return []

    def poll(self) -> list[Output]:
        assert self.fuser is not None
        out = []
        for w in self.fuser.poll(now_ns()):
            closed = now_ns()
            pred = self.fuser.predict(w, closed)
            if pred is None:
                continue
            self.stage_ms.add(w, closed, now_ns())
            self.lat.append(pred["latency_ms"])
            out.append(Output(Topic.PREDICTION, w.start_ns, w.published_ns, meta=pred,
                              watermark=w.published_ns,
                              stages={"capture": w.newest_capture_ns}))
        counts = self.fuser.aligner.counts
        self.ctx.stats.update(counts)
        counts.clear()
        if out:  # (only when there is something new: the percentiles sort their values)
            g = self.ctx.gauges
            g["latency_p50_ms"], g["latency_p95_ms"] = p50_p95(self.lat)
            g["stages_ms"] = self.stage_ms.summary()
        self.done = self.fuser.done
        return out

    def finish(self) -> list[Output]:
        if self.cache is not None and (why := self.cache.write()) is not None:
            print(f"fusion: no feature cache written for {self.cache.root}: {why}", file=sys.stderr)
        return [Output(Topic.PREDICTION, EOS, EOS, meta={"eos": True}, watermark=EOS)]
