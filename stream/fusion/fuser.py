"""Fusion as one object: check and align the streams, run the intent model, shape predictions.

Used by the fusion stage (live and replay) and by the fusion-only replay from
cached features, so both give the same predictions. Every received message is
checked against its stream's schema (the modality's named parts, dtypes and
shapes); anything else is counted by reason and dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from stream.config import Config
from stream.core.clock import now_ns as wall_ns
from stream.core.message import EOS, Message, Topic
from stream.fusion.align import Aligner, Item, Window
from stream.intent.intent_set import NONE
from stream.intent.prediction import IntentModel, Prediction
from stream.intent.slots import filler
from stream.modalities.registry import Feature, modalities

FUTURE_NS = 5_000_000_000  # live: nothing is captured 5 s from now
PAST_NS = 60_000_000_000  # nor a minute before the session began
MAX_META_CHARS = 4000  # a transcript or typed line longer than this is not one
SPEECH_MARGIN_NS = 500_000_000  # a face seen up to 0.5 s before the words counts as there
MAX_TURNS = 64  # utterances with an early answer whose final has not come (a lost ASR's)


def prediction_json(p: Prediction, origin_ns: int, latency_ms: float, event: bool) -> dict:
    """A prediction in the public shape (docs/contracts.md) plus our extra fields."""
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
        **({"slots": p.slots} if p.intent != NONE else {}),
    }


@dataclass
class _Turn:
    """One utterance (keyed by its onset) that had early transcripts: one at each pause."""

    early: dict[int, tuple[str, float]] = field(default_factory=dict)  # end -> (words, complete),
    # early windows not decided yet
    decided: dict[int, tuple[str, str, dict]] = field(default_factory=dict)  # end -> (words,
    # intent answered early or "" if it was not sure, its slots)
    answer_end: int | None = None  # once the final came: the window that answers it (its own,
    # or the early window with the same words and end, and then the final opens none)
    answer_words: str = ""  # the final's words


class EarlyTurns:
    """Semantic end of turn: answer an utterance's early transcript (decoded at a pause) when
    the intent model is sure of a command and the end-of-turn detector finds the words
    complete, before the silence timer ends.

    Early transcripts are in their own windows only (never buffered). The ASR sends one at
    each pause, the last one with the final's words: that one's window answers for the final
    (early if sure, else as the final's usual answer), and the final opens no window of its
    own. A final with other words (the speaker went on) is answered as usual. Once the
    final is answered, each early answer from an earlier pause is counted *upheld* or
    *contradicted* by the final's intent (kept rare: README)."""

    def __init__(self, confidence: float, complete: float, addressed: float, counts) -> None:
        self.confidence, self.complete, self.addressed = confidence, complete, addressed
        self.counts = counts  # the aligner's counter ("<stream>.<reason>" -> n)
        self.turns: dict[tuple[str, int], _Turn] = {}

    def early(self, stream: str, m: Message) -> None:
        key = (stream, m.t_start)
        if key not in self.turns and len(self.turns) >= MAX_TURNS:  # (a lost ASR's, never final)
            old = next((k for k, t in self.turns.items() if t.answer_end is None), next(iter(self.turns)))
            del self.turns[old]
        turn = self.turns.setdefault(key, _Turn())
        turn.early[m.t_end] = (m.meta.get("text", ""), float(m.meta.get("complete", 0.0)))

    def final(self, stream: str, m: Message) -> bool:
        """A final transcript came; True if it needs a window of its own."""
        turn = self.turns.get((stream, m.t_start))
        if turn is None:
            return True
        words = m.meta.get("text", "")
        turn.answer_end, turn.answer_words = m.t_end, words
        if turn.early.get(m.t_end, ("",))[0] == words:
            return False  # its early window is still open, and will answer for it
        said, intent, slots = turn.decided.get(m.t_end, ("", "", {}))
        if said == words and intent:  # answered already, by the same words
            self._settle(stream, m.t_start, (intent, slots))
            return False
        return True

    def window(self, w: Window, pred: dict) -> dict | None:
        """The prediction to publish for an early window (None: nothing to publish)."""
        assert w.early is not None
        stream, prov = w.early
        turn = self.turns.get((stream, prov.t_start))
        if turn is None or prov.t_end not in turn.early:
            return None
        words, complete = turn.early.pop(prov.t_end)
        sure = (pred["intent"] != NONE and pred["confidence"] >= self.confidence
                and pred["addressed"] >= self.addressed and complete >= self.complete)
        turn.decided[prov.t_end] = (words, pred["intent"] if sure else "", _slots(pred) if sure else {})
        self.counts[f"{stream}.early_answered" if sure else f"{stream}.early_unsure"] += 1
        if turn.answer_end == prov.t_end and turn.answer_words == words:  # the final's own words:
            self._settle(stream, prov.t_start, (pred["intent"], _slots(pred)))  # this answers it
            return {**pred, "early": True} if sure else pred
        return {**pred, "early": True} if sure else None

    def checked(self, w: Window, pred: dict) -> bool:
        """Any other window: if it answers a final, settle that utterance's early answers. False:
        do not publish it, an event that agrees with the early answer given at the same pause
        (the final heard that pause's words otherwise, e.g. with the sounds after it, but means
        nothing else: one command, one answer; :func:`_agrees`)."""
        publish = True
        for (stream, t0), turn in list(self.turns.items()):
            if turn.answer_end == w.end_ns and not turn.early:
                _, intent, slots = turn.decided.get(w.end_ns, ("", "", {}))
                answer = (pred["intent"], _slots(pred))
                publish = publish and not (w.event and intent and _agrees(answer, (intent, slots)))
                self._settle(stream, t0, answer)
        return publish

    def _settle(self, stream: str, t0: int, final: tuple[str, dict]) -> None:
        """The final is answered (its intent and slots): count each early answer against it;
        forget the turn. An answer at the final's own pause must agree with it (:func:`_agrees`);
        an answer at an earlier pause (the speaker went on) must have its intent."""
        turn = self.turns.pop((stream, t0))
        for end, (_, intent, slots) in turn.decided.items():
            if not intent:
                continue
            if end == turn.answer_end:
                why = "confirmed" if _agrees(final, (intent, slots)) else "contradicted"
            else:
                why = "upheld" if intent == final[0] else "contradicted"
            self.counts[f"{stream}.early_{why}"] += 1


def _slots(pred: dict) -> dict:
    return pred.get("slots") or {}


def _agrees(final: tuple[str, dict], early: tuple[str, dict]) -> bool:
    """Whether the final's answer says nothing the early one did not: the same intent, and each
    of its slots the early answer's too. A final that heard the pause otherwise may lose a
    word ("... on on attic?" early, "... on on Aric" final): answering it again would act a
    second time with less ("the lights" after "the kitchen lights"), so it adds no answer."""
    return final[0] == early[0] and all(early[1].get(k) == v for k, v in final[1].items())


def meta_problem(m: Message, types: dict[str, type]) -> str | None:
    """Why the meta fields fusion reads are unusable (None if they are fine or absent)."""
    for key, kind in types.items():
        v = m.meta.get(key)
        if v is None:
            continue
        if kind is float:
            if isinstance(v, bool) or not isinstance(v, int | float):
                return "bad_meta"
            if not math.isfinite(v):
                return "nonfinite"
        elif not isinstance(v, kind) or (kind is str and len(v) > MAX_META_CHARS):
            return "bad_meta"
    return None


def schema_problem(m: Message, schema: dict[str, Feature]) -> str | None:
    """Why a data message does not match its stream's schema (None if it does)."""
    for name, f in schema.items():
        x = m.parts.get(name)
        if x is None:
            if not (f.optional or not f.cache):  # an uncached part is the live path's only
                return "missing_part"
            continue
        if x.dtype.name != f.dtype or tuple(x.shape) != f.shape:
            return "bad_shape"
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            return "nonfinite"
    if set(m.parts) - set(schema):
        return "unknown_part"
    return None


class Fuser:
    def __init__(self, cfg: Config, streams: list[str], origin_ns: int, model: IntentModel,
                 start_s: float = 0.0) -> None:
        f = cfg.fusion
        self.model = model
        self.slots = filler(cfg.home)
        self.presence = {m.name: m.presence for m in modalities(cfg)
                         if m.presence is not None and cfg.fusion.speech_needs_presence}
        self.presence_share = cfg.fusion.presence_share
        self.verdicts: dict[tuple[int, int], bool] = {}  # utterance (start, end) -> nobody there
        self.known = [m.name for m in modalities(cfg)]
        mods = [m for m in modalities(cfg) if m.name in streams]
        self.streams = [m.name for m in mods]
        self.schemas = {m.name: m.parts(cfg) for m in mods}
        self.events = {m.name for m in mods if m.events}
        # An event stream's early transcripts carry two more fields (semantic end of turn).
        self.meta_types = {m.name: {**m.meta, "early": bool, "complete": float} if m.events else m.meta
                           for m in mods}
        # Replay: every stream present is required and only watermarks close windows.
        required = self.streams if cfg.run.replay else f.require
        # Live, at real time, event times must be plausible on our own clock (replay and paced
        # files run ahead of it): a far-future stamp would otherwise open windows without end.
        self.check_time = not cfg.run.replay and cfg.run.speed == 1.0
        self.origin_ns = origin_ns
        self.aligner = Aligner(self.streams, required, int(f.window_s * 1e9), int(f.hop_s * 1e9),
                               origin_ns + int(start_s * 1e9),
                               None if cfg.run.replay else f.deadline_ms * 1_000_000,
                               f.stale_ms * 1_000_000, instants=tuple(self.events))
        self.turns = EarlyTurns(f.early_confidence, f.early_complete, f.addressed_threshold,
                                self.aligner.counts)

    def _implausible(self, m: Message, now_ns: int) -> str | None:
        if not self.check_time:
            return None
        if m.t_end > now_ns + FUTURE_NS or (m.watermark > now_ns + FUTURE_NS and m.watermark != EOS):
            return "future"
        if m.t_start < self.origin_ns - PAST_NS:
            return "past"
        return None

    def add(self, m: Message, now_ns: int) -> None:
        schema = self.schemas.get(m.stream)
        if schema is None:  # (a name a sender invents is not ours to keep: one counter for all)
            self.aligner.counts["other.unknown_stream"] += 1
            return
        if (why := self._implausible(m, now_ns)) is not None:
            self.aligner.counts[f"{m.stream}.{why}"] += 1
            return
        if m.topic == Topic.WATERMARK:
            self.aligner.advance(m.stream, m.watermark, data=False)
            return
        why = schema_problem(m, schema) or meta_problem(m, self.meta_types[m.stream])
        if why is not None:
            self.aligner.counts[f"{m.stream}.{why}"] += 1
            return
        if m.stream in self.events and m.meta.get("early"):
            self.turns.early(m.stream, m)  # in its own window only
            self.aligner.advance(m.stream, m.watermark, now_ns)
            self.aligner.trigger(m.t_end, now_ns, (m.stream, Item.of(m)))
            return
        if self.aligner.add(m) and m.stream in self.events and self.turns.final(m.stream, m):
            self.aligner.trigger(m.t_end, now_ns)

    def advance(self, stream: str, watermark: int) -> None:
        """An input's heartbeat watermark (checked like a message's)."""
        if self.check_time and watermark != EOS and watermark > wall_ns() + FUTURE_NS:
            self.aligner.counts[f"{stream}.future"] += 1
            return
        self.aligner.advance(stream, watermark, data=False)

    def predict(self, w: Window, published_ns: int | None) -> dict | None:
        """The window's prediction; None (counted) if the model's scores are not finite."""
        p = self.model.predict(w)
        p.end_ns = w.published_ns  # a late event's window: after the last prediction, not before
        for s in self.known:
            p.modalities.setdefault(s, "missing")
        if not (math.isfinite(p.confidence) and math.isfinite(p.addressed)):
            self.aligner.counts["fusion.nonfinite_prediction"] += 1
            return None
        if p.intent != NONE and self._nobody_there(w):
            self.aligner.counts["fusion.nobody_in_view"] += 1
            p.intent, p.confidence = NONE, round(1.0 - p.confidence, 4)
        if p.intent != NONE and not p.slots:
            p.slots = self.slots.fill(p.text, p.intent)
        latency = (published_ns - w.newest_capture_ns) / 1e6 \
            if (published_ns and w.newest_capture_ns) else 0.0
        pred = prediction_json(p, self.origin_ns, latency, w.event)
        if w.early is not None:
            return self.turns.window(w, pred)
        # (a final on the hop grid has no event window of its own)
        return pred if self.turns.checked(w, pred) else None

    def _nobody_there(self, w: Window) -> bool:
        """The window's newest words were spoken; the modalities that can tell (items over the
        whole utterance, up to its end: a lagging camera cannot) saw nobody while they were
        said, and none of them saw anyone (on ``fusion.presence_share`` of its items: a
        detector's odd false alarm in an empty room is not someone). Decided once per utterance,
        at its first window that can tell: later windows hold ever less of it, and a share of a
        few frames would flip their answers."""
        words = [it for s in self.events for it in w.items.get(s, [])]
        last = max(words, key=lambda it: it.t_end, default=None)
        if last is None or last.meta.get("source") != "asr":
            return False
        key = (last.t_start, last.t_end)
        if key in self.verdicts:
            return self.verdicts[key]
        nobody: bool | None = None  # None: nothing could tell (yet: a lagging camera catches up)
        for name, present in self.presence.items():
            seen = [it for it in w.items.get(name, [])
                    if last.t_start - SPEECH_MARGIN_NS <= it.t_end and it.t_start <= last.t_end]
            if not seen or max(it.t_end for it in seen) < last.t_end - SPEECH_MARGIN_NS:
                continue  # nothing over the utterance's end: it cannot tell
            n = sum(map(present, seen))
            nobody = not (n and n >= self.presence_share * len(seen))
            if not nobody:
                break
        if nobody is None:
            return False
        while len(self.verdicts) >= 64:  # (bounded: an utterance needs it for one window's span)
            del self.verdicts[next(iter(self.verdicts))]
        self.verdicts[key] = nobody
        return nobody

    def poll(self, now_ns: int) -> list[Window]:
        return self.aligner.poll(now_ns)

    @property
    def done(self) -> bool:
        a = self.aligner
        return bool(self.streams) and all(a.wm[s] >= EOS for s in self.streams) and not a.pending
