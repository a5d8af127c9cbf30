"""Audio worker: microphone / file / synthetic -> log-mel, VAD probability, embedding.

Audio is lossless: chunks are never dropped here; a microphone that
outpaces us overflows its bounded queue, which is counted and reported.
Each message carries the raw chunk too, for the ASR worker.
"""

from __future__ import annotations

from pathlib import Path

import torch

from stream.core.clock import now_ns
from stream.encoders.audio import SR, AudioEncoder
from stream.process.runtime import Runtime, Spec, worker_main
from stream.session.format import AudioWriter
from stream.sources.devices import DeviceError, MicSource, open_audio


def run(spec: Spec) -> None:
    rt = Runtime(spec, inputs=[], topics=[])
    cfg, opt = rt.cfg, spec.options
    torch.set_num_threads(cfg.run.torch_threads)
    enc = AudioEncoder(cfg.audio.n_mels)
    src = open_audio(opt["audio"], cfg.audio, 0, cfg.run.speed or None,
                     opt.get("start_s", 0.0), opt.get("end_s"))
    src.connect()  # before the handshake: a missing microphone fails the start-up, plainly
    if not rt.wait_start():
        return
    src.set_origin(rt.origin_ns)
    rec = AudioWriter(Path(opt["record"])) if opt.get("record") else None
    while not rt.stop.is_set():
        rt.tick()
        if rt.ended:
            break
        try:
            item = src.read()
        except DeviceError:
            # Exit non-zero: fusion marks audio missing, the supervisor restarts us.
            if rec is not None:
                rec.close()
            raise
        if item is None:
            break
        chunk, t = item
        if t < rt.origin_ns:
            continue  # a microphone delivers from connect(); the session starts at origin
        cap_ns = now_ns()
        t_end = t + int(len(chunk) * 1e9 / SR)
        if rec is not None:
            rec.add(chunk, (t - rt.origin_ns) / 1e9)
        enc0 = now_ns()
        logmel, emb, vad = enc(chunk)
        enc1 = now_ns()
        if isinstance(src, MicSource):
            rt.stats["overflow"] = src.overflows
        rt.publish("audio", t, t_end, [chunk, logmel, emb],
                   meta={"vad": round(vad, 4), "parts": ["pcm", "logmel", "embedding"]},
                   stages={"capture": cap_ns, "encode_start": enc0, "encode_end": enc1},
                   watermark=t_end)
        rt.gauges["encode_ms"] = round((enc1 - enc0) / 1e6, 2)
        rt.gauges["vad"] = round(vad, 2)
    src.disconnect()
    if rec is not None:
        rec.close()
    rt.end_of_stream()
    rt.close()


if __name__ == "__main__":
    worker_main(run)
