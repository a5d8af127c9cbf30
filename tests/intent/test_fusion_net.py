"""The learned fusion model: shapes, masking, learning, save/load, reproducibility."""

import numpy as np
import pytest
import torch

from stream.config import Config
from stream.fusion.align import Item, Window
from stream.intent.checkpoint import read_checkpoint
from stream.intent.fusion_net import FusionModel, FusionNet, WindowArrays, collate
from stream.modalities.registry import step_spec
from stream.modalities.video import CUE_NAMES
from stream.offline.train_fusion import Example, norm_stats, train

pytestmark = pytest.mark.integration

S = 1_000_000_000
SPEC = step_spec(Config())  # the built-in modalities: video, audio, text
MODS = list(SPEC)
VIDEO_DIM, TEXT_DIM = SPEC["video"]["dim"], SPEC["text"]["dim"]
SCENE_FACE = np.random.default_rng(100).random(1280, dtype=np.float32)
SCENE_EMPTY = np.random.default_rng(101).random(1280, dtype=np.float32)
INTENTS = ["none", "HassTurnOn", "HassTurnOff", "HassStartTimer"]
SENTENCES = {
    "HassTurnOn": ["turn on the kitchen lights", "switch on the lamp", "lights on in the office",
                   "turn the heater on", "power on the fan"],
    "HassTurnOff": ["turn off the kitchen lights", "switch off the lamp", "lights off in the office",
                    "turn the heater off", "power off the fan"],
    "HassStartTimer": ["set a timer for five minutes", "start a ten minute timer",
                       "timer for two hours", "count down three minutes", "set a pasta timer"],
}


@pytest.fixture(scope="module")
def text_emb():
    from stream.encoders.text import TextEmbedder

    e = TextEmbedder()
    return {k: e(v) for k, v in SENTENCES.items()}


def make_window(rng, text_vec, facing: bool, typed: bool = False, video: bool = True,
                audio: bool = True) -> WindowArrays:
    nv, na = 30, 21
    cues = np.zeros((nv, len(CUE_NAMES)), np.float32)
    if facing:
        cues[:, CUE_NAMES.index("present")] = cues[:, CUE_NAMES.index("facing")] = 1
    # Like real image embeddings: one look per scene, a little change frame to frame.
    scene = SCENE_FACE if facing else SCENE_EMPTY
    v = np.concatenate([cues, scene + rng.normal(0, 0.05, (nv, 1280)).astype(np.float32)], 1)
    a = rng.standard_normal((na, 129)).astype(np.float32)
    a[:, 0] = 0.9
    t = np.zeros((0, TEXT_DIM), np.float32) if text_vec is None else \
        np.concatenate([text_vec, [float(typed), 0.3]])[None].astype(np.float32)
    times = {"video": np.linspace(0, 2 * S, nv).astype(np.int64),
             "audio": np.linspace(0, 2 * S, na).astype(np.int64),
             "text": np.full(len(t), int(1.4 * S), np.int64)}
    avail = {"video": video, "audio": audio, "text": True}
    return WindowArrays(2 * S, 2 * S, {"video": v, "audio": a, "text": t}, times,
                        np.array([avail[m] for m in SPEC]))


def dataset(text_emb, n: int, seed: int) -> list[Example]:
    """Commands facing the camera -> the intent; the same with nobody facing -> none."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        intent = INTENTS[1 + rng.integers(3)]
        vec = text_emb[intent][rng.integers(5)] + rng.normal(0, 0.02, 384)
        facing = rng.random() < 0.6
        typed = rng.random() < 0.2
        label = intent if (facing or typed) else "none"
        out.append(Example(make_window(rng, vec, facing, typed), INTENTS.index(label),
                           float(facing or typed)))
    return out


@pytest.mark.parametrize("mode", ["early", "intermediate", "late"])
def test_shapes_and_masked_steps_do_not_matter(mode, text_emb):
    torch.manual_seed(0)
    net = FusionNet(len(INTENTS), {m: s["dim"] for m, s in SPEC.items()}, mode).eval()
    rng = np.random.default_rng(0)
    ws = [make_window(rng, text_emb["HassTurnOn"][0], True),
          make_window(rng, None, False, video=False)]
    norm = norm_stats([Example(w, 0, 0.0) for w in ws])
    b = collate(ws, norm, SPEC)
    assert b["video"].shape == (2, 16, VIDEO_DIM) and b["text"].shape == (2, 2, TEXT_DIM)
    with torch.inference_mode():
        logits, addr = net(b)
        assert logits.shape == (2, len(INTENTS)) and addr.shape == (2,)
        # Garbage where the masks say "nothing here" must not change anything.
        b2 = {k: v.clone() for k, v in b.items()}
        b2["text"][:, 1:] = 1e3  # padded text slots
        b2["video"][1] = -1e3  # window 1: the camera is down
        l2, a2 = net(b2)
    torch.testing.assert_close(logits, l2)
    torch.testing.assert_close(addr, a2)


def test_short_training_lowers_the_loss_and_beats_chance(text_emb):
    tr, va = dataset(text_emb, 400, 1), dataset(text_emb, 120, 2)
    ckpt, hist = train(tr, va, INTENTS, SPEC, mode="intermediate", epochs=6, patience=6, seed=0, bs=32,
                       log=lambda *_: None)
    h = hist["history"]
    assert h[-1]["train_loss"] < 0.5 * h[0]["train_loss"]
    acc = ckpt["metrics"]["val"]["accuracy"]
    assert acc > 0.85, acc  # chance is 0.25
    assert ckpt["metrics"]["val"]["addressed_accuracy"] > 0.9


def test_save_load_round_trip_gives_identical_outputs(text_emb, tmp_path):
    tr, va = dataset(text_emb, 80, 3), dataset(text_emb, 40, 4)
    ckpt, _ = train(tr, va, INTENTS, SPEC, mode="late", epochs=1, seed=0, bs=32, log=lambda *_: None)
    torch.save(ckpt, tmp_path / "m.pt")
    loaded = FusionModel(read_checkpoint(tmp_path / "m.pt"), Config())
    net = FusionNet(len(INTENTS), {m: s["dim"] for m, s in SPEC.items()}, "late")
    net.load_state_dict(ckpt["state"])
    net.eval()
    b = collate([e.w for e in va], loaded.norm, SPEC)
    with torch.inference_mode():
        a1, b1 = net(b)
        a2, b2 = loaded.net(b)
    assert torch.equal(a1, a2) and torch.equal(b1, b2)


def test_training_with_a_fixed_seed_is_reproducible_on_cpu(text_emb):
    tr, va = dataset(text_emb, 80, 5), dataset(text_emb, 40, 6)
    runs = [train(tr, va, INTENTS, SPEC, mode="intermediate", epochs=2, seed=7, bs=32, log=lambda *_: None)[0]
            for _ in range(2)]
    for k, v in runs[0]["state"].items():
        assert torch.equal(v, runs[1]["state"][k]), k


def test_prediction_from_an_aligner_window_with_contributions(text_emb, tmp_path):
    tr, va = dataset(text_emb, 200, 8), dataset(text_emb, 60, 9)
    ckpt, _ = train(tr, va, INTENTS, SPEC, mode="intermediate", epochs=4, seed=0, bs=32, log=lambda *_: None)
    torch.save(ckpt, tmp_path / "m.pt")
    model = FusionModel(read_checkpoint(tmp_path / "m.pt"), Config())
    cues = np.zeros(len(CUE_NAMES), np.float32)
    cues[CUE_NAMES.index("present")] = cues[CUE_NAMES.index("facing")] = 1
    video = [Item(t, t + S // 15, {"cues": cues, "embedding": SCENE_FACE}, {}, 0)
             for t in range(0, 2 * S, S // 15)]
    audio = [Item(t, t + S // 10, {"embedding": np.zeros(128, np.float32)}, {"vad": 0.9}, 0)
             for t in range(0, 2 * S, S // 10)]
    text = [Item(S, int(1.4 * S), {"embedding": text_emb["HassTurnOff"][1]},
                 {"text": "switch off the lamp", "source": "asr"}, 0)]
    w = Window(0, 2 * S, {"video": video, "audio": audio, "text": text},
               {"video": "ok", "audio": "ok", "text": "ok"})
    p = model.predict(w)
    assert p.intent == "HassTurnOff" and p.addressed > 0.5
    assert abs(sum(p.contributions.values()) - 1) < 1e-3
    # A stream that is down contributes nothing.
    w.status["video"] = "missing"
    assert model.predict(w).contributions["video"] == 0.0
    assert set(p.contributions) == set(MODS)
