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


def test_the_text_prior_decides_which_command_but_never_whether_to_answer():
    import numpy as np

    from stream.intent.fusion_net import WindowArrays

    cfg = Config()
    model = load_model("", cfg)
    names = model.prior.ckpt["intents"]
    on, off, none = (model.intents.index(n) for n in ("HassTurnOn", "HassTurnOff", "none"))

    def decide(prior_top: str, prior_p: float, fusion_top: int, p_none: float = 0.1, decides=0.7,
               addressed=None):
        prior = np.full(model.prior.dim, (1 - prior_p) / (model.prior.dim - 1), np.float32)
        prior[names.index(prior_top)] = prior_p
        text = np.concatenate([np.zeros(384 + 2, np.float32), prior])[None]
        wa = WindowArrays(2 * S, 2 * S, {"text": text}, {"text": np.array([S])}, np.array([True]))
        probs = np.full(len(model.intents), 0.0, np.float32)
        probs[none] = p_none
        if fusion_top != none:
            probs[fusion_top] = 1 - p_none
        model.text_decides = decides
        k, conf = model._which_command(wa, probs, addressed)
        return model.intents[k], round(conf, 3)

    assert decide("HassTurnOff", 0.86, on) == ("HassTurnOff", 0.774)  # 0.9 a command x 0.86
    assert decide("HassTurnOff", 0.6, on) == ("HassTurnOn", 0.9)  # the prior not sure enough
    assert decide("HassTurnOff", 0.86, on, decides=1.0) == ("HassTurnOn", 0.9)  # off
    assert decide("HassTurnOff", 0.99, none, p_none=0.9) == ("none", 0.9)  # not said to us
    assert decide("none", 0.99, on) == ("HassTurnOn", 0.9)  # never silences
    assert decide("HassTurnOn", 0.99, off)[0] == "HassTurnOn"
    # Words said to us (typed: 1; or fusion's addressed score): whether they are a command is
    # theirs to say, at how sure we are they were said to us times the prior's confidence.
    assert decide("HassTurnOff", 0.99, none, p_none=0.9, addressed=1.0) == ("HassTurnOff", 0.99)
    assert decide("HassTurnOff", 0.99, none, p_none=0.9, addressed=0.8) == ("HassTurnOff", 0.792)
    assert decide("HassTurnOff", 0.6, none, p_none=0.9, addressed=1.0) == ("none", 0.9)  # not sure
    assert decide("none", 0.99, none, p_none=0.9, addressed=1.0) == ("none", 0.9)  # small talk
    assert decide("none", 0.99, on, addressed=1.0) == ("HassTurnOn", 0.9)  # never silenced either
    assert decide("HassTurnOff", 0.99, none, p_none=0.9, addressed=1.0, decides=1.0) == ("none", 0.9)


def test_a_typed_line_is_addressed_whoever_is_in_view_a_transcript_is_not():
    import numpy as np
    import torch

    from stream.encoders.text import TextEmbedder

    model = load_model("", Config())
    vec = TextEmbedder()(["mute the tv"])[0]
    status = {"video": "ok", "audio": "ok", "text": "ok"}

    def window(source: str) -> Window:
        item = Item(S, S, {"embedding": vec}, {"text": "mute the tv", "source": source}, S)
        return Window(0, 2 * S, {"text": [item]}, dict(status), True)

    assert model._typed(window("typed")) and model.predict(window("typed")).addressed == 1.0
    # Fusion made to say none (as it did with nobody in view); the prior reads the words as a
    # command (0.98): the words answered, and the explanation says so.
    probs = np.zeros(len(model.intents), np.float32)
    probs[model.intents.index("none")] = 1.0
    real = model.net.forward

    def fusion_says_none(x):
        logits, addr = real(x)
        return torch.log(torch.from_numpy(probs) + 1e-9).expand_as(logits), addr

    model.net.forward = fusion_says_none
    p = model.predict(window("typed"))
    assert p.intent == "HassMediaPlayerMute" and p.contributions == {"video": 0.0, "audio": 0.0, "text": 1.0}
    assert not model._typed(window("asr"))
