"""The corpus at tiny scale: a spoken session, its labels and the reference transcripts."""

import pytest

from stream.offline import corpus
from stream.session.format import Session
from stream.session.records import SPEECH_FILE, read_speech

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "spoken_00"
    info = corpus.build_session(out, "test", corpus.splits(0)["test"], n_episodes=8, seed=3)
    return out, info


def test_a_spoken_session_says_what_was_said_and_by_which_voice(tiny):
    out, info = tiny
    said = read_speech(out / SPEECH_FILE)
    spoken = sum(n for k, n in info["episodes"].items() if k.startswith(("command", "smalltalk")))
    assert spoken >= 2 and len(said) == spoken
    test_voices = {f"espeak-ng:{v}" for v in corpus.VOICES["test"]}
    assert {u["voice"] for u in said} <= test_voices  # held-out voices only
    sents = corpus.splits(0)["test"]
    known = {e.text for e in sents.commands} | set(sents.talk)
    assert all(u["text"] in known for u in said)
    # Every labelled spoken span is one of the utterances, to the millisecond.
    session = Session(out)
    spans = {(u["start"], u["end"]) for u in said}
    spoken_labels = [s for s in session.labels() if s["end"] - s["start"] != 0.5]  # typed: 0.5 s
    assert all((s["start"], s["end"]) in spans for s in spoken_labels)
    assert max(u["end"] for u in said) <= session.duration_s


def test_the_same_seed_builds_the_same_session(tiny, tmp_path):
    out, _ = tiny
    again = tmp_path / "again"
    corpus.build_session(again, "test", corpus.splits(0)["test"], n_episodes=8, seed=3)
    assert (again / SPEECH_FILE).read_text() == (out / SPEECH_FILE).read_text()
    assert (again / "labels.jsonl").read_text() == (out / "labels.jsonl").read_text()
