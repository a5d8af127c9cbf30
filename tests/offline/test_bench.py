"""``bench --quick`` runs end to end, so the benchmark cannot silently break."""

import json

import pytest

from tests.e2e.test_e2e import launch

pytestmark = pytest.mark.e2e


def test_bench_quick_runs_and_reports_every_section():
    r = launch("bench", "--quick", "--json", timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert set(res) == {"machine", "transport_one_way_ms", "encoders_ms", "pipeline", "sessions"}
    assert res["encoders_ms"]["fusion_ms_per_window"]["n"] == 30
    assert res["pipeline"]["typed_to_prediction_ms"]["n"] >= 1  # typed lines were answered
    assert res["sessions"]["replay_reencode_x_realtime"] > 0
