"""The real fusion process under hostile input: it stays up, counts every lie by reason, and
never publishes a non-finite number."""

import pytest

from stream.config import Config
from stream.offline.hostile import KINDS, run_hostile

pytestmark = pytest.mark.integration


def test_fusion_survives_and_counts_every_kind_of_hostile_message():
    cfg = Config()
    cfg.net.hwm = 100_000  # no queue sheds: every message reaches fusion and can be accounted for
    r = run_hostile(len(KINDS) * 3 * 10, cfg)  # every kind from every stream, ten times
    assert r["alive"]
    assert r["counted"] == r["expected"], r["stats"]
    assert r["predictions"] > 0 and r["nonfinite_predictions"] == 0
