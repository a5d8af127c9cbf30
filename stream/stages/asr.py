"""ASR stage: audio chunks (with their VAD) -> partial and final transcripts.

Each transcript keeps the origin time span of its speech. Its watermark is
the start of the utterance in progress (or the audio's, between turns).
"""

from __future__ import annotations

from stream.core.clock import now_ns
from stream.core.message import EOS, Message, Topic
from stream.process.stage import Output, Stage, StageContext


class AsrStage(Stage):
    def __init__(self, asr=None) -> None:
        self.asr = asr  # a StreamingAsr; tests pass one with a scripted recogniser

    def setup(self, ctx: StageContext) -> None:
        super().setup(ctx)
        if self.asr is None:
            from stream.encoders import weights
            from stream.encoders.asr import StreamingAsr

            self.asr = StreamingAsr(ctx.cfg.asr, weights.ctranslate2_device(ctx.cfg.run.device),
                                    live=not ctx.cfg.run.replay, home=ctx.cfg.home)

    def process(self, m: Message) -> list[Output]:
        enc0 = now_ns()
        if m.topic == "audio":
            tail = m.meta.get("vad_tail")
            self.asr.insert_audio_chunk(m.parts["pcm"], m.t_start, m.meta.get("vad", 0.0),
                                        float(tail) if isinstance(tail, int | float) else None)
            transcripts = self.asr.process_iter()
        elif m.watermark >= EOS:
            transcripts = self.asr.finish()
            self.done = True
        else:
            return []
        enc1 = now_ns()
        out = [Output(Topic.TRANSCRIPT, t.t_start, t.t_end,
                      meta={"text": t.text, "final": t.final, "early": t.early,
                            **({"hypotheses": [[h, round(s, 4)] for h, s in t.hypotheses]}
                               if t.hypotheses else {})},
                      stages={"capture": m.stages.get("capture", enc0), "encode_start": enc0,
                              "encode_end": enc1}, watermark=self.asr.watermark)
               for t in transcripts]
        if out:
            self.ctx.gauges["decode_ms"] = round((enc1 - enc0) / 1e6)
        self.watermark = EOS if self.done else self.asr.watermark
        self.ctx.gauges["in_speech"] = self.asr.start_ns is not None
        return out
