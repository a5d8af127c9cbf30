"""The text classifier learns the recogniser's words: transcripts in a session's feature cache,
labelled with the intent of what was said."""

import numpy as np
import pytest

from stream.config import Config
from stream.core.message import EOS, Message
from stream.errors import SessionError
from stream.offline.train_text import examples, transcript_examples, whispered
from stream.session.features import FeatureRecorder
from stream.session.records import SPEECH_FILE, write_speech

pytestmark = pytest.mark.unit
S = 1_000_000_000


def _session(root, heard: list[tuple[float, float, str]], said: list[dict]):
    root.mkdir()
    rec = FeatureRecorder(root, 0, Config(), ["text"])
    for i, (t0, t1, text) in enumerate(heard):
        rec.add(Message("text", i, int(t0 * S), int(t1 * S), int(t1 * S),
                        {"embedding": np.zeros(384, np.float32)}, {"text": text, "source": "asr"}, {},
                        topic="text"))
    rec.add(Message("text", len(heard), 0, 0, EOS, {"embedding": np.zeros(384, np.float32)},
                    {"text": "typed line", "source": "typed"}, {}, topic="text"))
    rec.write()
    write_speech(root / SPEECH_FILE, said)
    return root


def test_each_transcript_takes_the_intent_of_the_utterance_it_overlaps(tmp_path):
    root = _session(tmp_path / "s", [(1.0, 2.9, "Turn on the kitten lights."), (5.2, 7.0, "I'm starving."),
                                     (10.0, 11.0, "you")],
                    [{"start": 1.1, "end": 3.0, "text": "turn on the kitchen lights", "intent": "HassTurnOn",
                      "kind": "command_tv"},
                     {"start": 5.0, "end": 6.8, "text": "I'm starving", "intent": "none",
                      "kind": "smalltalk_facing"}])
    ex = transcript_examples([root])
    # A command said with nobody in view is still that command to the text model; a
    # transcript over no utterance (noise heard as "you") and typed lines are left out.
    assert [(e.text, e.intent) for e in ex] == [("Turn on the kitten lights.", "HassTurnOn"),
                                                ("I'm starving.", "none")]


def test_a_session_without_a_cache_is_one_line(tmp_path):
    (tmp_path / "s").mkdir()
    with pytest.raises(SessionError, match="needs up-to-date cached features"):
        transcript_examples([tmp_path / "s"])


def test_sentences_are_also_written_as_the_recogniser_writes_them():
    assert whispered("what time is it") == "What time is it?"
    assert whispered("turn on the kitchen lights") == "Turn on the kitchen lights."


def test_whatever_the_seed_the_held_out_templates_are_the_corpus_test_splits():
    """A model trained with another seed must not learn the corpus's test templates (with the
    split drawn from the training seed, a seed-1 model learnt 138 of its 178)."""
    from stream.offline.corpus import splits

    test_split = splits(0, Config().home)["test"]
    corpus_test = {e.template for e in test_split.commands} | set(test_split.talk)
    for seed in (0, 1):
        train, held = examples(seed)
        assert {e.template for e in held if e.intent != "none"} == \
            {e.template for e in test_split.commands}
        assert {e.text for e in held if e.intent == "none"} == set(test_split.talk)
        assert not {e.template for e in train} & corpus_test
        assert not {e.text for e in train} & set(test_split.talk)
