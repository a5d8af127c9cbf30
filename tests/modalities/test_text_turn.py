"""Which of a window's texts one answer reads: the newest turn."""

import numpy as np
import pytest

from stream.config import Config
from stream.fusion.align import Item, Window
from stream.intent.fusion_net import window_arrays
from stream.modalities.registry import step_spec
from stream.modalities.text import newest_turn

pytestmark = pytest.mark.unit

S = 1_000_000_000


def text(t0: float, t1: float, words: str, source: str = "asr") -> Item:
    return Item(int(t0 * S), int(t1 * S), {"embedding": np.full(384, t1, np.float32)},
                {"text": words, "source": source}, int(t1 * S))


def words(items: list[Item]) -> list[str]:
    return [it.meta["text"] for it in items]


def test_a_typed_line_is_a_turn_of_its_own():
    first, second = text(1.0, 1.0, "turn on the light", "typed"), text(1.6, 1.6, "what time is it", "typed")
    assert words(newest_turn([second, first])) == ["what time is it"]
    # Nor does a transcript that just ended belong to a typed line, or the other way round.
    heard = text(0.2, 1.5, "pause the music")
    assert words(newest_turn([heard, second])) == ["what time is it"]
    assert words(newest_turn([second, text(1.8, 2.0, "stop")])) == ["stop"]


def test_transcripts_split_by_a_short_pause_are_one_turn_and_a_longer_pause_ends_it():
    a, b = text(0.1, 0.9, "turn down the basement volume"), text(1.3, 1.6, "by 84 percent")
    assert words(newest_turn([a, b])) == ["turn down the basement volume", "by 84 percent"]
    far = text(2.7, 3.0, "by 84 percent")  # 1.8 s after the last word: another turn
    assert words(newest_turn([a, far])) == ["by 84 percent"]
    assert newest_turn([]) == []


def test_the_model_inputs_hold_only_the_newest_turn():
    cfg = Config()
    spec = {"text": step_spec(cfg)["text"]}
    items = [text(0.5, 0.5, "turn on the light", "typed"), text(1.5, 1.5, "what time is it", "typed")]
    w = Window(0, 2 * S, {"text": items}, {"text": "ok"})
    wa = window_arrays(w, spec, 2 * S)
    assert wa.feats["text"].shape[0] == 1 and wa.times["text"].tolist() == [int(1.5 * S)]
    assert wa.feats["text"][0, 0] == 1.5  # the newest line's embedding
