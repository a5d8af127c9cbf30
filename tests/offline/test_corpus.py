"""The corpus at tiny scale: a spoken session, its labels and the reference transcripts."""

import json
from pathlib import Path

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
    assert {u["voice"] for u in said} <= set(corpus.VOICES["natural"]["test"])  # held-out voices only
    sents = corpus.splits(0)["test"]
    known = {e.text for e in sents.commands} | set(sents.talk)
    assert all(u["text"] in known for u in said)
    # Every labelled spoken span is one of the utterances, to the millisecond.
    session = Session(out)
    spans = {(u["start"], u["end"]) for u in said}
    spoken_labels = [s for s in session.labels() if s["end"] - s["start"] != 0.5]  # typed: 0.5 s
    assert all((s["start"], s["end"]) in spans for s in spoken_labels)
    assert max(u["end"] for u in said) <= session.duration_s


def test_command_labels_carry_the_slots_their_sentence_names(tiny):
    out, _ = tiny
    by_text = {e.text: e for e in corpus.splits(0)["test"].commands}
    said = {(u["start"], u["end"]): u["text"] for u in read_speech(out / SPEECH_FILE)}
    labels = [s for s in Session(out).labels() if s["intent"] != "none" and (s["start"], s["end"]) in said]
    assert labels
    for s in labels:
        assert s.get("slots", {}) == dict(by_text[said[(s["start"], s["end"])]].slots)
    assert any(s.get("slots") for s in labels)


def test_no_speaker_is_in_two_splits_and_every_voice_is_installed():
    from stream.offline import voices

    for voice_set, by_split in corpus.VOICES.items():
        speakers = {split: {voices.voice(v).speaker for v in ids} for split, ids in by_split.items()}
        assert not speakers["train"] & (speakers["val"] | speakers["test"]), voice_set
        assert not speakers["val"] & speakers["test"], voice_set
        every = [v for ids in by_split.values() for v in ids]
        assert all(voices.voice(v).set == voice_set and voices.available(v) for v in every)


def test_a_room_rings_on_after_the_words_at_the_same_level():
    import numpy as np

    rng = np.random.default_rng(0)
    x = np.zeros(16000, np.float32)
    x[:8000] = np.sin(np.arange(8000) * 0.2) * 0.1
    y = corpus.room(x, 0.5, 0.4, rng)
    assert len(y) == len(x) + int(0.3 * 16000)
    assert abs(np.sqrt(np.mean(y ** 2)) / np.sqrt(np.mean(x ** 2)) - 1) < 1e-3
    assert np.abs(y[8000:8800]).mean() > 10 * np.abs(x[8000:8800]).mean() + 1e-4  # the tail rings
    assert corpus.room(x, 0.0, 0.4, rng) is x


def test_the_same_seed_builds_the_same_session(tiny, tmp_path):
    out, _ = tiny
    again = tmp_path / "again"
    corpus.build_session(again, "test", corpus.splits(0)["test"], n_episodes=8, seed=3)
    assert (again / SPEECH_FILE).read_text() == (out / SPEECH_FILE).read_text()
    assert (again / "labels.jsonl").read_text() == (out / "labels.jsonl").read_text()


def test_sessions_built_as_ray_tasks_are_the_sequential_ones(tmp_path):
    import hashlib

    from stream.app.batch import BatchOptions, run_batch

    sents = corpus.splits(0)["test"]

    def build(label: str, workers: int) -> list[dict[str, str]]:
        jobs = [(str(tmp_path / label / f"s{i}"), kind, "test", sents, n, 10 + i)
                for i, (kind, n) in enumerate([("natural", 4), ("robotic", 4), ("typed", 20)])]
        run_batch(corpus.build_one, jobs, ["s0", "s1", "s2"], BatchOptions(workers=workers))
        return [{str(p.relative_to(j[0])): hashlib.sha256(content(p)).hexdigest()
                 for p in sorted(Path(j[0]).rglob("*")) if p.is_file()} for j in jobs]

    def content(p: Path) -> bytes:
        """A file's bytes; a manifest's without when it was made and from which temporary file."""
        if p.name != "manifest.json":
            return p.read_bytes()
        m = json.loads(p.read_text())
        m.pop("created")
        for st in m["streams"].values():
            st.pop("source", None)
        return json.dumps(m, sort_keys=True).encode()

    seq, ray = build("seq", 1), build("ray", 2)
    assert [len(s) > 2 for s in seq] == [True] * 3, [sorted(s) for s in seq]
    for a, b in zip(seq, ray, strict=True):
        assert a == b, sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
