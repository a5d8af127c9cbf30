"""Video: camera frames -> face cues (present, facing, mouth) + a MobileNetV2 image embedding."""

from __future__ import annotations

import numpy as np

from stream.modalities.registry import Feature, Modality, WorkerDecl, register

# The per-frame face cue vector the video worker publishes (order matters).
CUE_NAMES = ("present", "score", "x0", "y0", "x1", "y1", "facing", "yaw", "mouth_open",
             "mouth_activity")
EMBED_DIM = 1280  # MobileNetV2's pooled features


def _parts(cfg) -> dict[str, Feature]:
    return {"cues": Feature("float32", (len(CUE_NAMES),)),
            "embedding": Feature("float32", (EMBED_DIM,), optional=not cfg.video.embed)}


def _step(it, end_ns: int, window_ns: int) -> np.ndarray:
    # Without an embedding (video.embed = false) the width stays: zeros, never other data.
    emb = it.parts.get("embedding")
    return np.concatenate([it.parts["cues"], emb if emb is not None else np.zeros(EMBED_DIM, np.float32)])


def _source(spec, cfg, timing):
    from stream.sources.video import open_video

    return open_video(spec, cfg, timing)


def _writer(root, source):
    from stream.session.format import VideoWriter

    return VideoWriter(root, source.fps)


def _show(g: dict) -> str:
    if "face" not in g:
        return ""
    note = f"face {'yes' if g['face'] else 'no'}"
    if g["face"]:
        note += f"  {'facing' if g.get('facing') else 'turned away'}  mouth {g.get('mouth', 0):.3f}"
    if g.get("fps", 0) < 0.8 * g.get("fps_target", 0):  # live: newest frame only, the rest shed
        note += f"  shedding: {g['fps']} of {g['fps_target']} fps (CPU busy; hearing first)"
    elif g.get("embed_fps", g.get("fps", 0)) < 0.8 * g.get("fps", 0):  # live: cues every frame
        note += f"  scene embedding {g['embed_fps']} of {g['fps']} fps (CPU busy; late ones shed)"
    return note


VIDEO = register(Modality(
    name="video",
    workers=lambda cfg: [WorkerDecl("video", "workers.video", nice=cfg.video.nice)],
    parts=_parts,
    step=_step,
    step_dim=lambda cfg: len(CUE_NAMES) + EMBED_DIM,
    steps=16,
    source=_source,
    in_session=lambda s: bool(s.frames_index),
    writer=_writer,
    show=_show,
    presence=lambda it: bool(it.parts["cues"][0] > 0.5),  # CUE_NAMES[0]: "present"
))
