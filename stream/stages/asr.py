"""ASR stage: audio chunks (with their VAD) -> partial and final transcripts.

Each transcript keeps the origin time span of its speech. Its watermark is
the start of the utterance in progress (or the audio's, between turns).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stream.core.clock import now_ns
from stream.core.message import EOS, Message, Topic
from stream.process.stage import Output, Stage, StageContext

if TYPE_CHECKING:
    from stream.encoders.asr import Transcript


class AsrStage(Stage):
    def __init__(self, asr=None) -> None:
        self.asr = asr  # a StreamingAsr; tests pass one with a scripted recogniser

    def setup(self, ctx: StageContext) -> None:
        super().setup(ctx)
        from stream.encoders import weights
        from stream.encoders.asr import StreamingAsr, second_name

        device = weights.ctranslate2_device(ctx.cfg.run.device)
        if self.asr is None:
            self.asr = StreamingAsr(ctx.cfg.asr, device, live=not ctx.cfg.run.replay, home=ctx.cfg.home)
        self.second = bool(second_name(ctx.cfg.asr, device))  # then finals carry their audio

    def _sends_audio(self, t: Transcript) -> bool:
        """Finals and early transcripts carry what was decoded when a second opinion may be asked."""
        return self.second and t.audio is not None and (t.final or t.early)

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
                      # what was decoded, for a second opinion (the text worker's, asr.second_model)
                      {"pcm": t.audio} if self._sends_audio(t) else {},
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
