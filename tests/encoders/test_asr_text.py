"""What becomes of Whisper's words before anything reads them (no model needed)."""

import pytest

from stream.encoders.asr import drop_repeats


@pytest.mark.parametrize(("heard", "kept"), [
    # the repeats tiny.en made over a 6 s window's padding (validation and test splits)
    ("I forgot my keys at the office. I forgot the keys at office", "I forgot my keys at the office."),
    ("Lighting on. Lighting on... Lighting on! Lighting", "Lighting on."),
    ("Add 60-8 out to the timer for 48 seconds. Add 60 8 out to timer",
     "Add 60-8 out to the timer for 48 seconds."),
    ("He never listens. He never listened.", "He never listens."),
    ("Stop. Stop.", "Stop."),
    # ... and without a full stop (a whole decode of an espeak-ng command, 6 s window)
    ("turn on the kitchen lights turn on my kitchen lights", "turn on the kitchen lights"),
    ("What time is it, what time is it?", "What time is it"),
])
def test_a_sentence_said_again_goes(heard, kept):
    assert drop_repeats(heard) == kept


@pytest.mark.parametrize("heard", [
    "Turn on the kitchen light. Turn off the kitchen fan.",  # 3 of 5 words: another command
    "Turn on the light. Turn off the fan.",
    "Good morning. What time is it?",
    "Set the timer for 5 minutes.",
    "Mr. Smith is here. Mr. Jones too.",  # an abbreviation's full stop splits; nothing repeats
    "turn on the light and turn on the fan",  # says it again, but the fan is new
    "turn the volume up turn it up",  # 2 of 3 words again: not a repeat
    "play the next song and play it loud",
])
def test_different_sentences_stay(heard):
    assert drop_repeats(heard) == heard


def test_nothing_stays_nothing():
    assert drop_repeats("") == ""
