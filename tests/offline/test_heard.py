"""More recognised words for the text model: training sentences spoken in training voices and
recognised as the live path does (``stream.offline.heard``), read back by ``train-text --heard``."""

import json

import pytest

from stream.config import Config
from stream.errors import SessionError
from stream.intent import intent_set as hi
from stream.offline import corpus
from stream.offline.train_text import heard_examples


def _file(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.unit
def test_heard_lines_become_examples_of_the_intent_said(tmp_path):
    f = _file(tmp_path / "h.jsonl", [
        {"said": "add 5 minutes to the timer", "heard": "At 5 minutes to the timer.",
         "intent": "HassIncreaseTimer"},
        {"said": "I'm starving", "heard": "I'm starving!", "intent": "none"},
        {"said": "held out", "heard": "Held out.", "intent": "HassTurnOn"},
        {"said": "turn on the light", "heard": " ", "intent": "HassTurnOn"},  # nothing heard: no example
        "",  # a blank line is no utterance
    ])
    ex = heard_examples([f], held_out={"held out"})
    assert [(e.text, e.intent) for e in ex] == [("At 5 minutes to the timer.", "HassIncreaseTimer"),
                                               ("I'm starving!", "none")]


@pytest.mark.unit
@pytest.mark.parametrize("line, why", [
    ("{not json", "h.jsonl:2: bad JSON"),
    (json.dumps({"said": "x", "heard": "x", "intent": "HassFlyToMoon"}), "h.jsonl:2: needs"),
    (json.dumps({"said": "x", "intent": "HassTurnOn"}), "h.jsonl:2: needs"),
    (json.dumps(["a list"]), "h.jsonl:2: needs"),
])
def test_a_bad_line_is_one_error_naming_the_file_and_line(tmp_path, line, why):
    f = _file(tmp_path / "h.jsonl", [{"said": "a", "heard": "A.", "intent": "HassTurnOn"}, line])
    with pytest.raises(SessionError, match=why):
        heard_examples([f])
    with pytest.raises(SessionError, match="missing.jsonl: unreadable"):
        heard_examples([tmp_path / "missing.jsonl"])


@pytest.mark.integration
def test_training_sentences_spoken_and_recognised_with_the_real_models():
    from stream.offline.heard import utterances

    rows = list(utterances(3, seed=5, cfg=Config()))
    train = {e.text for e in corpus.splits(0)["train"].commands} | set(corpus.splits(0)["train"].talk)
    voices = set(corpus.VOICES["natural"]["train"] + corpus.VOICES["robotic"]["train"])
    assert rows and all(r["said"] in train and r["voice"] in voices for r in rows)
    assert all(r["intent"] in hi.names() and r["heard"].strip() for r in rows)
    # Deterministic: the same seed says and hears the same.
    assert list(utterances(3, seed=5, cfg=Config())) == rows
