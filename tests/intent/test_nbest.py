"""Choosing among the recogniser's n best hypotheses (``asr.n_best``): the rule, the checks on
what a transcript message may carry, and the text stage using both."""

import math

import numpy as np
import pytest

from stream.config import Config, ConfigError, load
from stream.core.message import EOS, Message
from stream.intent.nbest import HypothesisChooser, parse_hypotheses
from stream.process.stage import RunOptions, run_stage
from stream.stages.text import TextStage
from tests.fakes import HashingTextEmbedder, ScriptedWhisper

pytestmark = pytest.mark.unit
S = 1_000_000_000
INTENTS = ["none", "HassTurnOn", "HassTurnOff"]


class KeywordPrior:
    """A text model that knows three sentences by their hashed embedding: sure of each."""

    in_dim, dim = 384, len(INTENTS)

    def __init__(self, known: dict[str, list[float]]) -> None:
        emb = HashingTextEmbedder()
        self.known = [(emb([t])[0], np.asarray(p, np.float32)) for t, p in known.items()]

    def __call__(self, e: np.ndarray, texts: list[str]) -> np.ndarray:
        assert len(texts) == len(np.atleast_2d(e))
        out = np.full((len(e), self.dim), 1 / self.dim, np.float32)  # unknown: it cannot place it
        for i, row in enumerate(np.atleast_2d(e)):
            for k, p in self.known:
                if np.allclose(row, k):
                    out[i] = p
        return out


PRIOR = KeywordPrior({"turn off the light": [0.02, 0.03, 0.95],
                      "did you see the game": [0.97, 0.02, 0.01]})


def choose(weight: float, hyps: list[tuple[str, float]]) -> str:
    texts = [h for h, _ in hyps]
    k = HypothesisChooser(PRIOR, weight)(texts, HashingTextEmbedder()(texts), [s for _, s in hyps])
    return hyps[k][0]


def test_the_intent_model_overrules_a_slightly_surer_recogniser():
    hyps = [("turn of the lie", -0.30), ("turn off the light", -0.45)]
    assert choose(0.0, hyps) == "turn of the lie"  # weight 0: Whisper's best, as without n-best
    assert choose(1.0, hyps) == "turn off the light"  # log 0.95 - 0.45 > log(1/3) - 0.30
    # ... but not a recogniser that is much surer of its first guess
    assert choose(1.0, [("turn of the lie", -0.05), ("turn off the light", -1.40)]) == "turn of the lie"


def test_a_sentence_clearly_for_nobody_wins_as_well_choosing_never_leans_toward_firing():
    hyps = [("did you sea the gain", -0.30), ("did you see the game", -0.50)]
    assert choose(1.0, hyps) == "did you see the game"


@pytest.mark.parametrize("bad", [
    None, "turn on", [],  # not a list of at least one
    [["turn on", -0.1]] * 9,  # more than asr.n_best allows
    [["turn on", -0.1], ["", -0.2]], [["turn on", -0.1], [3, -0.2]], [["turn on", -0.1], ["x" * 1001, -0.2]],
    [["turn on", -0.1], ["turn off", math.nan]], [["turn on", -0.1], ["turn off", True]],
    [["turn on", -0.1], ["turn off", "-0.2"]], [["turn on", -0.1], ["turn off"]],
])
def test_malformed_hypotheses_are_refused(bad):
    assert parse_hypotheses(bad) is None


def test_well_formed_hypotheses_are_read():
    assert parse_hypotheses([["turn on", -0.1], ("turn of", -1)]) == [("turn on", -0.1), ("turn of", -1.0)]


def test_the_setting_is_checked_and_names_the_field():
    assert Config().asr.n_best == 5 and load("live", {"asr": {"n_best": 1}}).asr.n_best == 1
    with pytest.raises(ConfigError, match="'asr.n_best' must be 1-8"):
        load("live", {"asr": {"n_best": 9}})
    with pytest.raises(ConfigError, match="'asr.n_best_weight' must be >= 0"):
        load("live", {"asr": {"n_best_weight": -1}})
    with pytest.raises(ConfigError, match="'asr.early_n_best' must be 0-8"):
        load("live", {"asr": {"early_n_best": 9}})


def _asr(i: int, t0: int, t1: int, text: str, hyps, **meta) -> Message:
    extra = {"hypotheses": hyps} if hyps is not None else {}
    return Message("asr", i, t0, t1, t1, meta={"text": text, "final": True, **extra, **meta}, topic="asr")


def test_the_text_stage_keeps_the_chosen_hypothesis_and_says_what_was_heard(tmp_path):
    cfg = Config()
    cfg.run.replay, cfg.run.speed = True, 0.0
    msgs = [
        _asr(0, S, 2 * S, "turn of the lie", [["turn of the lie", -0.3], ["turn off the light", -0.45]],
             final=False, early=True),
        _asr(1, S, 2 * S, "turn of the lie", [["turn of the lie", -0.3], ["turn off the light", -0.45]]),
        _asr(2, 3 * S, 4 * S, "lights on", [["lights on", -0.1], [7, -0.2]]),  # malformed: its text
        Message("asr", 3, 5 * S, 5 * S, EOS, topic="wm"),
    ]
    stage = TextStage(HashingTextEmbedder(), detector=lambda e: np.array([0.9], np.float32),
                      chooser=HypothesisChooser(PRIOR, 1.0))
    outs = run_stage(stage, msgs, cfg=cfg, listens=["asr"],
                     options=RunOptions(scripted=True, record=str(tmp_path)))
    assert [(o.meta["text"], o.meta.get("heard"), o.meta.get("early")) for o in outs] == [
        ("turn off the light", "turn of the lie", True),
        ("turn off the light", "turn of the lie", None),  # the final reuses the early choice
        ("lights on", None, None)]
    assert np.allclose(outs[1].parts["embedding"], HashingTextEmbedder()(["turn off the light"])[0])
    assert stage.ctx.stats["nbest_other"] == 1 and stage.ctx.stats["invalid_hypotheses"] == 1
    assert "turn off the light" in (tmp_path / "text.jsonl").read_text()  # the session keeps it


def test_a_final_after_a_greedy_early_transcript_with_the_same_words_is_still_chosen(tmp_path):
    """The early transcript is decoded greedily (asr.early_n_best = 1): its words match the
    final's first hypothesis, but the final's n-best still goes to the chooser."""
    cfg = Config()
    cfg.run.replay, cfg.run.speed = True, 0.0
    msgs = [
        _asr(0, S, 2 * S, "turn of the lie", None, final=False, early=True),
        _asr(1, S, 2 * S, "turn of the lie", [["turn of the lie", -0.3], ["turn off the light", -0.45]]),
        Message("asr", 2, 5 * S, 5 * S, EOS, topic="wm"),
    ]
    stage = TextStage(HashingTextEmbedder(), detector=lambda e: np.array([0.9], np.float32),
                      chooser=HypothesisChooser(PRIOR, 1.0))
    outs = run_stage(stage, msgs, cfg=cfg, listens=["asr"], options=RunOptions(scripted=True))
    assert [(o.meta["text"], o.meta.get("early")) for o in outs] == [
        ("turn of the lie", True), ("turn off the light", None)]


def test_a_second_opinion_is_asked_only_where_the_text_model_is_unsure():
    chooser, emb, asked = HypothesisChooser(PRIOR, 1.0), HashingTextEmbedder(), []

    def second() -> list[tuple[str, float]]:
        asked.append(1)
        return [("turn off the light", -0.6)]

    # It cannot place "turn of the lie" (1/3 each): asked, and the second's sentence wins
    # (log 0.95 - 0.6 > log 1/3 - 0.3).
    text, e, was = chooser.choose(emb, [("turn of the lie", -0.3)], second, below=0.9)
    assert (text, was, len(asked)) == ("turn off the light", True, 1)
    assert np.allclose(e, emb(["turn off the light"])[0])
    # Sure (0.97) that "did you see the game" is for nobody: not asked.
    assert chooser.choose(emb, [("did you see the game", -0.3)], second, below=0.9)[::2] == (
        "did you see the game", False)
    assert len(asked) == 1
    # Asked, but the second heard nothing: the first's choice stands.
    assert chooser.choose(emb, [("turn of the lie", -0.3)], list, below=0.9)[::2] == ("turn of the lie", True)


def _with_audio(m: Message, pcm: np.ndarray) -> Message:
    m.parts["pcm"] = pcm
    return m


def test_the_text_stage_asks_a_second_recogniser_about_the_audio_of_an_unsure_final(tmp_path):
    """asr.second_model: the ASR sends a final's audio; where the chooser is unsure of the first
    recogniser's hypotheses, the second decodes it and the better reading is kept. Audio that is
    not what the ASR sends is refused (counted), and the first recogniser's choice kept."""
    cfg = Config()
    cfg.run.replay, cfg.run.speed = True, 0.0
    t = np.arange(SR_ := 16000) / SR_
    tone = np.concatenate([0.3 * np.sin(2 * np.pi * 220 * t), np.zeros(SR_)]).astype(np.float32)
    msgs = [
        _with_audio(_asr(0, S, 2 * S, "turn of the lie", [["turn of the lie", -0.3]]), tone),
        _with_audio(_asr(1, 3 * S, 4 * S, "did you see the game", [["did you see the game", -0.3]]), tone),
        _with_audio(_asr(2, 5 * S, 6 * S, "turn of the lie", [["turn of the lie", -0.3]]),
                    tone.astype(np.float64)),  # not float32: refused
        _with_audio(_asr(3, 7 * S, 8 * S, "turn of the lie", [["turn of the lie", -0.3]]),
                    np.full(100, np.nan, np.float32)),  # not finite: refused
        Message("asr", 4, 9 * S, 9 * S, EOS, topic="wm"),
    ]
    whisper = ScriptedWhisper(["turn off the light"])
    stage = TextStage(HashingTextEmbedder(), detector=lambda e: np.array([0.9], np.float32),
                      chooser=HypothesisChooser(PRIOR, 1.0), second=whisper)
    outs = run_stage(stage, msgs, cfg=cfg, listens=["asr"], options=RunOptions(scripted=True))
    assert [(o.meta["text"], o.meta.get("heard")) for o in outs] == [
        ("turn off the light", "turn of the lie"), ("did you see the game", None),
        ("turn of the lie", None), ("turn of the lie", None)]
    assert whisper.calls == 1 and stage.ctx.stats["second_opinion"] == 1
    assert stage.ctx.stats["invalid_audio"] == 2 and stage.ctx.gauges["second_ms"] >= 0
    assert stage.ctx.gauges["second"] is False  # the last one was not asked (the dashboard's note)


def test_the_second_opinion_setting_is_checked_and_names_the_field():
    assert Config().asr.second_model == "base"
    assert load("live", {"asr": {"second_model": ""}}).asr.second_model == ""  # off
    with pytest.raises(ConfigError, match="'asr.second_below' must be 0-1"):
        load("live", {"asr": {"second_model": "base", "second_below": 1.5}})


def test_the_second_opinion_is_never_the_first_recogniser_again():
    from stream.encoders.asr import second_name

    cfg = Config()
    assert second_name(cfg.asr, "cpu") == "base"  # tiny.en first on the CPU
    assert second_name(cfg.asr, "cuda") == ""  # base first on CUDA: nobody to ask
    cfg.asr.model = "base"
    assert second_name(cfg.asr, "cpu") == ""
    assert second_name(load("live", {"asr": {"n_best": 1}}).asr, "cpu") == ""  # nothing chooses
