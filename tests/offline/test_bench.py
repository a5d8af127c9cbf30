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
    assert res["pipeline"]["typed_to_prediction_ms"]["n"] >= 1  # typed lines were answered
    assert res["sessions"]["replay_reencode_x_realtime"] > 0
