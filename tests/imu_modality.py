"""A fourth, toy modality: a wrist IMU (accelerometer), declared here and nowhere else.

It shows what adding a modality takes: this declaration, a source
(``tests/imu_source.py``), an encoder (``tests/imu_encoder.py``) and a stage with
its worker (``tests/imu_worker.py``); list this module in ``run.plugins``.
Nothing else in the project names it.
"""

from __future__ import annotations

import numpy as np

from stream.modalities.registry import Feature, Modality, WorkerDecl, register

MOTION_DIM = 6  # rms, peak, mean x/y/z, spread (tests/imu_encoder.py)


def _source(spec, cfg, timing):
    from tests.imu_source import SyntheticImuSource

    return SyntheticImuSource.from_spec(spec, timing)


IMU = register(Modality(
    name="imu",
    workers=lambda cfg: [WorkerDecl("imu", "tests.imu_worker")],
    parts=lambda cfg: {"motion": Feature("float32", (MOTION_DIM,))},
    step=lambda it, end_ns, window_ns: np.asarray(it.parts["motion"]),
    step_dim=lambda cfg: MOTION_DIM,
    steps=10,
    source=_source,
    show=lambda g: f"motion {g['rms']:.2f}" if "rms" in g else "",
))
