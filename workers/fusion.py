"""Fusion worker: video, audio and text features -> time-aligned windows -> intent.

Windows close on watermarks (replay: only on watermarks, so any replay
speed gives identical predictions); live windows also close on a deadline,
with lagging streams marked stale or missing. Each prediction is published
in the DESIGN.md section 3 shape. A full replay can cache what fusion
received in the session (``features/``) for fast fusion-only replays.
"""

from __future__ import annotations

from pathlib import Path

import torch

from stream.core.clock import now_ns
from stream.fusion.align import EOS
from stream.fusion.fuser import MODALITIES, Fuser
from stream.intent.baseline import load_model
from stream.process.runtime import Runtime, Spec, worker_main
from stream.session.features import FeatureRecorder


def run(spec: Spec) -> None:
    opt = spec.options
    streams = [s for s in MODALITIES if s in opt.get("streams", MODALITIES)]
    rt = Runtime(spec, inputs=streams, topics=[*streams, "wm"])
    cfg = rt.cfg
    torch.set_num_threads(cfg.run.torch_threads)
    f = cfg.fusion
    model = load_model(f.model, intent_threshold=f.intent_threshold,
                       addressed_threshold=f.addressed_threshold,
                       speech_threshold=cfg.asr.speech_threshold)
    fuser: Fuser | None = None
    rt.on_heartbeat = lambda m: fuser and fuser.advance(m.stream, m.watermark)
    if not rt.wait_start():
        return
    fuser = Fuser(cfg, streams, rt.origin_ns, opt.get("start_s", 0.0), model)
    cache = FeatureRecorder(Path(opt["cache"]), rt.origin_ns) if opt.get("cache") else None
    lat: list[float] = []
    done = False
    while not rt.stop.is_set():
        rt.tick()
        m = rt.recv(10)
        if m is not None:
            fuser.add(m, now_ns())
            if cache is not None:
                cache.add(m)
        for w in fuser.poll(now_ns()):
            pred = fuser.predict(w, now_ns())
            lat.append(pred["latency_ms"])
            rt.publish("pred", w.start_ns, w.end_ns, meta=pred, watermark=w.end_ns,
                       stages={"capture": w.newest_capture_ns})
        rt.stats.update(fuser.aligner.counts)
        fuser.aligner.counts.clear()
        if lat:
            s = sorted(lat[-200:])
            rt.gauges["latency_p50_ms"] = round(s[len(s) // 2], 1)
            rt.gauges["latency_p95_ms"] = round(s[int(len(s) * 0.95)], 1)
        if not done and fuser.done:
            done = True
            if cache is not None:
                cache.write()
            rt.ended = True
            rt.publish("pred", EOS, EOS, meta={"eos": True}, watermark=EOS)
            rt.heartbeat()
    rt.close()


if __name__ == "__main__":
    worker_main(run)
