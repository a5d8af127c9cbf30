"""Audio stage: microphone / file / session / synthetic chunks -> log-mel, VAD, embedding.

Audio is lossless: chunks are never dropped here; a microphone that outpaces
us overflows its bounded queue, which is counted and reported. Each message
carries the raw chunk too (``pcm``), for the ASR worker.
"""

from __future__ import annotations

import numpy as np

from stream.core.clock import now_ns
from stream.encoders.audio import SR
from stream.process.stage import Output, StageContext
from stream.sources.base import DeviceAway
from stream.stages.capture import CaptureStage


class AudioStage(CaptureStage):
    modality = "audio"

    def __init__(self, encoder=None) -> None:
        self.enc = encoder  # chunk -> (log-mel, embedding, VAD); tests may pass a fake

    def load(self, ctx: StageContext) -> None:
        if self.enc is None:
            import torch

            from stream.encoders.audio import AudioEncoder

            torch.set_num_threads(ctx.cfg.run.torch_threads)
            self.enc = AudioEncoder.for_config(ctx.cfg)

    def poll(self) -> list[Output]:
        try:
            item = self.source.read()  # DeviceError (a file, a device that never worked): exit
        except DeviceAway as e:  # unplugged: the source reconnects; fusion shows audio missing
            self.device_state(str(e))
            return []
        self.device_state(None)
        if item is None:
            self.done = True
            return []
        chunk, t = item
        if t < self.origin_ns:
            return []  # a microphone delivers from connect(); the session starts at origin
        cap_ns = now_ns()
        t_end = t + int(len(chunk) * 1e9 / SR)
        self.record(chunk, t)
        enc0 = now_ns()
        logmel, emb, frames = self.enc(chunk)
        vad = float(frames.max())
        enc1 = now_ns()
        if hasattr(self.source, "overflows"):
            self.ctx.stats["overflow"] = self.source.overflows
        level = 20 * np.log10(float(np.sqrt(np.mean(np.square(chunk)))) + 1e-9)  # dBFS
        self.ctx.gauges.update(encode_ms=round((enc1 - enc0) / 1e6, 2), vad=round(vad, 2),
                               level_db=round(max(level, -99.0), 1))
        return [Output("audio", t, t_end, {"pcm": chunk, "logmel": logmel, "embedding": emb},
                       # the last frame's too: the recogniser's cue that the voice may have stopped
                       meta={"vad": round(vad, 4), "vad_tail": round(float(frames[-1]), 4)},
                       stages={"capture": cap_ns, "encode_start": enc0, "encode_end": enc1},
                       watermark=t_end)]
