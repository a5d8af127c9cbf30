"""The feature cache: named parts per modality, raw data dropped, versioned; fusion-only replay."""

import json
from dataclasses import replace

import numpy as np
import pytest

from stream.config import Config, from_dict
from stream.core.message import EOS, Message
from stream.fusion.fuser import Fuser
from stream.session.features import FeatureRecorder, fusion_replay, has_features, load_messages
from tests.fakes import EchoIntentModel, HashingTextEmbedder

pytestmark = pytest.mark.unit
S, ORIGIN = 1_000_000_000, 7 * 1_000_000_000  # times in the run are on the monotonic clock (origin ORIGIN)


def messages() -> list[Message]:
    audio = [Message("audio", i, ORIGIN + i * S // 10, ORIGIN + (i + 1) * S // 10, ORIGIN + (i + 1) * S // 10,
                     {"pcm": np.ones(1536, np.float32), "logmel": np.full((10, 64), i, np.float32),
                      "embedding": np.full(128, i, np.float32)}, {"vad": 0.25 * (i % 4)}, topic="audio")
             for i in range(30)]
    emb = HashingTextEmbedder()(["turn on the lights"])[0]
    t = ORIGIN + int(1.3 * S)
    text = [Message("text", 0, t, t, t, {"embedding": emb},
                    {"text": "turn on the lights", "source": "typed", "extra": 1}, topic="text")]
    return audio + text


def record(tmp_path) -> None:
    rec = FeatureRecorder(tmp_path, ORIGIN, Config(), ["audio", "text"])
    for m in messages():
        rec.add(m)
    rec.write()


def test_the_cache_keeps_named_parts_and_declared_meta_and_drops_raw_audio(tmp_path):
    record(tmp_path)
    assert has_features(tmp_path)
    msgs = load_messages(tmp_path)
    a, t = msgs["audio"], msgs["text"]
    assert set(msgs) == {"audio", "text"} and len(a) == 30 and len(t) == 1
    assert set(a[3].parts) == {"logmel", "embedding"}  # no pcm: only the ASR needs it
    assert a[3].t_start == 3 * S // 10 and a[3].meta == {"vad": 0.75}  # origin 0, declared meta only
    assert t[0].meta == {"text": "turn on the lights", "source": "typed"}
    np.testing.assert_array_equal(a[5].parts["embedding"], np.full(128, 5, np.float32))


def test_two_runs_encoding_one_session_at_once_leave_one_whole_cache(tmp_path, monkeypatch):
    import stream.session.features as features

    a, b = (FeatureRecorder(tmp_path, ORIGIN, Config(), ["audio", "text"]) for _ in range(2))
    for m in messages():
        a.add(m)
        b.add(m)
    pid = [1]  # the process each writer runs in
    monkeypatch.setattr(features.os, "getpid", lambda: pid[0])
    write_stream = FeatureRecorder._write_stream

    def interrupted(self, *args):  # the other run writes its whole cache while this one is half way
        write_stream(self, *args)
        if self is a and pid[0] == 1:
            pid[0] = 2
            b.write()
            pid[0] = 1

    monkeypatch.setattr(FeatureRecorder, "_write_stream", interrupted)
    a.write()  # the two once shared one folder, emptied under the first writer
    assert has_features(tmp_path) and len(load_messages(tmp_path)["audio"]) == 30
    assert [p.name for p in tmp_path.iterdir()] == ["features"]


def test_a_message_that_promises_the_end_of_its_stream_is_cached_as_such_whatever_the_origin(tmp_path):
    # A worker stamps its turn's watermark on the turn's last message: the last typed line of a
    # script carries EOS. Stored origin-relative, it read EOS - origin, another value each run.
    emb = HashingTextEmbedder()(["pause"])[0]
    got = []
    for origin in (ORIGIN, 2 * ORIGIN):
        rec = FeatureRecorder(tmp_path / str(origin), origin, Config(), ["text"])
        rec.add(Message("text", 0, origin + S, origin + S, EOS, {"embedding": emb},
                        {"text": "pause", "source": "typed"}, topic="text"))
        rec.write()
        got.append(load_messages(tmp_path / str(origin))["text"][0].watermark)
    assert got == [EOS, EOS]


def test_a_stream_that_arrived_with_a_gap_leaves_no_cache_behind(tmp_path):
    """A worker restarted during the replay (its count starts again) or messages were lost:
    the cache would lack them, so none is written, and an older one is removed."""
    record(tmp_path)
    assert has_features(tmp_path)
    rec = FeatureRecorder(tmp_path, ORIGIN, Config(), ["audio", "text"])
    msgs = messages()
    for m in msgs[:10] + msgs[5:]:  # audio 0-9, then 5-29 again: a restarted audio worker
        rec.add(m)
    assert rec.write() == "1 gap(s), first audio/audio: message 5 where 10 was due"
    assert not (tmp_path / "features").exists() and not has_features(tmp_path)


def test_early_transcripts_count_in_the_sequence_but_stay_out_of_the_cache(tmp_path):
    rec = FeatureRecorder(tmp_path, ORIGIN, Config(), ["text"])
    t, emb = ORIGIN + S, HashingTextEmbedder()(["turn on"])[0]
    for seq, early in ((0, True), (1, False)):
        meta = {"text": "turn on", "source": "asr", **({"early": True} if early else {})}
        rec.add(Message("text", seq, t, t, t, {"embedding": emb}, meta, topic="text"))
    assert rec.write() is None
    assert len(load_messages(tmp_path)["text"]) == 1


def test_a_cache_from_other_encoders_is_ignored(tmp_path):
    record(tmp_path)
    meta = tmp_path / "features" / "meta.json"
    m = json.loads(meta.read_text())
    m["encoders"]["version"] = 1
    meta.write_text(json.dumps(m))
    assert not has_features(tmp_path)


def test_a_cache_made_with_other_recogniser_settings_is_not_this_configs(tmp_path):
    """Its transcripts came from another Whisper, window, pre-roll or prompt: not reusable."""
    record(tmp_path)
    assert has_features(tmp_path, Config())
    for asr in ({"model": "base"}, {"context_s": 15.0}, {"preroll_ms": 96}, {"prompt": "auto"},
                {"second_model": "tiny.en"}):
        assert not has_features(tmp_path, from_dict({"asr": asr})), asr
    assert has_features(tmp_path, from_dict({"asr": {"early": "off", "partial_every_ms": 500}}))


def test_a_cache_made_with_other_vad_resets_is_not_this_configs(tmp_path):
    """The VAD's state resets change where utterances begin: the audio and what was heard."""
    record(tmp_path)
    assert not has_features(tmp_path, from_dict({"audio": {"vad_reset_s": 0}}))
    assert not has_features(tmp_path, from_dict({"audio": {"vad_reset_s": 2.0}}))
    assert has_features(tmp_path, from_dict({"audio": {"vad_reset_s": 5.0}}))


def test_fusion_only_replay_equals_streaming_fusion_and_leaves_the_config_alone(tmp_path):
    record(tmp_path)
    cfg = Config()
    preds = fusion_replay(tmp_path, cfg, ["audio", "text"], EchoIntentModel())
    assert cfg.run.replay is False  # the caller's config is not changed
    replay = replace(cfg, run=replace(cfg.run, replay=True))
    fuser = Fuser(replay, ["audio", "text"], ORIGIN, EchoIntentModel())
    for m in messages():
        fuser.add(m, 0)
    for s in ("audio", "text"):
        fuser.advance(s, EOS)
    streamed = [fuser.predict(w, None) for w in fuser.poll(0)]
    assert preds == streamed and any(p["intent"] == "HassTurnOn" for p in preds)
