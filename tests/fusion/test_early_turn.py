"""Semantic end of turn: an early transcript (decoded at the first pause) answered when the
intent model is sure, the final confirming or contradicting it (counted)."""

import numpy as np
import pytest

from stream.config import Config
from stream.core.message import Message
from stream.encoders.asr import StreamingAsr
from stream.encoders.audio import SR
from stream.process.stage import eos, run_stage
from stream.stages.asr import AsrStage
from stream.stages.fusion import FusionStage
from tests.fakes import EchoIntentModel, HashingTextEmbedder, ScriptedWhisper
from tests.stages.test_stages import audio_messages, replay_cfg, tone_wav

pytestmark = pytest.mark.unit
S = 1_000_000_000
EMB = HashingTextEmbedder()


def asr_outputs(tmp_path, spans, early: str, live: bool = False):
    msgs = audio_messages(tone_wav(tmp_path / "a.wav", spans, 3.0))
    cfg = Config().asr
    cfg.early = early
    asr = StreamingAsr(cfg, model=ScriptedWhisper(["turn on the kitchen lights"]), live=live)
    return run_stage(AsrStage(asr), [*msgs, eos("audio")])


def test_the_transcript_of_each_first_pause_comes_early_and_the_final_still_ends_the_turn(tmp_path):
    # One turn with a 200 ms pause inside (under the 300 ms end-of-turn silence).
    outs = asr_outputs(tmp_path, [(0.5, 1.3), (1.5, 2.2)], "always")
    early = [o for o in outs if o.meta["early"]]
    finals = [o for o in outs if o.meta["final"]]
    assert [o.meta["text"] for o in finals] == ["turn on the kitchen lights"]
    assert len(early) == 2 and not any(o.meta["final"] for o in early)  # one at each pause
    assert all(o.t_start == finals[0].t_start for o in early)  # the same utterance (its onset)
    assert early[0].t_end < early[1].t_end == finals[0].t_end  # the last pause was the end
    assert outs.index(early[1]) < outs.index(finals[0])  # before the silence timer ran out


def test_early_transcripts_are_live_only_unless_asked(tmp_path):
    spans = [(0.5, 1.3)]
    assert not [o for o in asr_outputs(tmp_path, spans, "live") if o.meta["early"]]  # a replay
    assert [o for o in asr_outputs(tmp_path, spans, "live", live=True) if o.meta["early"]]
    assert not [o for o in asr_outputs(tmp_path, spans, "off", live=True) if o.meta["early"]]


class HeardWhisper(ScriptedWhisper):
    """The scripted recogniser, keeping the audio of each decode."""

    def __init__(self, script: list[str]) -> None:
        super().__init__(script)
        self.heard: list[np.ndarray] = []

    def transcribe(self, audio: np.ndarray, **kw):
        self.heard.append(audio.copy())
        return super().transcribe(audio, **kw)


def speculated(tmp_path, spans, tails: bool = True, early: str = "live", early_n_best: int = 1):
    """The ASR stage live over tone ``spans`` (1 s apart at most); ``tails``: the audio
    messages carry their last VAD frame (``vad_tail``), as the audio worker's do."""
    msgs = audio_messages(tone_wav(tmp_path / "a.wav", spans, 3.0))
    if not tails:
        for m in msgs:
            del m.meta["vad_tail"]
    cfg = Config().asr
    cfg.early, cfg.early_n_best = early, early_n_best
    whisper = HeardWhisper(["turn on the kitchen lights"])
    outs = run_stage(AsrStage(StreamingAsr(cfg, model=whisper, live=True)), [*msgs, eos("audio")])
    return outs, whisper


def test_the_pause_is_decoded_at_the_chunk_where_the_voice_stops_and_sent_one_chunk_on(tmp_path):
    # The voice stops 52 ms into the chunk [1.248, 1.344): its last VAD frame is silent.
    outs, whisper = speculated(tmp_path, [(0.5, 1.3)])
    *_, partial, early, final = outs  # (a partial each second before)
    assert not partial.meta["final"] and not partial.meta["early"]  # shown while it might go on
    assert partial.meta["text"] == early.meta["text"] == final.meta["text"] == "turn on the kitchen lights"
    assert early.meta["early"] and final.meta["final"]
    assert partial.t_end == early.t_end == final.t_end == int(1.344 * S)
    # The next chunk was silent: the early transcript is that decode; the final, decoded after
    # it, also hears the silent chunk (the VAD calls a word's last sounds silence).
    assert whisper.calls == len(outs) - 1
    spec, heard = whisper.heard[-2:]
    assert len(spec) - len(heard) == int(0.2 * SR) - int(0.096 * SR)  # 200 ms of zeros vs 96 real


def test_a_speculative_decode_is_void_when_the_voice_goes_on(tmp_path):
    outs, _ = speculated(tmp_path, [(0.5, 1.3), (1.344, 2.0)])
    finals = [o for o in outs if o.meta["final"]]
    assert len(finals) == 1 and abs(finals[0].t_end / S - 2.0) < 0.1
    assert [o.t_end for o in outs if not o.meta["final"] and o.t_end == int(1.344 * S)]  # decoded,
    assert all(o.t_end > int(1.9 * S) for o in outs if o.meta["early"])  # shown, never sent early


def test_the_final_hears_the_same_whether_the_pause_was_decoded_sooner_or_not(tmp_path):
    spans = [(0.5, 1.3)]
    (_, sooner), (_, later) = speculated(tmp_path, spans), speculated(tmp_path, spans, tails=False)
    # The early transcript is a decode of its own (greedy: asr.early_n_best = 1), one chunk
    # sooner or at the pause (then of the final's audio); the final (n_best) comes after it.
    assert len(sooner.heard) == len(later.heard)
    assert np.array_equal(sooner.heard[-1], later.heard[-1])
    assert np.array_equal(later.heard[-2], later.heard[-1])


def test_an_early_transcript_with_the_finals_hypotheses_is_the_final(tmp_path):
    spans = [(0.5, 1.3)]
    assert Config().asr.early_n_best == 0  # the default: as many as the final (asr.n_best)
    (outs, same), (_, own) = (speculated(tmp_path, spans, tails=False, early_n_best=0),
                              speculated(tmp_path, spans, tails=False))
    early, final = (o for o in outs if o.meta["early"] or o.meta["final"])
    assert early.meta["text"] == final.meta["text"] == "turn on the kitchen lights"
    assert len(same.heard) == len(own.heard) - 1  # one decode at the pause, sent early as well


def test_a_replay_without_early_answers_never_decodes_sooner(tmp_path):
    spans = [(0.5, 1.3)]
    (a, sooner), (b, later) = (speculated(tmp_path, spans, early="off"),
                               speculated(tmp_path, spans, tails=False, early="off"))
    assert len(sooner.heard) == len(later.heard)
    assert [o.meta for o in a] == [o.meta for o in b]


def text(seq: int, t0: float, t1: float, words: str, early: bool = False,
         complete: float = 0.9) -> Message:
    meta = {"text": words, "source": "asr", **({"early": True, "complete": complete} if early else {})}
    a, b = int(t0 * S), int(t1 * S)
    return Message("text", seq, a, b, a if early else b, {"embedding": EMB([words])[0]}, meta,
                   {"capture": b}, topic="text")


def fuse(msgs: list[Message], confidence: float = 0.85):
    cfg = replay_cfg()
    cfg.fusion.early_confidence = confidence  # the echo model is 0.9 sure of everything
    stage = FusionStage(EchoIntentModel())
    outs = run_stage(stage, [*msgs, eos("text")], cfg=cfg, listens=["text"])
    events = [o.meta for o in outs[:-1] if o.meta["event"]]
    stats = {k.split(".")[1]: v for k, v in stage.ctx.stats.items() if "early" in k and v}
    return events, stats


@pytest.mark.parametrize("early_words", [
    "turn on the lights",
    # Decoded one chunk before the pause, it heard it otherwise than the final, but means the same.
    "turn on the light",
])
def test_a_sure_early_answer_stands_and_its_final_adds_no_second_answer(early_words):
    events, stats = fuse([text(0, 1.0, 2.05, early_words, early=True),
                          text(1, 1.0, 2.05, "turn on the lights")])
    assert [(e["t"], e["intent"], e.get("early")) for e in events] == [(2.05, "HassTurnOn", True)]
    assert stats == {"early_answered": 1, "early_confirmed": 1}


def test_an_unsure_early_transcript_waits_for_its_final():
    events, stats = fuse([text(0, 1.0, 2.05, "turn on the lights", early=True),
                          text(1, 1.0, 2.05, "turn on the lights")], confidence=0.95)
    assert [(e["t"], e["intent"], e.get("early")) for e in events] == [(2.05, "HassTurnOn", None)]
    assert stats == {"early_unsure": 1}
    events, stats = fuse([text(0, 1.0, 2.05, "what time is it", early=True),
                          text(1, 1.0, 2.05, "what time is it")])
    assert [(e["intent"], e.get("early")) for e in events] == [("none", None)]


def test_a_sure_command_that_is_not_a_whole_turn_waits_for_its_final():
    """'Set the 89 minute' is a confident timer, but the end-of-turn detector doubts it."""
    events, stats = fuse([text(0, 1.0, 2.05, "turn on the lights", early=True, complete=0.2),
                          text(1, 1.0, 2.05, "turn on the lights")])
    assert [(e["intent"], e.get("early")) for e in events] == [("HassTurnOn", None)]
    assert stats == {"early_unsure": 1}


def test_a_final_with_other_words_is_answered_and_a_different_intent_counts_as_contradicted():
    # They paused after "turn on the lights" and went on: the final says something else.
    events, stats = fuse([text(0, 1.0, 2.05, "turn on the lights", early=True),
                          text(1, 1.0, 3.05, "never mind the lights")])
    assert [(e["t"], e["intent"], e.get("early")) for e in events] == [
        (2.05, "HassTurnOn", True), (3.05, "none", None)]
    assert stats == {"early_answered": 1, "early_contradicted": 1}
    events, stats = fuse([text(0, 1.0, 2.05, "turn on the lights", early=True),
                          text(1, 1.0, 3.05, "turn on the lights in the kitchen")])
    assert [e["intent"] for e in events] == ["HassTurnOn", "HassTurnOn"]
    assert stats == {"early_answered": 1, "early_upheld": 1}


def test_a_final_that_heard_the_pause_as_something_else_corrects_the_early_answer():
    events, stats = fuse([text(0, 1.0, 2.05, "turn on the light", early=True),
                          text(1, 1.0, 2.05, "tell me the light")])
    assert [(e["t"], e["intent"], e.get("early")) for e in events] == [
        (2.05, "HassTurnOn", True), (2.05, "none", None)]
    assert stats == {"early_answered": 1, "early_contradicted": 1}


def test_a_final_that_lost_a_word_of_the_pause_adds_no_second_answer_but_other_slots_do():
    # The final heard the same pause with less in it: the early answer stands alone, confirmed
    # (a second answer would turn on every light after the kitchen's).
    events, stats = fuse([text(0, 1.0, 2.05, "turn on the kitchen lights", early=True),
                          text(1, 1.0, 2.05, "turn on the lights")])
    assert [(e["intent"], e.get("slots"), e.get("early")) for e in events] == [
        ("HassTurnOn", {"area": "kitchen", "domain": "light"}, True)]
    assert stats == {"early_answered": 1, "early_confirmed": 1}
    # A slot valued otherwise, or one the early answer lacked: answered, counted contradicted.
    for early, final in (("turn on the kitchen lights", "turn on the bedroom lights"),
                         ("turn on the lights", "turn on the kitchen lights")):
        events, stats = fuse([text(0, 1.0, 2.05, early, early=True), text(1, 1.0, 2.05, final)])
        assert [(e["text"], e.get("early")) for e in events] == [(early, True), (final, None)]
        assert stats == {"early_answered": 1, "early_contradicted": 1}


def test_early_transcripts_stay_out_of_the_windows_that_follow():
    """Only the final is buffered: later windows see one transcript, not two."""
    cfg = replay_cfg()
    cfg.fusion.early_confidence = 0.85
    stage = FusionStage(EchoIntentModel())
    run_stage(stage, [text(0, 1.0, 2.05, "turn on the lights", early=True),
                      text(1, 1.0, 2.05, "turn on the lights")], cfg=cfg, listens=["text"])
    assert stage.fuser is not None
    assert [it.meta["text"] for it in stage.fuser.aligner.buf["text"]] == ["turn on the lights"]
    assert np.isfinite(stage.fuser.aligner.buf["text"][0].parts["embedding"]).all()


def test_a_turn_with_a_pause_inside_is_answered_at_each_pause_and_settled_by_its_final(tmp_path):
    """The real ASR stage's output for one turn with a pause inside: an early transcript at
    each pause (the last with the final's words), then the final; through the fusion stage."""
    outs = asr_outputs(tmp_path, [(0.5, 1.3), (1.5, 2.2)], "always")
    msgs = [text(i, o.t_start / S, o.t_end / S, o.meta["text"], early=o.meta["early"])
            for i, o in enumerate(outs) if o.meta["early"] or o.meta["final"]]
    assert [m.meta.get("early", False) for m in msgs] == [True, True, False]
    events, stats = fuse(msgs)
    # Each pause answered early (the echo model is sure); the final adds no third answer.
    assert [(e["intent"], e.get("early")) for e in events] == [("HassTurnOn", True)] * 2
    assert events[1]["t"] == round(msgs[2].t_end / S, 3)
    assert stats == {"early_answered": 2, "early_confirmed": 1, "early_upheld": 1}


def test_a_final_ending_on_the_hop_grid_still_settles_its_early_answers():
    """No event window opens for a final that ends where a grid window ends; that window answers."""
    events, stats = fuse([text(0, 1.0, 2.05, "turn on the lights", early=True),
                          text(1, 1.0, 3.0, "never mind the lights")])
    assert stats == {"early_answered": 1, "early_contradicted": 1}
