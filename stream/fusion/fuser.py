"""Fusion as one object: align windows, run the intent model, shape predictions.

Used by the fusion worker (live and replay) and by the fusion-only replay
from cached features, so both give the same predictions.
"""

from __future__ import annotations

from stream.config import Config
from stream.core.message import Message
from stream.fusion.align import EOS, Aligner, Window
from stream.intent.baseline import IntentModel, Prediction, load_model

MODALITIES = ("video", "audio", "text")


def prediction_json(p: Prediction, origin_ns: int, latency_ms: float, event: bool) -> dict:
    """A prediction in the public shape (DESIGN.md section 3) plus our extra fields."""
    return {
        "t": round((p.end_ns - origin_ns) / 1e9, 3),
        "intent": p.intent,
        "confidence": p.confidence,
        "addressed": p.addressed,
        "modalities": p.modalities,
        "latency_ms": round(latency_ms, 1),
        "contributions": p.contributions,
        "text": p.text,
        "event": event,
    }


class Fuser:
    def __init__(self, cfg: Config, streams: list[str], origin_ns: int, start_s: float = 0.0,
                 model: IntentModel | None = None) -> None:
        f = cfg.fusion
        self.model = model or load_model(f.model, intent_threshold=f.intent_threshold,
                                         addressed_threshold=f.addressed_threshold,
                                         speech_threshold=cfg.asr.speech_threshold)
        self.streams = [s for s in MODALITIES if s in streams]
        # Replay: every stream present is required and only watermarks close windows.
        required = self.streams if cfg.run.replay else f.require
        self.origin_ns = origin_ns
        self.aligner = Aligner(self.streams, required, int(f.window_s * 1e9), int(f.hop_s * 1e9),
                               origin_ns + int(start_s * 1e9),
                               None if cfg.run.replay else f.deadline_ms * 1_000_000,
                               f.stale_ms * 1_000_000)

    def add(self, m: Message, now_ns: int) -> None:
        if m.topic == "wm":
            self.aligner.advance(m.stream, m.watermark)
        elif self.aligner.add(m) and m.stream == "text":
            self.aligner.trigger(m.t_end, now_ns)

    def advance(self, stream: str, watermark: int) -> None:
        self.aligner.advance(stream, watermark)

    def predict(self, w: Window, published_ns: int | None) -> dict:
        p = self.model.predict(w)
        for s in MODALITIES:
            p.modalities.setdefault(s, "missing")
        latency = (published_ns - w.newest_capture_ns) / 1e6 \
            if (published_ns and w.newest_capture_ns) else 0.0
        return prediction_json(p, self.origin_ns, latency, w.event)

    def poll(self, now_ns: int) -> list[Window]:
        return self.aligner.poll(now_ns)

    @property
    def done(self) -> bool:
        a = self.aligner
        return bool(self.streams) and all(a.wm[s] >= EOS for s in self.streams) and not a.pending
