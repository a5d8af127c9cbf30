"""Video worker: camera / file / synthetic frames -> face cues + MobileNetV2 embedding.

Live capture keeps only the newest frame (drops counted); replay reads
every frame, so results do not depend on speed.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from stream.core.clock import now_ns
from stream.encoders import weights as models
from stream.encoders.vision import FaceCues, ImageEmbedder
from stream.process.runtime import Runtime, Spec, worker_main
from stream.session.format import VideoWriter
from stream.sources.devices import DeviceError, LatestFrame, open_video


def run(spec: Spec) -> None:
    rt = Runtime(spec, inputs=[], topics=[])
    cfg, opt = rt.cfg, spec.options
    torch.set_num_threads(cfg.run.torch_threads)
    device = models.torch_device(cfg.run.device)
    cues = FaceCues(cfg.video.face_detector, cfg.video.face_threshold,
                    cfg.video.facing_max_yaw, cfg.video.mouth_landmarks)
    embed = ImageEmbedder(device) if cfg.video.embed else None
    speed = cfg.run.speed or None
    src = open_video(opt["video"], cfg.video, 0, speed, cfg.run.replay,
                     opt.get("start_s", 0.0), opt.get("end_s"))
    src.connect()  # before the handshake: a missing camera fails the start-up, plainly
    if not rt.wait_start():
        return
    src.set_origin(rt.origin_ns)
    rec = VideoWriter(Path(opt["record"]), src.fps) if opt.get("record") else None

    def record(frame, t: int) -> None:
        if rec is not None:
            rec.add(frame, (t - rt.origin_ns) / 1e9)

    grab = None
    if not cfg.run.replay:
        grab = LatestFrame(src, on_frame=record)  # records every frame, even dropped ones
        grab.start()
    gpu_batches = device.startswith("cuda") and cfg.run.replay and not speed
    batch_size = cfg.video.batch if gpu_batches else 1
    n, t_rate = 0, time.monotonic()
    while not rt.stop.is_set():
        rt.tick()
        if rt.ended:
            break
        if grab is not None:
            item = grab.async_read(0.1)
            rt.stats["dropped"] = grab.dropped
            if grab.error:
                # Exit non-zero: fusion marks video missing, the supervisor restarts us.
                grab.close()
                if rec is not None:
                    rec.close()
                raise DeviceError(grab.error)
            if item is None:
                if grab.ended:
                    break
                continue
            frame, t, cap_ns = item
            batch = [(frame, t, cap_ns)]
        else:
            # Replay reads every frame; at max speed on a GPU, several at once (one batch).
            batch = []
            for _ in range(batch_size):
                item = src.read()
                if item is None:
                    break
                record(*item)
                batch.append((*item, now_ns()))
            if not batch:
                break
        enc0 = now_ns()
        frames = [b[0] for b in batch]
        cue_rows = [cues(f) for f in frames]
        embs = embed(frames) if embed is not None else [None] * len(frames)
        enc1 = now_ns()
        period = int(1e9 / max(src.fps, 1.0))
        for (_, t, cap_ns), c, e in zip(batch, cue_rows, embs, strict=True):
            parts = [c] + ([e] if e is not None else [])
            rt.publish("video", t, t + period, parts,
                       meta={"parts": ["cues", "embedding"][:len(parts)]},
                       stages={"capture": cap_ns, "encode_start": enc0, "encode_end": enc1},
                       watermark=t + period)
        c = cue_rows[-1]
        n += len(batch)
        rt.gauges["encode_ms"] = round((enc1 - enc0) / 1e6, 1)
        rt.gauges["face"] = bool(c[0])
        if time.monotonic() - t_rate >= 1.0:
            rt.gauges["fps"] = round(n / (time.monotonic() - t_rate), 1)
            n, t_rate = 0, time.monotonic()
    if grab is not None:
        grab.close()
    else:
        src.disconnect()
    if rec is not None:
        rec.close()
    rt.end_of_stream()
    rt.close()


if __name__ == "__main__":
    worker_main(run)
