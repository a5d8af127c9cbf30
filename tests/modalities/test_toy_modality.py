"""A fourth modality, added in its own files (tests/imu_*.py) with no edit anywhere else:
it runs end to end through real processes, and a fusion model trained on it uses it."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from stream import config
from stream.app.pipeline import Pipeline
from stream.app.sinks import MemorySink
from stream.modalities.registry import names
from stream.offline.train_fusion import model_spec, train, window_examples
from stream.process.stage import RunOptions
from stream.process.supervisor import plan
from stream.session.features import load_messages

pytestmark = pytest.mark.e2e
COMMAND = "turn on the lights"
INTENTS = ["none", "HassTurnOn"]


def imu_config(**fusion) -> config.Config:
    return config.load(None, {"run": {"plugins": ["tests.imu_modality"], "replay": True, "speed": 0.0},
                              "fusion": fusion})


def session(duration: float, lines: list[float], shakes: list[float]) -> RunOptions:
    """The same typed command at each line time; the wrist shakes at some of them."""
    spec = f"synthetic?duration={duration}&shakes={','.join(map(str, shakes))}"
    return RunOptions(sources={"imu": spec}, typed=[{"t": t, "text": COMMAND} for t in lines],
                      scripted=True)


def run(cfg, opts: RunOptions) -> list[dict]:
    sink = MemorySink()
    Pipeline(cfg, opts, [sink]).run()
    return sink.predictions


def test_the_plugin_registers_and_the_supervisor_plans_its_worker():
    cfg = imu_config()
    assert "imu" in names(cfg)
    streams, workers = plan(cfg, {"imu": "synthetic"})
    assert streams == ["text", "imu"]
    assert [w.name for w in workers] == ["text", "imu", "fusion"]
    assert workers[-1].inputs == ("text", "imu")
    # Without a source it is not in the run.
    assert plan(cfg, {})[0] == ["text"]


def test_toy_imu_end_to_end_and_a_model_trained_on_it(tmp_path: Path):
    # 1. Through the real processes with the shipped model (which knows no IMU): it runs, the
    #    IMU stream is aligned and shown, and fusion caches what it received.
    lines = [1.0 + 2.0 * k for k in range(20)]
    shakes = [t - 0.3 for t in lines[::2]]  # every other command comes with a wrist shake
    opts = session(41.0, lines, shakes)
    cache = tmp_path / "train"
    cache.mkdir()
    preds = run(imu_config(), replace(opts, cache=str(cache)))
    assert preds and all(p["modalities"]["imu"] == "ok" for p in preds)
    msgs = load_messages(cache, imu_config())
    assert set(msgs) == {"imu", "text"} and len(msgs["imu"]) == 410
    # 2. Train a small late-fusion model: a command counts only with a shake (IMU decides).
    cfg = imu_config()
    spec = model_spec(cfg, ["imu", "text"])
    assert list(spec) == ["text", "imu"] and spec["imu"]["dim"] == 6
    spans = [{"start": t, "end": t + 0.5, "intent": "HassTurnOn"} for t in lines[::2]]
    ex = window_examples(msgs, spans, [], INTENTS, spec)
    torch.manual_seed(0)
    ckpt, _ = train(ex, ex[::3], INTENTS, spec, mode="late", epochs=25, patience=25, bs=32, seed=0,
                    log=lambda *_: None)
    assert ckpt["features"] == spec
    model = tmp_path / "imu_model.pt"
    torch.save(ckpt, model)
    # 3. The trained model in the real pipeline, on new timings: it follows the wrist.
    lines = [1.5 + 2.5 * k for k in range(8)]
    shakes = [lines[i] - 0.3 for i in (1, 2, 5)]
    preds = run(imu_config(model=str(model)), session(22.0, lines, shakes))
    # Each line is answered within 1.5 s (before the next): fired or not, as the wrist says.
    got = ["HassTurnOn" if any(p["intent"] == "HassTurnOn" for p in preds if t <= p["t"] <= t + 1.5)
           else "none" for t in lines]
    want = ["HassTurnOn" if i in (1, 2, 5) else "none" for i in range(len(lines))]
    assert np.mean([g == w for g, w in zip(got, want, strict=True)]) >= 0.75, (got, want)
    fired = [p for p in preds if p["intent"] == "HassTurnOn"]
    assert np.median([p["contributions"]["imu"] for p in fired]) > 0.5  # the wrist decided
