"""The shipped model answers each typed line as itself, however soon after another it comes."""

import itertools

import pytest

from stream.config import Config
from stream.fusion.align import Item, Window
from stream.intent.checkpoint import load_model

pytestmark = pytest.mark.integration

S = 1_000_000_000
LINES = ["turn on the kitchen light", "what time is it", "set a timer for 5 minutes",
         "pause the music", "what's the weather like", "mute the tv"]


def test_a_line_typed_a_second_after_another_gets_its_own_intent():
    from stream.encoders.text import TextEmbedder

    model, vecs = load_model("", Config()), dict(zip(LINES, TextEmbedder()(LINES), strict=True))
    status = {"video": "missing", "audio": "missing", "text": "ok"}

    def answer(*timed: tuple[float, str]) -> str:
        items = [Item(int(t * S), int(t * S), {"embedding": vecs[s]}, {"text": s, "source": "typed"},
                      int(t * S)) for t, s in timed]
        return model.predict(Window(0, 2 * S, {"text": items}, dict(status), True)).intent

    alone = {s: answer((2.0, s)) for s in LINES}
    assert len(set(alone.values())) == len(LINES)  # six different commands
    for first, second in itertools.permutations(LINES, 2):  # (before: 16 of 30 answered wrong)
        assert answer((1.0, first), (2.0, second)) == alone[second], (first, second)
