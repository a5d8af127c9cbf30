"""``bench --quick`` runs end to end, so the benchmark cannot silently break."""

import json

import pytest

from tests.e2e.test_e2e import launch

pytestmark = pytest.mark.e2e


def test_bench_quick_runs_and_reports_every_section():
    r = launch("bench", "--quick", "--json", timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert set(res) == {"machine", "transport", "encoders_ms", "pipeline", "loaded", "processes", "sessions"}
    for path in ("zmq", "mp_queue"):  # both transports, every size, latency and rate
        assert set(res["transport"][path]) == {"1KB", "100KB", "1MB"}
        assert all(v["n"] > 0 and v["msgs_per_s"] > 0 for v in res["transport"][path].values())
    assert res["loaded"]["loaded_typed_to_prediction_ms"]["n"] >= 1  # answered with every core busy
    pr = res["processes"]
    assert {"launcher", "video", "audio", "asr", "text", "fusion"} <= set(pr["processes"])
    assert pr["first_prediction_s"] > 0 and pr["total_pss_mb"] > 0
    assert res["encoders_ms"]["fusion_ms_per_window"]["n"] == 30
    typed = res["pipeline"]["typed_to_prediction_ms"]
    assert typed["n"] >= 1  # typed lines were answered, each with its own intent (0.4 s apart)
    assert typed["right_intent"] == f"{typed['n']}/5", typed
    assert res["sessions"]["replay_reencode_x_realtime"] > 0


@pytest.mark.unit
def test_the_played_files_start_is_found_though_it_began_before_the_first_chunk_heard(tmp_path):
    import numpy as np
    import soundfile as sf

    from stream.offline.bench import _wav_start_ns

    sr, rng = 16000, np.random.default_rng(0)
    src = np.concatenate([np.zeros(sr, np.float32), *(rng.normal(0, 0.3, sr // 2).astype(np.float32)
                                                       for _ in range(4)), np.zeros(sr, np.float32)])
    sf.write(tmp_path / "a.wav", src, sr)
    start_ns = 5_000_000_000
    for late_s in (0.5, 1.5, 2.2):  # the first chunks were missed: heard from late_s into the file
        heard = src[int(late_s * sr):]
        chunks = [(start_ns + int((late_s + i / sr) * 1e9), heard[i:i + 1536])
                  for i in range(0, len(heard) - 1535, 1536)]
        assert abs(_wav_start_ns(chunks, tmp_path / "a.wav") - start_ns) < 1_000_000  # 1 ms


@pytest.mark.unit
def test_typed_lines_with_the_same_words_are_matched_to_their_answers_in_order():
    from stream.offline.bench import _typed_answers

    def pred(text, intent, event=True):
        return {"text": text, "intent": intent, "event": event}

    sent = [("pause the music", 100), ("what time is it", 200), ("pause the music", 300),
            ("pause the music", 400)]
    arrivals = [(110, pred("pause the music", "HassMediaPause", event=False)),  # a window, not the answer
                (120, pred("pause the music", "HassMediaPause")),
                (330, pred("pause the music", "none")),  # line 2's; line 1 was never answered
                (420, pred("pause the music", "HassMediaPause"))]
    got = _typed_answers(sent, arrivals)
    assert got == [arrivals[1], None, arrivals[2], arrivals[3]]
    # An answer arriving after the same words were sent again is not the earlier line's.
    assert _typed_answers(sent[:1] + sent[2:3], [arrivals[2]]) == [None, arrivals[2]]
