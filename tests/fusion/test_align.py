"""Alignment on synthetic timelines: no processes, explicit clocks."""

import numpy as np
import pytest

from stream.core.message import Message
from stream.fusion.align import EOS, Aligner, Item

pytestmark = pytest.mark.unit

MS = 1_000_000
S = 1000 * MS


def msg(stream, t0, t1, wm=None, **meta):
    return Message(stream, 0, t0, t1, t1 if wm is None else wm, {"x": np.zeros(1, np.float32)}, meta,
                   {"capture": t1})


def make(deadline=None, required=("video", "audio", "text")):
    return Aligner(["video", "audio", "text"], list(required), window_ns=2 * S, hop_ns=200 * MS,
                   origin_ns=0, deadline_ns=deadline, stale_ns=500 * MS, instants=("text",))


def feed_video_audio(a, until_ms, now=0):
    for t in range(0, until_ms, 100):
        a.add(msg("video", t * MS, (t + 100) * MS), now=now)
        a.add(msg("audio", t * MS, (t + 100) * MS), now=now)


def test_replay_closes_only_on_watermarks():
    a = make(deadline=None)
    feed_video_audio(a, 1000)
    # Text has said nothing: no window may close, however late the wall clock is.
    assert a.poll(10**15) == []
    a.advance("text", 1000 * MS)
    ws = a.poll(10**15)
    assert [w.end_ns for w in ws] == [200 * MS, 400 * MS, 600 * MS, 800 * MS, 1000 * MS]
    assert all(w.status == {"video": "ok", "audio": "ok", "text": "ok"} for w in ws)
    # Window content is exactly the overlapping items.
    assert len(ws[-1].items["video"]) == 10


def test_out_of_order_message_is_counted_and_dropped():
    a = make()
    a.add(msg("video", 500 * MS, 600 * MS))
    assert not a.add(msg("video", 100 * MS, 200 * MS))
    assert a.counts["video.out_of_order"] == 1


def test_late_message_is_counted_but_kept_for_later_windows():
    a = make(deadline=300 * MS)
    feed_video_audio(a, 1000, now=0)
    for t in range(1000, 1600, 100):  # video goes quiet at 1.0 s
        a.add(msg("audio", t * MS, (t + 100) * MS), now=0)
    a.advance("text", 1600 * MS, now=0)
    a.poll(now_ns=1700 * MS)  # the deadline closes windows up to 1.4 s without video
    assert a.last_closed == 1400 * MS
    assert a.add(msg("video", 1000 * MS, 1100 * MS), now=0)
    assert a.counts["video.late"] == 1
    a.add(msg("video", 1100 * MS, 1600 * MS), now=0)
    ws = a.poll(now_ns=1700 * MS)
    assert any(it.t_start == 1000 * MS for it in ws[-1].items["video"])


def test_deadline_marks_a_silent_stream_missing_not_zero_filled():
    a = make(deadline=300 * MS)
    feed_video_audio(a, 1000, now=0)  # text never speaks
    ws = a.poll(now_ns=600 * MS)  # 0.2 and 0.3 past their deadline? only 0.2 (ends 200, +300=500)
    assert [w.end_ns for w in ws] == [200 * MS]
    assert ws[0].status["text"] == "missing"
    assert ws[0].items["text"] == []
    assert a.counts["text.missing_windows"] == 1


def test_lagging_but_alive_stream_is_stale():
    a = make(deadline=300 * MS)
    feed_video_audio(a, 1000, now=900 * MS)
    a.advance("text", 100 * MS, now=900 * MS)  # heard recently, but behind
    ws = a.poll(now_ns=1000 * MS)
    assert ws and ws[-1].status["text"] == "stale"


def test_event_window_answers_a_text_at_once():
    a = make(deadline=300 * MS)
    feed_video_audio(a, 1000, now=0)
    a.add(msg("text", 950 * MS, 950 * MS, wm=950 * MS, text="hi"), now=0)
    a.trigger(950 * MS, now_ns=1000 * MS)
    ws = a.poll(now_ns=1000 * MS)
    ev = [w for w in ws if w.event]
    assert len(ev) == 1 and ev[0].end_ns == 950 * MS
    assert ev[0].items["text"][0].meta["text"] == "hi"
    # Windows come out in time order.
    assert [w.end_ns for w in ws] == sorted(w.end_ns for w in ws)


@pytest.mark.parametrize("deadline,grid_pending", [(None, False), (300 * MS, False), (300 * MS, True)])
def test_a_text_on_the_hop_grid_is_answered_by_one_window_flagged_as_its_answer(deadline, grid_pending):
    """A replayed text.jsonl's "t": 1.0, or a final whose audio chunks meet the grid (every 2.4 s
    of 96 ms chunks): the grid window there is the text's answer, and says so."""
    a = make(deadline=deadline)
    feed_video_audio(a, 1200, now=0)
    now = 0
    if grid_pending and deadline:  # the grid window at 1.0 s is open, queued behind an event
        a.advance("text", 400 * MS, now=0)  # window whose text stream is behind
        now = 1300 * MS
        a.trigger(700 * MS, now_ns=now)
        a.poll(now_ns=now)
        assert [p.end_ns for p in a.pending] == [700 * MS, 800 * MS, 1000 * MS]
    a.add(msg("text", 1000 * MS, 1000 * MS, wm=1000 * MS, text="hi"), now=now)
    a.trigger(1000 * MS, now_ns=now)
    a.advance("text", 1200 * MS, now=now)
    ws = a.poll(now_ns=10**12)
    at = [w for w in ws if w.end_ns == 1000 * MS]
    assert len(at) == 1 and at[0].event and at[0].items["text"][0].meta["text"] == "hi"
    assert not any(w.event for w in ws if w.end_ns not in (700 * MS, 1000 * MS))


@pytest.mark.parametrize("deadline", [None, 300 * MS])
def test_a_text_at_the_sessions_origin_is_answered_and_not_late(deadline):
    """A text file's "t": 0 comes before any window has closed: nothing it belongs to is gone."""
    a = make(deadline=deadline)
    a.add(msg("text", 0, 0, wm=0, text="hi"), now=0)
    a.trigger(0, now_ns=0)
    feed_video_audio(a, 600, now=0)
    a.advance("text", 600 * MS, now=0)
    ws = a.poll(now_ns=10**12)
    answers = [w for w in ws if w.event]
    assert len(answers) == 1 and answers[0].items["text"][0].meta["text"] == "hi"
    assert a.counts["text.late"] == 0
    assert [w.end_ns for w in ws] == sorted(w.end_ns for w in ws)


def feed_lagging(a, t_from, t_to, now):
    for t in range(t_from, t_to, 50):
        a.add(msg("video", t * MS, (t + 50) * MS), now=now)
        a.add(msg("audio", t * MS, (t + 50) * MS), now=now)


def test_live_a_typed_lines_answer_never_comes_before_the_grid_windows_ahead_of_it():
    a = make(deadline=300 * MS)
    feed_lagging(a, 0, 1000, now=1000 * MS)
    a.advance("text", 1000 * MS, now=1000 * MS)
    out = a.poll(1000 * MS)
    # A line typed at 1.25 s while the camera's and microphone's features are 100 ms behind:
    # its window may close (within the slack); the 1.2 s grid window, not ready, is skipped
    # (the line's window holds what it would; it does not wait for it).
    feed_lagging(a, 1000, 1150, now=1250 * MS)
    a.add(msg("text", 1250 * MS, 1250 * MS, text="turn on the light", source="typed"), now=1250 * MS)
    a.trigger(1250 * MS, 1250 * MS)
    out += a.poll(1250 * MS)
    assert out[-1].end_ns == 1250 * MS and out[-1].event
    feed_lagging(a, 1150, 1400, now=1400 * MS)
    a.advance("text", 1400 * MS, now=1400 * MS)
    out += a.poll(1400 * MS)
    t = [w.published_ns for w in out]
    assert t == sorted(t) and len(set(t)) == len(t)  # (before: ... 1.0, 1.25, 1.2, 1.4 s)
    assert [x // MS for x in t][-3:] == [1000, 1250, 1400]


def test_live_an_early_answer_never_comes_before_the_grid_windows_ahead_of_it():
    a = make(deadline=300 * MS)
    feed_lagging(a, 0, 2000, now=2000 * MS)
    a.advance("text", 900 * MS, now=0)  # the utterance began at 0.9 s: text's watermark stays there
    early = Item.of(msg("text", 900 * MS, 1850 * MS, wm=900 * MS, text="turn on the lights"))
    a.trigger(1850 * MS, now_ns=2000 * MS, early=("text", early))  # decoded 150 ms after the pause
    out = a.poll(2000 * MS)
    a.add(msg("text", 900 * MS, 1850 * MS, text="turn on the lights"), now=2100 * MS)  # the final
    feed_lagging(a, 2000, 2100, now=2100 * MS)
    out += a.poll(2100 * MS)
    t = [w.published_ns for w in out]
    assert t == sorted(t) and 1850 * MS in t  # (before: ... 1.6, 1.85, 1.8, 2.0 s)


def test_an_early_transcript_is_answered_at_once_though_its_stream_waits_for_the_final():
    a = make(deadline=300 * MS)
    feed_video_audio(a, 2000, now=0)
    # Until the final, the text stream promises nothing past the utterance's onset (0.9 s).
    a.advance("text", 900 * MS, now=0)
    early = Item.of(msg("text", 900 * MS, 1800 * MS, wm=900 * MS, text="turn on the lights"))
    a.trigger(1800 * MS, now_ns=1900 * MS, early=("text", early))
    ws = a.poll(now_ns=1900 * MS)  # before the 50 ms event deadline
    ev = [w for w in ws if w.early is not None]
    assert len(ev) == 1 and ev[0].end_ns == 1800 * MS
    assert [it.meta["text"] for it in ev[0].items["text"]] == ["turn on the lights"]


def test_a_transcript_that_comes_seconds_late_is_still_answered_with_its_own_context():
    # A busy machine: the speech ended at 1.0 s, its transcript arrives at 4.5 s, when the
    # deadline has closed every window up to 4.2 s without it.
    a = make(deadline=300 * MS, required=("video", "audio"))
    feed_video_audio(a, 4500, now=0)
    before = a.poll(now_ns=4500 * MS)
    assert before and not any(w.items["text"] for w in before)
    a.add(msg("text", 400 * MS, 1000 * MS, wm=1000 * MS, text="turn on the lights"), now=4500 * MS)
    a.trigger(1000 * MS, now_ns=4500 * MS)
    late = [w for w in a.poll(now_ns=4600 * MS) if w.event]
    assert len(late) == 1
    w = late[0]
    # Its content is the 2 s up to the speech's end, as it would have been on time...
    assert (w.start_ns, w.end_ns) == (-1000 * MS, 1000 * MS)
    assert w.items["text"][0].meta["text"] == "turn on the lights"
    assert [it.t_start for it in w.items["video"]][-1] == 900 * MS
    # ...and it is published after the last window that closed: time never goes back.
    assert w.published_ns > before[-1].end_ns and a.last_closed == w.published_ns


def test_a_transcript_later_than_the_history_kept_is_not_answered():
    a = make(deadline=300 * MS, required=("video", "audio"))
    feed_video_audio(a, 14000, now=0)
    a.poll(now_ns=14000 * MS)
    a.add(msg("text", 400 * MS, 1000 * MS, wm=1000 * MS, text="too late"), now=14000 * MS)
    a.trigger(1000 * MS, now_ns=14000 * MS)
    assert not [w for w in a.poll(now_ns=14100 * MS) if w.event]
    assert a.counts["text.late"] == 1


def test_text_stays_in_windows_until_it_is_older_than_the_window():
    a = make()
    feed_video_audio(a, 4000)
    a.add(msg("text", 900 * MS, 1000 * MS, wm=1000 * MS))
    a.advance("text", 4000 * MS)
    ws = a.poll(10**15)
    with_text = [w.end_ns for w in ws if w.items["text"]]
    assert with_text[0] == 1000 * MS and with_text[-1] == 2800 * MS


def test_end_of_stream_drains_everything():
    a = make()
    feed_video_audio(a, 1000)
    for s in ("video", "audio", "text"):
        a.advance(s, EOS)
    ws = a.poll(0)
    assert ws[-1].end_ns == 1200 * MS  # up to the last data plus one hop
    assert not a.pending and a.ended


def test_same_input_any_arrival_timing_gives_same_windows():
    """Replay determinism: interleave the streams differently, get the same windows."""
    def run(order_seed):
        a = make()
        rng = np.random.default_rng(order_seed)
        items = [("video", t) for t in range(0, 3000, 66)] + [("audio", t) for t in range(0, 3000, 96)]
        by_stream = {"video": [], "audio": []}
        for s, t in items:
            by_stream[s].append(t)
        out = []
        iv, ia = 0, 0
        while iv < len(by_stream["video"]) or ia < len(by_stream["audio"]):
            pick_v = ia >= len(by_stream["audio"]) or (iv < len(by_stream["video"]) and rng.random() < 0.5)
            if pick_v:
                t = by_stream["video"][iv]
                a.add(msg("video", t * MS, (t + 66) * MS))
                iv += 1
            else:
                t = by_stream["audio"][ia]
                a.add(msg("audio", t * MS, (t + 96) * MS))
                ia += 1
            a.advance("text", min(a.wm["video"], a.wm["audio"]))
            out += a.poll(int(rng.integers(0, 10**12)))
        return [(w.end_ns, [(s, len(v)) for s, v in sorted(w.items.items())]) for w in out]

    assert run(1) == run(2) == run(3)
