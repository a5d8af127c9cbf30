"""Every stage in-process with run_stage (no sockets, no processes), the heavy models faked."""

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stream.config import Config
from stream.core.message import EOS, Message
from stream.encoders.asr import StreamingAsr
from stream.process.stage import RunOptions, eos, run_stage
from stream.stages.asr import AsrStage
from stream.stages.audio import AudioStage
from stream.stages.fusion import FusionStage
from stream.stages.text import TextStage
from tests.fakes import EchoIntentModel, FakeAudioEncoder, HashingTextEmbedder, ScriptedWhisper

pytestmark = pytest.mark.unit
S, SR, CHUNK = 1_000_000_000, 16000, 1536


def replay_cfg() -> Config:
    cfg = Config()
    cfg.run.replay, cfg.run.speed = True, 0.0
    return cfg


def tone_wav(path: Path, spans: list[tuple[float, float]], total: float) -> Path:
    """Silence with a loud tone over each (start, end) span: speech, for the fake VAD."""
    x = np.zeros(int(total * SR), np.float32)
    for k, (a, b) in enumerate(spans):  # a different tone each: utterances sound different
        t = np.arange(int(a * SR), int(b * SR))
        x[t] = 0.3 * np.sin(2 * np.pi * (220 + 70 * k) * t / SR)
    sf.write(path, x, SR)
    return path


def audio_messages(wav: Path) -> list[Message]:
    outs = run_stage(AudioStage(FakeAudioEncoder()), cfg=replay_cfg(),
                     options=RunOptions(sources={"audio": str(wav)}))
    return [Message("audio", i, o.t_start, o.t_end, o.watermark, o.parts, o.meta, o.stages, topic="audio")
            for i, o in enumerate(outs)]


def test_audio_stage_reads_a_file_in_whole_chunks_with_times_and_vad(tmp_path):
    msgs = audio_messages(tone_wav(tmp_path / "a.wav", [(0.5, 1.2)], 2.0))
    assert len(msgs) == int(np.ceil(2.0 * SR / CHUNK))
    assert [m.t_start for m in msgs] == [int(i * CHUNK * S / SR) for i in range(len(msgs))]
    assert all(m.parts["pcm"].shape == (CHUNK,) and m.watermark == m.t_end for m in msgs)
    speech = [m.t_start / S for m in msgs if m.meta["vad"] > 0.5]
    assert 0.4 <= speech[0] <= 0.6 and 1.0 <= speech[-1] <= 1.2


def test_asr_stage_segments_speech_and_finishes_at_end_of_stream(tmp_path):
    msgs = audio_messages(tone_wav(tmp_path / "a.wav", [(0.5, 1.3), (2.5, 3.0)], 3.4))
    stage = AsrStage(StreamingAsr(Config().asr, model=ScriptedWhisper(["turn on the lights", "pause"])))
    outs = run_stage(stage, [*msgs, eos("audio")])
    finals = [o for o in outs if o.meta["final"]]
    assert [f.meta["text"] for f in finals] == ["turn on the lights", "pause"]
    assert abs(finals[0].t_start / S - 0.5) < 0.2 and abs(finals[0].t_end / S - 1.3) < 0.2
    assert stage.done and stage.watermark == EOS
    # The second utterance ends with the stream: finish() flushed it.
    assert finals[1].t_end / S <= 3.0 + 0.1


def test_asr_stage_sends_the_audio_it_decoded_with_finals_only_for_a_second_opinion(tmp_path):
    """asr.second_model: the text worker decodes an unsure final again, so the final (and the
    early transcript) carry their audio; partials never, and nothing does when it is off."""
    msgs = audio_messages(tone_wav(tmp_path / "a.wav", [(0.5, 1.3)], 2.4))
    for second in ("", "base"):
        cfg = Config()
        cfg.asr.second_model = second
        stage = AsrStage(StreamingAsr(cfg.asr, model=ScriptedWhisper(["turn on the lights"])))
        outs = run_stage(stage, [*msgs, eos("audio")], cfg=cfg)
        sent = [o for o in outs if o.meta["final"] or o.meta["early"]]
        assert [o.meta["text"] for o in sent if o.meta["final"]] == ["turn on the lights"]
        if not second:
            assert not any(o.parts for o in outs)
            continue
        assert all(set(o.parts) == {"pcm"} for o in sent)
        assert not any(o.parts for o in outs if not (o.meta["final"] or o.meta["early"]))
        pcm = sent[-1].parts["pcm"]  # the utterance, its pre-roll and up to 200 ms after it
        assert pcm.dtype == np.float32 and 0.8 <= len(pcm) / SR <= 0.8 + 0.3 + 0.2 + 0.1


def test_partials_give_way_when_decoding_is_slow_and_finals_are_unchanged(tmp_path):
    """A busy machine (decodes slow): fewer partials, so they do not starve the final."""
    msgs = audio_messages(tone_wav(tmp_path / "a.wav", [(0.5, 5.0)], 5.6))
    got = {}
    for decode_s in (0.0, 0.5):
        whisper = ScriptedWhisper(["turn on the kitchen lights please"], decode_s=decode_s)
        outs = run_stage(AsrStage(StreamingAsr(Config().asr, model=whisper)), [*msgs, eos("audio")])
        got[decode_s] = ([o.meta["text"] for o in outs if o.meta["final"]],
                         sum(not o.meta["final"] and not o.meta["early"] for o in outs))
    (fast_final, fast_partials), (slow_final, slow_partials) = got[0.0], got[0.5]
    assert fast_final == slow_final == ["turn on the kitchen lights please"]
    # 4.5 s of speech: a partial each second when decodes are quick; every 1.25 s or more
    # (2.5 x the 0.5 s decode) when they are slow. One more when they are quick: the final,
    # decoded at the chunk where the voice stops (its last VAD frame is silent) and shown.
    assert fast_partials == 4 + 1 and slow_partials < fast_partials


def test_text_stage_orders_scripted_lines_behind_the_asr_watermark():
    opts = RunOptions(typed=[{"t": 2.0, "text": "pause the music"}], scripted=True)
    asr = [Message("asr", 0, S // 2, S, S // 2, meta={"text": "turn on the lights", "final": True},
                   topic="asr"),
           Message("asr", 1, 3 * S, 3 * S, EOS, topic="wm")]
    stage = TextStage(HashingTextEmbedder())
    outs = run_stage(stage, asr, cfg=replay_cfg(), options=opts, listens=["asr"])
    assert [(o.meta["text"], o.meta["source"]) for o in outs] == [
        ("turn on the lights", "asr"), ("pause the music", "typed")]
    assert outs[1].t_start == 2 * S and outs[0].parts["embedding"].shape == (384,)
    assert stage.done and stage.watermark == EOS


def test_text_stage_scores_early_transcripts_for_a_complete_turn_and_keeps_them_out_of_the_session(
        tmp_path):
    asr = [Message("asr", 0, S // 2, S, S // 2, meta={"text": "turn on the", "final": False,
                                                     "early": True}, topic="asr"),
           Message("asr", 1, S // 2, 2 * S, 2 * S, meta={"text": "turn on the lights", "final": True},
                   topic="asr"),
           Message("asr", 2, 3 * S, 3 * S, EOS, topic="wm")]
    seen = []

    def detector(e):
        seen.append(e.shape)
        return np.array([0.25], np.float32)

    stage = TextStage(HashingTextEmbedder(), detector)
    outs = run_stage(stage, asr, cfg=replay_cfg(), listens=["asr"],
                     options=RunOptions(scripted=True, record=str(tmp_path)))
    assert [(o.meta["text"], o.meta.get("early"), o.meta.get("complete")) for o in outs] == [
        ("turn on the", True, 0.25), ("turn on the lights", None, None)]
    assert seen == [(384,)]  # only the early one is scored
    lines = (tmp_path / "text.jsonl").read_text().splitlines()
    assert len(lines) == 1 and "turn on the lights" in lines[0]  # the session keeps what was said


@pytest.mark.parametrize("t", [1_100_000_000, 1_200_000_000])  # off the 200 ms grid, and on it
def test_fusion_stage_closes_windows_on_watermarks_and_ends_with_eos(t):
    emb = HashingTextEmbedder()(["turn on the lights"])[0]
    text = Message("text", 0, t, t, t, {"embedding": emb}, {"text": "turn on the lights", "source": "typed"},
                   {"capture": t}, topic="text")
    stage = FusionStage(EchoIntentModel())
    outs = run_stage(stage, [text, eos("text")], cfg=replay_cfg(), listens=["text"])
    preds, end = outs[:-1], outs[-1]
    assert end.meta == {"eos": True} and end.watermark == EOS
    assert [p.meta["t"] for p in preds] == sorted(p.meta["t"] for p in preds)
    fired = [p.meta for p in preds if p.meta["intent"] == "HassTurnOn"]
    # One answer, flagged as one: a window of its own, or the grid window ending there.
    assert fired and fired[0]["t"] == t / 1e9 and fired[0]["event"]
    assert [p.meta["t"] for p in preds].count(t / 1e9) == 1
    assert fired[0]["modalities"]["text"] == "ok" and fired[0]["modalities"]["video"] == "missing"


def test_fusion_drops_and_counts_messages_that_break_their_schema():
    def text(parts):
        return Message("text", 0, S, S, S, parts, {"text": "x"}, topic="text")

    nan = np.full(384, np.nan, np.float32)
    bad = [text({"embedding": np.zeros(3, np.float32)}), text({"embedding": nan}), text({}),
           text({"embedding": np.zeros(384, np.float64)}),
           text({"embedding": np.zeros(384, np.float32), "extra": np.zeros(1, np.float32)}),
           Message("smell", 0, S, S, S, topic="smell")]
    stage = FusionStage(EchoIntentModel())
    outs = run_stage(stage, [*bad, eos("text")], cfg=replay_cfg(), listens=["text"])
    assert {k: v for k, v in stage.ctx.stats.items() if v and "windows" not in k} == {
        "text.bad_shape": 2, "text.nonfinite": 1, "text.missing_part": 1, "text.unknown_part": 1,
        "other.unknown_stream": 1}
    assert not [o for o in outs if o.meta.get("text")]


def test_the_end_of_a_run_stops_sources_but_not_stages_with_a_backlog(tmp_path):
    """At max speed the ASR lags the audio: told to end, it must still decode what is queued."""
    wav = tone_wav(tmp_path / "a.wav", [(0.5, 1.0)], 1.5)
    audio = AudioStage(FakeAudioEncoder())
    run_stage(audio, cfg=replay_cfg(), options=RunOptions(sources={"audio": str(wav)}), end=False)
    audio.done = False
    audio.end()
    assert audio.done
    for stage in (AsrStage(StreamingAsr(Config().asr, model=ScriptedWhisper(["hi"]))),
                  FusionStage(EchoIntentModel())):
        stage.end()
        assert not stage.done, type(stage).__name__


def test_say_lines_are_validated_and_timed_by_the_receiver(tmp_path):
    import json as _json

    import zmq

    from stream.core.clock import now_ns
    from stream.process.stage import StageContext
    from stream.process.supervisor import send_say

    ep = f"ipc://{tmp_path / 'say'}"
    stage = TextStage(HashingTextEmbedder())
    stage.setup(StageContext(Config(), RunOptions(), endpoints={"say": ep}))
    stage.start(now_ns())
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.connect(ep)
    for raw in (b"not json", _json.dumps({"text": "x" * 5000}).encode(), _json.dumps([1]).encode(),
                _json.dumps({"text": 7}).encode(), b"y" * 100_000):
        push.send(raw)
    before = now_ns()
    assert send_say(ep, "turn on the lights")
    push.send(_json.dumps({"text": "pause the music", "t_ns": 2**64}).encode())  # a forged clock
    outs = []
    for _ in range(50):
        outs += stage.poll()
        if len(outs) == 2:
            break
        time.sleep(0.02)
    stage.close()
    push.close(0)
    assert [o.meta["text"] for o in outs] == ["turn on the lights", "pause the music"]
    assert all(before <= o.t_start <= now_ns() for o in outs)  # our clock, not the sender's
    assert stage.ctx.stats["invalid_say"] == 4  # the 100 kB one never reached us


def test_live_fusion_drops_items_stamped_far_from_its_own_clock():
    from stream.core.clock import now_ns
    from stream.fusion.fuser import Fuser

    cfg = Config()  # live, real time
    origin = now_ns()
    fuser = Fuser(cfg, ["text"], origin, EchoIntentModel())
    emb = {"embedding": np.zeros(384, np.float32)}
    hour = 3600 * S
    now = now_ns()
    for t, wm in ((now + hour, now), (now, now + hour), (origin - hour, origin - hour)):
        fuser.add(Message("text", 0, t, t, wm, emb, {"text": "x"}, topic="text"), now)
    fuser.advance("text", now + hour)  # a forged heartbeat
    fuser.add(Message("text", 1, now, now, now, emb, {"text": "ok"}, topic="text"), now)
    assert dict(fuser.aligner.counts) == {"text.future": 3, "text.past": 1}
    assert [it.meta["text"] for it in fuser.aligner.buf["text"]] == ["ok"]
    assert fuser.aligner.wm["text"] == now


# -- restarted workers --------------------------------------------------------------
def test_a_restarted_audio_stage_takes_over_after_what_was_published(tmp_path):
    """Max speed: after its predecessor's last watermark (no repeats); chunks keep their times."""
    wav = tone_wav(tmp_path / "a.wav", [(0.5, 1.2)], 2.0)
    whole = [o.t_start for o in run_stage(AudioStage(FakeAudioEncoder()), cfg=replay_cfg(),
                                          options=RunOptions(sources={"audio": str(wav)}))]
    resumed = [o.t_start for o in run_stage(AudioStage(FakeAudioEncoder()), cfg=replay_cfg(),
                                            options=RunOptions(sources={"audio": str(wav)},
                                                               resume_after_s=1.0))]
    assert resumed == [t for t in whole if t >= S]


def test_a_restarted_paced_stage_starts_at_the_present_not_at_zero(tmp_path):
    """Paced: what is already overdue is skipped, not burst through to catch up."""
    from stream.core.clock import now_ns

    cfg = Config()  # live pacing, speed 1
    wav = tone_wav(tmp_path / "a.wav", [(0.5, 1.2)], 3.0)
    origin = now_ns() - int(2.5 * S)  # the run started 2.5 s ago; the predecessor got to 1.0 s
    outs = run_stage(AudioStage(FakeAudioEncoder()), cfg=cfg, origin_ns=origin,
                     options=RunOptions(sources={"audio": str(wav)}, resume_after_s=1.0))
    assert outs and (outs[0].t_start - origin) / S >= 2.5 - CHUNK / SR
    starts = [o.t_start for o in outs]
    assert starts == sorted(set(starts))


def test_a_restarted_text_stage_does_not_type_its_predecessors_lines_again():
    opts = RunOptions(typed=[{"t": 1.0, "text": "turn on the lights"},
                             {"t": 2.0, "text": "pause the music"}], scripted=True, resume_after_s=1.5)
    outs = run_stage(TextStage(HashingTextEmbedder()), cfg=replay_cfg(), options=opts)
    assert [o.meta["text"] for o in outs] == ["pause the music"]


@pytest.mark.parametrize("t", [1.05, 1.0])  # off the hop grid, and on it
def test_two_scripted_lines_at_one_instant_are_each_answered_with_their_own_words(t):
    lines = ["turn on the kitchen light", "what time is it"]
    opts = RunOptions(typed=[{"t": t, "text": x} for x in lines], scripted=True)
    texts = run_stage(TextStage(HashingTextEmbedder()), [Message("asr", 0, 3 * S, 3 * S, EOS, topic="wm")],
                      cfg=replay_cfg(), options=opts, listens=["asr"])
    assert texts[0].t_end == round(t * S) and abs(texts[1].t_end - texts[0].t_end - 1_000_000) <= 1
    msgs = [Message("text", i, o.t_start, o.t_end, o.t_end, o.parts, o.meta, o.stages, topic="text")
            for i, o in enumerate(texts)]
    preds = run_stage(FusionStage(EchoIntentModel()), [*msgs, eos("text")], cfg=replay_cfg(),
                      listens=["text"])
    # (At one instant, one window held both: the last line was answered for each, or once.)
    assert [p.meta["text"] for p in preds[:-1] if p.meta["event"]] == lines


def test_a_long_typed_script_at_max_speed_comes_out_in_bounded_turns():
    """Every line is due at once; one turn embedding them all would starve the heartbeats
    (a 2,600-line session was restarted until given up)."""
    from stream.process.stage import StageContext
    from stream.stages.text import LINES_PER_TURN

    lines = [{"t": i * 0.5, "text": f"line {i}"} for i in range(5 * LINES_PER_TURN + 3)]
    stage = TextStage(HashingTextEmbedder())
    stage.setup(StageContext(replay_cfg(), RunOptions(typed=lines, scripted=True), inputs=[]))
    stage.start(0)
    turns = []
    while not stage.done:
        turns.append(stage.poll())
    assert max(len(t) for t in turns) == LINES_PER_TURN and len(turns) == 6
    assert [o.meta["text"] for t in turns for o in t] == [x["text"] for x in lines]
    assert stage.watermark == EOS
