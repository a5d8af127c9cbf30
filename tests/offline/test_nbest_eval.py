"""The second recogniser's opinion in ``nbest_eval``: chosen among with the first's hypotheses,
always (union) or only where the text model is unsure of the first's choice."""

import numpy as np
import pytest

from stream.intent.nbest import HypothesisChooser
from stream.offline.nbest_eval import _second_opinion

pytestmark = pytest.mark.unit

INTENTS = ["none", "HassTurnOn", "HassTurnOff"]
READS = {  # what the (fake) text model reads in each sentence, and how sure it is
    "turn of the light": [0.1, 0.5, 0.4],
    "turn on the light": [0.02, 0.96, 0.02],
    "turn off the light": [0.02, 0.02, 0.96],
    "nice weather today": [0.97, 0.02, 0.01],
}


class FakePrior:
    in_dim = 1

    def __call__(self, embeddings, texts):
        return np.array([READS[t] for t in texts])


def _hyps(*texts_scores):
    texts = [t for t, _ in texts_scores]
    return texts, np.zeros((len(texts), 1), np.float32), [s for _, s in texts_scores]


def test_the_second_recogniser_is_asked_only_where_the_first_choice_is_unsure():
    chooser = HypothesisChooser(FakePrior(), weight=2.0)
    unsure = _hyps(("turn of the light", -0.2))
    second = _hyps(("turn off the light", -0.3), ("turn on the light", -0.9))
    got = _second_opinion(chooser, INTENTS, unsure, second, [0.4, 0.9])
    assert chooser.weight == 1.0  # the comparison is at the shipped weight
    assert got["sure"] == pytest.approx(0.5)
    assert got["union"] == "HassTurnOff"  # the second's "off", surer than the garble
    assert got["second_below_0.9"] == "HassTurnOff" and got["second_below_0.4"] == "HassTurnOn"
    assert got["second_reads"] == ["HassTurnOff", "HassTurnOn"]  # the ceiling's part
    sure = _hyps(("turn on the light", -0.2))
    got = _second_opinion(chooser, INTENTS, sure, second, [0.9])
    assert got["second_below_0.9"] == "HassTurnOn" and got["sure"] == pytest.approx(0.96)


def test_nothing_heard_by_either_reads_as_none_and_one_side_may_be_empty():
    chooser = HypothesisChooser(FakePrior(), weight=1.0)
    empty = _hyps()
    assert _second_opinion(chooser, INTENTS, empty, empty, [0.9])["union"] == "none"
    got = _second_opinion(chooser, INTENTS, empty, _hyps(("nice weather today", -0.1)), [0.9])
    assert got["union"] == "none" and got["second_below_0.9"] == "none" and got["sure"] == 0.0
    assert got["second_reads"] == ["none"]
    got = _second_opinion(chooser, INTENTS, _hyps(("turn on the light", -0.1)), empty, [0.99])
    assert got["union"] == "HassTurnOn" and got["second_below_0.99"] == "HassTurnOn"
