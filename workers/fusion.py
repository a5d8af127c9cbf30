"""Fusion worker: video, audio and text features -> time-aligned windows -> intent.

Windows close on watermarks (replay: only on watermarks, so any replay
speed gives identical predictions); live windows also close on a deadline,
with lagging streams marked stale or missing. Each prediction is published
in the DESIGN.md section 3 shape.
"""

from __future__ import annotations

import torch

from stream.align import EOS, Aligner
from stream.clock import now_ns
from stream.model import load_model
from stream.runtime import Runtime, Spec, worker_main

MODALITIES = ("video", "audio", "text")


def prediction_json(p, origin_ns: int, latency_ms: float, event: bool) -> dict:
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


def run(spec: Spec) -> None:
    streams = [s for s in MODALITIES if s in spec.options.get("streams", MODALITIES)]
    rt = Runtime(spec, inputs=streams, topics=[*streams, "wm"])
    cfg = rt.cfg
    torch.set_num_threads(cfg.run.torch_threads)
    f = cfg.fusion
    model = load_model(f.model, intent_threshold=f.intent_threshold,
                       addressed_threshold=f.addressed_threshold,
                       speech_threshold=cfg.asr.speech_threshold)
    aligner: Aligner | None = None
    rt.on_heartbeat = lambda m: aligner and aligner.advance(m.stream, m.watermark)
    if not rt.wait_start():
        return
    # Replay: every stream present is required and only watermarks close windows.
    required = streams if cfg.run.replay else f.require
    grid0 = rt.origin_ns + int(spec.options.get("start_s", 0.0) * 1e9)
    aligner = Aligner(streams, required, int(f.window_s * 1e9), int(f.hop_s * 1e9),
                      grid0, None if cfg.run.replay else f.deadline_ms * 1_000_000,
                      f.stale_ms * 1_000_000)
    lat: list[float] = []
    done = False
    while not rt.stop.is_set():
        rt.tick()
        m = rt.recv(10)
        now = now_ns()
        if m is not None:
            if m.topic == "wm":
                aligner.advance(m.stream, m.watermark)
            elif aligner.add(m) and m.stream == "text":
                aligner.trigger(m.t_end, now)
        for w in aligner.poll(now_ns()):
            p = model.predict(w)
            for s in MODALITIES:
                p.modalities.setdefault(s, "missing")
            pub = now_ns()
            latency = (pub - w.newest_capture_ns) / 1e6 if w.newest_capture_ns else 0.0
            lat.append(latency)
            rt.publish("pred", w.start_ns, w.end_ns, meta=prediction_json(
                p, rt.origin_ns, latency, w.event), watermark=w.end_ns,
                stages={"capture": w.newest_capture_ns})
        rt.stats.update({k: v for k, v in aligner.counts.items()})
        aligner.counts.clear()
        if lat:
            s = sorted(lat[-200:])
            rt.gauges["latency_p50_ms"] = round(s[len(s) // 2], 1)
            rt.gauges["latency_p95_ms"] = round(s[int(len(s) * 0.95)], 1)
        if not done and streams and all(aligner.wm[s] >= EOS for s in streams) \
                and not aligner.pending:
            done = True
            rt.ended = True
            rt.publish("pred", EOS, EOS, meta={"eos": True}, watermark=EOS)
            rt.heartbeat()
    rt.close()


if __name__ == "__main__":
    worker_main(run)
