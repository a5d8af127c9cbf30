"""ASR worker: audio chunks (with their VAD) -> partial and final transcripts.

Each transcript keeps the origin time span of its speech. Its watermark is
the start of the utterance in progress (or the audio's, between turns).
"""

from __future__ import annotations

from stream.core.clock import now_ns
from stream.encoders import weights as models
from stream.encoders.asr import StreamingAsr
from stream.fusion.align import EOS
from stream.process.runtime import Runtime, Spec, worker_main


def run(spec: Spec) -> None:
    rt = Runtime(spec, inputs=["audio"], topics=["audio", "wm"])
    cfg = rt.cfg
    asr = StreamingAsr(cfg.asr, models.torch_device(cfg.run.device))
    if not rt.wait_start():
        return
    done = False
    while not rt.stop.is_set():
        rt.tick()
        m = rt.recv(50)
        if m is None or done:
            continue
        if m.topic == "audio":
            asr.insert_audio_chunk(m.parts[0], m.t_start, m.meta.get("vad", 0.0))
            enc0 = now_ns()
            outs = asr.process_iter()
        elif m.watermark >= EOS:
            enc0 = now_ns()
            outs = asr.finish()
            done = True
        else:
            continue
        enc1 = now_ns()
        for t in outs:
            rt.publish("asr", t.t_start, t.t_end, meta={
                "text": t.text, "final": t.final, "words": [list(w) for w in t.words]},
                stages={"capture": m.stages.get("capture", enc0), "encode_start": enc0,
                        "encode_end": enc1}, watermark=asr.watermark)
            rt.gauges["decode_ms"] = round((enc1 - enc0) / 1e6)
        rt.advance(EOS if done else asr.watermark)
        rt.gauges["in_speech"] = asr.start_ns is not None
    rt.close()


if __name__ == "__main__":
    worker_main(run)
