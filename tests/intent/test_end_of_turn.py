"""The shipped end-of-turn detector on MiniLM embeddings: whole commands against their starts."""

import pytest

from stream.intent.end_of_turn import load_detector

pytestmark = pytest.mark.integration

WHOLE = ["turn off the lights in the bedroom", "what is the temperature in the living room",
         "Turn on the kitchen lights please.", "did you see the game last night"]
STARTS = ["Set the", "turn off the", "Set the 89 minute", "what is the", "Lighting the cross kitchen",
          "Stop all my"]


def test_whole_commands_are_complete_and_their_beginnings_are_not():
    from stream.encoders.text import TextEmbedder

    emb, detector = TextEmbedder(), load_detector()
    whole, starts = detector(emb(WHOLE)), detector(emb(STARTS))
    assert (whole > 0.5).all(), dict(zip(WHOLE, whole.round(3), strict=True))
    assert (starts < 0.1).all(), dict(zip(STARTS, starts.round(3), strict=True))


def test_the_detector_loads_as_data_only(tmp_path):
    from stream.encoders.weights import ModelMissing

    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelMissing, match="x.pt"):
        load_detector(str(bad))
