"""The text classifier's words-and-spelling model: its n-grams, what it learns, its checkpoint
part, and how the text prior mixes it with the embedding's MLP."""

import io

import numpy as np
import pytest
import torch

from stream.intent.lexical import LexicalModel, grams
from stream.intent.text_classifier import TextIntentNet, TextPrior

pytestmark = pytest.mark.unit
INTENTS = ["none", "HassTurnOn", "HassTurnOff", "HassStartTimer"]
SAID = {
    "HassTurnOn": ["turn on the light", "switch on the kitchen lamp", "turn the fan on", "lights on"],
    "HassTurnOff": ["turn off the light", "switch off the kitchen lamp", "turn the fan off", "lights off"],
    "HassStartTimer": ["set a timer for five minutes", "start a ten minute timer", "timer for an hour"],
    "none": ["did you see the game", "my sister is getting married", "see you tomorrow"],
}


@pytest.fixture(scope="module")
def model() -> LexicalModel:
    texts = [t for ts in SAID.values() for t in ts]
    y = np.array([INTENTS.index(k) for k, ts in SAID.items() for _ in ts])
    return LexicalModel.fit(texts, y, len(INTENTS), weight=0.7)


def read(model: LexicalModel, text: str) -> str:
    return INTENTS[int(model.log_probs([text])[0].argmax())]


def test_grams_are_lower_case_words_pairs_and_in_word_letters_without_punctuation():
    words, chars = grams("Turn OFF!")
    assert words == ["turn", "off", "turn off"]
    assert " t" in chars and "urn " in chars and "off " in chars and "!" not in "".join(chars)
    assert grams("") == ([], [])


def test_it_learns_the_deciding_words_and_survives_a_garbled_one(model):
    assert read(model, "Turn off the ceiling fan.") == "HassTurnOff"  # unseen device, Whisper's stop
    assert read(model, "switch on the bedroom light") == "HassTurnOn"
    assert read(model, "set a time up for two minutes") == "HassStartTimer"  # "timer" misheard
    assert read(model, "did you see the match") == "none"
    lp = model.log_probs(["lights on", "xyzzy"])
    assert lp.shape == (2, len(INTENTS)) and np.allclose(np.exp(lp).sum(1), 1, atol=1e-5)
    assert np.allclose(np.exp(lp[1]), np.exp(lp[1]).mean(), atol=0.25)  # nothing known: unsure
    assert model.log_probs([]).shape == (0, len(INTENTS))


def test_its_checkpoint_part_loads_with_weights_only_and_reads_the_same(model):
    buf = io.BytesIO()
    torch.save({"lexical": model.state()}, buf)
    buf.seek(0)
    back = LexicalModel.from_state(torch.load(buf, weights_only=True)["lexical"])
    texts = ["turn off the light", "set a timer", "hello there"]
    assert np.allclose(back.log_probs(texts), model.log_probs(texts), atol=1e-3)
    assert back.weight == 0.7
    bad = {**model.state(), "idf": torch.ones(3)}
    with pytest.raises(ValueError, match="lexical part"):
        LexicalModel.from_state(bad)
    with pytest.raises(ValueError, match=r"want 5\)"):
        LexicalModel.from_state(model.state(), n_classes=5)


def test_the_text_prior_mixes_the_two_opinions_by_the_lexical_weight(model):
    torch.manual_seed(0)
    net = TextIntentNet(8, len(INTENTS), hidden=4).eval()
    ckpt = {"state": net.state_dict(), "intents": INTENTS, "dim": 8, "hidden": 4}
    emb = np.random.default_rng(0).normal(size=(2, 8)).astype(np.float32)
    texts = ["turn off the light", "start a timer"]
    plain = TextPrior(ckpt)(emb, texts)  # a checkpoint without the part: the MLP alone
    with torch.inference_mode():
        assert np.allclose(plain, torch.softmax(net(torch.from_numpy(emb)), -1).numpy(), atol=1e-6)
    words_only = TextPrior({**ckpt, "lexical": {**model.state(), "weight": 1.0}})(emb, texts)
    assert np.allclose(words_only, np.exp(model.log_probs(texts)), atol=1e-3)
    mixed = TextPrior({**ckpt, "lexical": model.state()})(emb, texts)
    want = np.exp(0.3 * np.log(plain) + 0.7 * np.log(words_only))
    assert np.allclose(mixed, want / want.sum(1, keepdims=True), atol=1e-3)
    with pytest.raises(ValueError, match="2 embeddings but 1 texts"):
        TextPrior(ckpt)(emb, texts[:1])
