"""The dashboard renders what it is fed, with each modality's own note from the registry."""

import pytest
from rich.console import Console

from stream.ui.dashboard import DashState

pytestmark = pytest.mark.unit


def test_dashboard_shows_prediction_transcript_health_and_counts():
    d = DashState("demo")
    d.prediction({"t": 3.6, "intent": "HassTurnOn", "confidence": 0.93, "addressed": 0.97,
                  "modalities": {"video": "ok", "audio": "stale", "text": "ok"},
                  "contributions": {"video": 0.4, "audio": 0.1, "text": 0.5},
                  "text": "turn on the kitchen lights",
                  "slots": {"area": "kitchen", "domain": "light"}})
    d.transcript("turn on the kit", final=False)
    d.health = {"video": {"gauges": {"fps": 14.8, "fps_target": 15.0, "face": True, "encode_ms": 12.0},
                          "stats": {"dropped": 3}},
                "audio": {"gauges": {"vad": 0.91}, "stats": {}, "restarts": 1},
                "fusion": {"gauges": {"latency_p50_ms": 41.0}, "stats": {"text.late": 2}}}
    con = Console(record=True, width=100, height=30)
    con.print(d.render())
    out = con.export_text()
    for needle in ("HassTurnOn area=kitchen domain=light", "confidence 0.93", "audio (stale)",
                   "…turn on the kit", "14.8 fps", "face yes", "vad 0.91", "latency 41.0/– ms", "text.late=2",
                   "turn on the kitchen lights"):
        assert needle in out, needle
    assert "shedding" not in out


def test_the_dashboard_says_when_base_gave_a_second_opinion_on_the_last_words():
    def shown(gauges: dict) -> str:
        d = DashState("live")
        d.health = {"text": {"gauges": gauges, "stats": {}}}
        con = Console(record=True, width=120, height=30)
        con.print(d.render())
        return con.export_text()

    words = {"last": "turn off the light", "second_ms": 212}
    assert "last: turn off the light (base asked: 212 ms)" in shown({**words, "second": True})
    out = shown({**words, "second": False})  # the last words were read surely: nothing asked
    assert "last: turn off the light" in out and "base asked" not in out


def test_the_dashboard_says_when_video_sheds_frames_and_why():
    d = DashState("live")
    d.health = {"video": {"gauges": {"fps": 4.2, "fps_target": 15.0, "face": True}, "stats": {}}}
    con = Console(record=True, width=160, height=30)
    con.print(d.render())
    assert "shedding: 4.2 of 15.0 fps (CPU busy; hearing first)" in con.export_text()
    # Every frame encoded, but its scene embedding often late: the frames keep their fresh cues.
    d.health = {"video": {"gauges": {"fps": 15.0, "fps_target": 15.0, "embed_fps": 9.5, "face": False},
                          "stats": {"embedding_late": 40}}}
    con = Console(record=True, width=160, height=30)
    con.print(d.render())
    out = con.export_text()
    assert "scene embedding 9.5 of 15.0 fps (CPU busy; late ones shed)" in out and "shedding:" not in out


def test_it_stays_readable_in_an_80x24_terminal():
    d = DashState("live")
    for i in range(60):  # 12 s of predictions, a command near the end
        d.prediction({"t": i * 0.2, "intent": "HassTurnOn" if i == 55 else "none", "confidence": 0.9,
                      "addressed": 0.9 if i > 50 else 0.1, "modalities": {"video": "ok", "audio": "ok"},
                      "text": "turn on the kitchen lights" if i == 55 else "",
                      **({"slots": {"area": "kitchen", "domain": "light"}} if i == 55 else {})})
    d.health = {n: {"state": "ok", "gauges": {}, "stats": {}} for n in ("video", "audio", "asr", "text",
                                                                      "fusion")}
    d.health["fusion"]["gauges"]["stages_ms"] = {
        "capture": [3.2, 9.8], "encode": [14.4, 21.0], "transport": [0.4, 1.1],
        "window": [120.3, 260.9], "fusion": [2.3, 3.1]}
    con = Console(record=True, width=80, height=24)
    con.print(d.render())
    lines = con.export_text().splitlines()
    assert len(lines) <= 24 and max(len(x) for x in lines) <= 80
    out = "\n".join(lines)
    for needle in ("turn on the kitchen lights (kitchen)", "addressed", "last 10 s", "fusion", "video",
                   "p50/p95 ms: cap 3.2/9.8 enc 14/21 net 0.4/1.1 wait 120/261 fuse 2.3/3.1"):
        assert needle in out, needle


def test_an_early_answer_is_marked_as_such():
    d = DashState("live")
    d.prediction({"t": 2.1, "intent": "HassTurnOn", "confidence": 0.95, "addressed": 0.9,
                  "modalities": {}, "text": "turn on the lights", "event": True, "early": True})
    con = Console(record=True, width=100, height=30)
    con.print(d.render())
    out = con.export_text()
    assert "early" in out.splitlines()[1] and "HassTurnOn (early)" in out


def test_a_remote_worker_shows_its_clock_offset_round_trip_and_uncertainty():
    d = DashState("live")
    d.health = {"video": {"gauges": {"fps": 15.0, "fps_target": 15.0, "face": True}, "stats": {},
                          "clock": {"offset_ms": 1800000.012, "rtt_ms": 10.41, "uncertainty_ms": 0.034,
                                    "drift_ppm": 3.1, "exchanges": 120}, "state": "ok"}}
    con = Console(record=True, width=160, height=30)
    con.print(d.render())
    assert "remote: offset +1800000.012 ms, rtt 10.41 ms, ±0.034 ms · face yes" in con.export_text()
