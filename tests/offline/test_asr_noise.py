"""The recogniser's word errors, learned from (said, heard) pairs and replayed on clean text."""

import random

import pytest

from stream.intent import intent_set as hi
from stream.offline import asr_noise
from stream.offline.asr_noise import Confusions, words
from stream.offline.train_text import noisy_examples

pytestmark = pytest.mark.unit

PAIRS = [("add 20 seconds to the timer", "at 20 seconds to the timer."),
         ("add five minutes to my timer", "Add five minutes to my timer"),
         ("deactivate the fan", "Deep to activate the fan"),
         ("turn off the lights", "Turn of the lights"),
         ("turn off the lamp", "Turn off the lamp.")]


def test_replaced_and_dropped_words_are_learned_with_what_was_heard_instead():
    c = Confusions.learn(PAIRS)
    assert c.heard_as[("add",)] == {("at",): 1}
    assert c.heard_as[("deactivate",)] == {("deep", "to", "activate"): 1}
    assert c.heard_as[("off",)] == {("of",): 1}
    assert ("turn",) not in c.heard_as and ("lights",) not in c.heard_as  # always heard right
    assert words("Add 20-second timers!") == ["add", "20", "second", "timers"]


def test_noisy_copies_make_the_learned_errors_at_their_rate_and_leave_other_words_alone():
    c = Confusions.learn(PAIRS)
    rng = random.Random(0)
    copies = [c.noisy("add ten minutes and turn off the lights", rng) for _ in range(400)]
    for w in (x.split() for x in copies):
        assert w[0] in ("add", "at") and w[5] in ("off", "of")
        assert w[1:5] == ["ten", "minutes", "and", "turn"] and w[6:] == ["the", "lights"]
    said_add = sum(x.startswith("at ") for x in copies) / len(copies)
    said_of = sum(" of " in x for x in copies) / len(copies)
    assert 0.4 < said_add < 0.6 and 0.4 < said_of < 0.6  # misheard once in the two times said
    again = random.Random(0)
    assert copies[:20] == [c.noisy("add ten minutes and turn off the lights", again) for _ in range(20)]


def test_every_training_sentence_gets_its_noisy_copies_with_its_own_intent(monkeypatch):
    monkeypatch.setattr(asr_noise, "said_and_heard", lambda sessions, cfg, log: PAIRS)
    train = [hi.Example("turn off the kitchen light", "HassTurnOff", "off/1"),
             hi.Example("what time is it", "HassGetCurrentTime", "time/1")]
    out, n = noisy_examples(train, [], copies=50, seed=0, log=lambda *_: None)
    assert n == 3
    assert out and all(e.intent == "HassTurnOff" and e.template == "off/1" for e in out)  # nothing to change
    assert {e.text for e in out} == {"turn of the kitchen light"}  # in "what time is it"
