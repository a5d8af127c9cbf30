"""Domain-aware decoding on recorded utterances that Whisper's plain greedy decode gets wrong:
the home's names in the prompt (``asr.prompt = "auto"``), and n-best hypotheses chosen by the
intent model (``asr.n_best``), with base asked where that model is unsure (``asr.second_model``).
Real tiny.en (and base), MiniLM and the shipped model's text classifier.

The first two clips are utterances of the corpus's test split (Kokoro's jf_gongitsune and Piper's
joe, voices never heard in training), cut 0.3-0.4 s before and 0.2 s after the voice, about as
the live path cuts (its pre-roll and the VAD's onset). tiny.en is fragile: 0.1 s more or less
lead-in changes these decodes, so the clips are kept exactly as cut.
"""

from pathlib import Path

import pytest
import soundfile as sf

from stream.config import Config
from stream.encoders.asr import decode, decoding_prompt, hypotheses, load_model

pytestmark = pytest.mark.integration
DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def whisper():
    return load_model("tiny.en", "cpu", 2)


def clip(name: str):
    x, sr = sf.read(DATA / f"{name}.flac", dtype="float32")
    assert sr == 16000
    return x


def test_the_homes_names_in_the_prompt_recover_a_device_the_plain_decode_garbles(whisper):
    x = clip("pendant_lights_on")  # said: "pendant lights on"
    plain = decode(whisper, x, 1, None, context_s=10)
    biased = decode(whisper, x, 1, decoding_prompt("auto", Config().home), context_s=10)
    assert "pendant" not in plain.lower()  # "Pend it lights on"
    assert "pendant lights on" in biased.lower()


def test_the_intent_model_chooses_the_hypothesis_with_the_right_action(whisper):
    """Real decode: among tiny.en's 5 best for this clip the chooser keeps one with "off". (Which
    one Whisper ranks first depends on the machine, same code and weights. On the 2026-11-28 one
    greedy heard "Bring my whole light around my garage.", lights on; on the 2026-12-06 one,
    "Bring off all light ...": the next test pins that case down without the decode.)"""
    from stream.encoders.text import TextEmbedder
    from stream.intent.nbest import HypothesisChooser

    cfg = Config()
    chooser = HypothesisChooser.load(cfg)
    emb = TextEmbedder()
    x = clip("bring_off_all_light")  # said: "bring off all light around my garage"
    hyps = hypotheses(whisper, x, 1, None, context_s=10, n=cfg.asr.n_best)
    assert 2 <= len(hyps) <= cfg.asr.n_best and hyps[0][1] >= hyps[-1][1]
    texts = [h for h, _ in hyps]
    chosen = hyps[chooser(texts, emb(texts), [s for _, s in hyps])][0]
    assert "off" in chosen.lower().split() and _intent(chooser, emb, chosen) == "HassTurnOff"


def _intent(chooser, emb, text: str) -> str:
    return chooser.prior.ckpt["intents"][int(chooser.prior(emb([text]), [text])[0].argmax())]


def test_a_lower_ranked_hypothesis_with_the_right_action_wins_over_whispers_first():
    """The shipped text model and MiniLM on recorded n-bests. Kokoro's jf_nezumi saying "heater
    unpause" (the validation split; tiny.en's 3 best of the whole utterance, 2026-12-08): the
    first, 0.06 surer, is read as pause; the chooser keeps "unpause" (the models shipped before
    2026-12-08 kept "on pause"). And the garage clip's four hypotheses (2026-12-06's decode,
    "my whole" first as the 2026-11-28 machine's greedy decode had it): what is kept is read as
    lights off (the models before 2026-12-08 read the first as on and kept the "off" one; since,
    having learned from more of tiny.en's garbles, they read the first as off too). A retrained
    model that fails this needs a look at its n-best choices, not only new clips (README)."""
    from stream.encoders.text import TextEmbedder
    from stream.intent.nbest import HypothesisChooser

    chooser, emb = HypothesisChooser.load(Config()), TextEmbedder()
    hyps = [("Heter on pause.", -0.696), ("Heter unpause.", -0.760), ("Heater on pause.", -0.892)]
    assert _intent(chooser, emb, hyps[0][0]) == "HassMediaPause"
    texts = [h for h, _ in hyps]
    k = chooser(texts, emb(texts), [s for _, s in hyps])
    assert k != 0 and _intent(chooser, emb, hyps[k][0]) == "HassMediaUnpause"
    said = "all light around my garage."
    hyps = [("Bring my whole light around my garage.", -0.286), (f"Bring off {said}", -0.366),
            (f"Bring knock {said}", -0.379), (f"Bring not {said}", -0.422)]
    texts = [h for h, _ in hyps]
    k = chooser(texts, emb(texts), [s for _, s in hyps])
    assert _intent(chooser, emb, hyps[k][0]) == "HassTurnOff"


def test_a_second_opinion_from_base_recovers_a_command_tiny_en_garbles(whisper):
    """Real tiny.en, base, MiniLM and the shipped text model (``asr.second_model``): flite's awb
    saying "add 1/2 an hour to my timer" (the corpus's validation split, cut as whole utterances
    are, ``stream.offline.asr_eval.utterance_audio``). Every one of tiny.en's 5 best reads as
    another command or none ("I don't have to know it in my timer": a timer's status, 0.63
    sure), so base is asked; its "I'd have another to my timer" is read as adding to the timer."""
    from stream.encoders.asr import second_opinion
    from stream.encoders.text import TextEmbedder
    from stream.intent.nbest import HypothesisChooser

    cfg = Config()
    chooser, emb, base = HypothesisChooser.load(cfg), TextEmbedder(), load_model("base", "cpu", 1)
    x = clip("add_half_an_hour")
    hyps = hypotheses(whisper, x, 1, None, context_s=cfg.asr.context_s, n=cfg.asr.n_best)
    first = chooser.choose(emb, hyps)[0]
    text, _, asked = chooser.choose(emb, hyps, lambda: second_opinion(base, x, cfg.asr), cfg.asr.second_below)
    assert _intent(chooser, emb, first) != "HassIncreaseTimer"
    assert asked and _intent(chooser, emb, text) == "HassIncreaseTimer"
