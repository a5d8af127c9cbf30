"""Text stage: typed lines (dashboard, ``launch.py say``, a replayed session) and final
transcripts -> MiniLM sentence embeddings.

Its watermark is the older of the ASR's and the typed input's: live, typed
input promises "nothing before now"; in replay, "nothing before the next
scripted line".
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import zmq

from stream.core.clock import Pacer, now_ns
from stream.core.keys import bus_keys
from stream.core.message import EOS, Message, Topic
from stream.core.transport import apply_curve
from stream.encoders.audio import SR
from stream.intent.nbest import parse_hypotheses
from stream.process.stage import Output, Stage, StageContext

TYPED_SLACK_NS = 30_000_000  # a `say` line may take this long to reach us
SAME_INSTANT_S = 0.001  # apart, scripted lines at one instant
MAX_SAY_CHARS = 1000  # a typed line longer than this is refused (and counted)
MAX_SAY_BYTES = 64 * 1024  # larger messages are dropped by ZeroMQ before we read them


def scripted(events: list[dict], loop_period_s: float | None) -> Iterator[tuple[float, str]]:
    """Typed events as (session seconds, text), repeated every period when looping. Lines at
    one instant (a hand-written file's) are taken 1 ms apart, in order: at one instant, one
    window would hold them all and answer the last one for each."""
    times, texts = [], []
    for e in sorted(events, key=lambda e: e["t"]):
        times.append(e["t"] if not times or e["t"] > times[-1] else times[-1] + SAME_INSTANT_S)
        texts.append(e["text"])
    for k in itertools.count() if loop_period_s else [0]:
        if not times:
            return
        for t, text in zip(times, texts, strict=True):
            yield t + k * (loop_period_s or 0.0), text


LINES_PER_TURN = 32  # scripted lines embedded per turn (~0.3 s on a slow CPU)


class TextStage(Stage):
    def __init__(self, embedder=None, detector=None, chooser=None, second=None) -> None:
        self.emb = embedder  # texts -> (n, 384); tests pass a hashing embedder
        self.detector = detector  # embeddings -> P(complete turn), for early transcripts
        self.chooser = chooser  # picks among a final's n best hypotheses (stream.intent.nbest)
        self.second = second  # asr.second_model's recogniser, asked where the chooser is unsure
        # ((onset, words heard), words kept, embedding) of the last early transcript: its final
        # repeats the words, and reuses what was chosen and embedded for them.
        self.last_early: tuple = (None, None, None)

    def setup(self, ctx: StageContext) -> None:
        super().setup(ctx)
        cfg = ctx.cfg
        if self.emb is None:
            import torch

            from stream.encoders import weights
            from stream.encoders.text import TextEmbedder

            torch.set_num_threads(cfg.run.torch_threads)
            self.emb = TextEmbedder(weights.torch_device(cfg.run.device), cfg.text.max_len)
        self.emb(["warm up"])
        if self.detector is None and cfg.asr.early != "off":
            from stream.intent.end_of_turn import load_detector

            self.detector = load_detector(cfg.text.end_of_turn)
        if self.chooser is None and "asr" in ctx.inputs and cfg.asr.n_best > 1:
            from stream.intent.nbest import HypothesisChooser

            self.chooser = HypothesisChooser.load(cfg)
        if self.second is None and self.chooser is not None and "asr" in ctx.inputs:
            from stream.encoders import weights
            from stream.encoders.asr import load_model, second_name

            device = weights.ctranslate2_device(cfg.run.device)
            if name := second_name(cfg.asr, device):  # (one thread: as fast as two here, 199 vs 242 ms)
                self.second = load_model(name, device, cfg.run.torch_threads)
        self.pull = None
        if "say" in ctx.endpoints:
            self.pull = zmq.Context.instance().socket(zmq.PULL)
            self.pull.linger = 0
            self.pull.maxmsgsize = MAX_SAY_BYTES
            keys = bus_keys(cfg.net.curve_dir)  # TCP: only holders of the bus's client key
            apply_curve(self.pull, keys.for_server() if keys else None, server=True)
            self.pull.bind(ctx.endpoints["say"])
            self.wake = (self.pull,)
        self.asr_wm = -1 if "asr" in ctx.inputs else EOS
        self.ended = False

    def start(self, origin_ns: int) -> None:
        super().start(origin_ns)
        opt = self.ctx.options
        self.rec = None
        if opt.record:
            from stream.session.format import JsonlWriter

            self.rec = JsonlWriter(Path(opt.record) / "text.jsonl")
        self.script = scripted(opt.typed, opt.loop_period_s)
        self.nxt = next(self.script, None)
        while self.nxt is not None and self.origin_ns + int(self.nxt[0] * 1e9) < self.resume_ns:
            self.nxt = next(self.script, None)  # a restart: its predecessor typed these
        self.pacer = Pacer(self.ctx.cfg.run.speed or None, origin_ns)
        self.start_ns = int(opt.start_s * 1e9)

    def _second_opinion(self, audio: np.ndarray | None):
        """() -> the second recogniser's n best for ``audio`` (None: no second opinion)."""
        if audio is None or self.second is None:
            return None
        from stream.encoders.asr import second_opinion

        def decode() -> list[tuple[str, float]]:
            t0 = now_ns()
            hyps = second_opinion(self.second, audio, self.ctx.cfg.asr, self.ctx.cfg.home)
            self.ctx.gauges["second_ms"] = round((now_ns() - t0) / 1e6)
            return hyps
        return decode

    def _embed(self, text: str, t0: int, t1: int, source: str, capture: int,
               early: bool = False, hyps: list[tuple[str, float]] | None = None,
               audio: np.ndarray | None = None) -> Output:
        enc0 = now_ns()
        heard, asked = text, False
        key = (t0, heard, tuple(map(tuple, hyps)) if hyps else None)
        if self.last_early[0] == key:  # the final repeats the early transcript (and its n-best)
            (text, e), asked = self.last_early[1:], None
        elif hyps and self.chooser is not None:
            text, e, asked = self.chooser.choose(self.emb, hyps, self._second_opinion(audio),
                                                 self.ctx.cfg.asr.second_below)
            self.ctx.stats["nbest_other"] += text != hyps[0][0]
            self.ctx.stats["second_opinion"] += asked
        else:
            e = self.emb([text])[0]
        if early:
            self.last_early = (key, text, e)
        enc1 = now_ns()
        self.ctx.gauges.update(encode_ms=round((enc1 - enc0) / 1e6, 1), last=text)
        if asked is not None:  # (a reused choice keeps what the dashboard says of it)
            self.ctx.gauges["second"] = asked
        self.ctx.stats[source + "_early" if early else source] += 1
        meta: dict = {"text": text, "source": source}
        if text != heard:  # what Whisper ranked first, when the intent model chose another
            meta["heard"] = heard
        if early:  # is it a whole command, or did they only pause? (fusion decides with it)
            meta.update(early=True, complete=round(float(self.detector(e)[0]), 4) if self.detector else 0.0)
        if self.rec is not None and not early:  # a session keeps what was finally said
            o = self.origin_ns
            self.rec.add({"t": round((t0 - o) / 1e9, 6), "end": round((t1 - o) / 1e9, 6),
                          "text": text, "source": source})
        return Output("text", t0, t1, {"embedding": e}, meta=meta,
                      stages={"capture": capture, "encode_start": enc0, "encode_end": enc1})

    def process(self, m: Message) -> list[Output]:
        """Final transcripts from the ASR, and early ones (decoded at the first pause)."""
        out = []
        early = m.meta.get("early") is True
        if m.topic == Topic.TRANSCRIPT and (m.meta.get("final") or early):
            capture = m.stages.get("capture", now_ns())
            hyps = None
            if self.chooser is not None and "hypotheses" in m.meta:
                hyps = parse_hypotheses(m.meta["hypotheses"])
                self.ctx.stats["invalid_hypotheses"] += hyps is None  # then its text alone
            out.append(self._embed(m.meta["text"], m.t_start, m.t_end, "asr", capture, early, hyps,
                                   self._audio(m)))
        self.asr_wm = max(self.asr_wm, m.watermark)
        return out

    def _audio(self, m: Message) -> np.ndarray | None:
        """A transcript's audio (for a second opinion), if it is what the ASR sends: mono
        float32 16 kHz samples, finite, no longer than an utterance may be."""
        pcm = m.parts.get("pcm")
        if pcm is None or self.second is None:
            return None
        longest = int((self.ctx.cfg.asr.max_utterance_s + 1) * SR)
        if (pcm.dtype != np.float32 or pcm.ndim != 1 or not 0 < len(pcm) <= longest
                or not np.isfinite(pcm).all()):
            self.ctx.stats["invalid_audio"] += 1
            return None
        return pcm

    def _scripted(self) -> list[Output]:
        """Scripted typed lines, when due, and never ahead of the ASR (keeps time order)."""
        out = []
        # A bounded turn: at max speed every line of a long script is due at once, and
        # embedding thousands in one turn would silence the worker's heartbeats (restarted).
        while self.nxt is not None and len(out) < LINES_PER_TURN:
            t = self.origin_ns + int(self.nxt[0] * 1e9)
            if t > self.asr_wm or now_ns() < self.pacer.due_ns(t - self.origin_ns - self.start_ns):
                break
            out.append(self._embed(self.nxt[1], t, t, "typed", now_ns()))
            self.nxt = next(self.script, None)
        return out

    def _said(self) -> list[Output]:
        """Live typed lines (dashboard, `say`), timed by our clock, never the sender's."""
        out = []
        while self.pull is not None and self.pull.poll(0):
            try:
                text = json.loads(self.pull.recv())["text"]
            except (ValueError, KeyError, TypeError):
                self.ctx.stats["invalid_say"] += 1
                continue
            if not isinstance(text, str) or len(text) > MAX_SAY_CHARS:
                self.ctx.stats["invalid_say"] += 1
                continue
            text, t = text.strip(), now_ns()
            if t <= self.watermark:  # later than we promised: keep it, but in order
                self.ctx.stats["late_typed"] += 1
                t = self.watermark + 1
            if text:
                out.append(self._embed(text, t, t, "typed", now_ns()))
        return out

    def poll(self) -> list[Output]:
        out = self._scripted()
        if self.nxt is not None:
            typed_wm = self.origin_ns + int(self.nxt[0] * 1e9) - 1
        elif self.ctx.options.scripted or self.ended:
            typed_wm = EOS
        else:
            typed_wm = now_ns() - TYPED_SLACK_NS
        out += self._said()
        self.watermark = max(self.watermark, min(self.asr_wm, typed_wm))
        self.done = typed_wm >= EOS and self.asr_wm >= EOS
        return out

    def on_heartbeat(self, stream: str, watermark: int) -> None:
        """The ASR's heartbeats carry its watermark too (and EOS if it was given up)."""
        self.asr_wm = max(self.asr_wm, watermark)

    def end(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self.pull is not None:
            self.pull.close()
        if getattr(self, "rec", None) is not None:
            self.rec.close()
