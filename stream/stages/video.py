"""Video stage: camera / file / session / synthetic frames -> face cues + MobileNetV2 embedding.

Live capture keeps only the newest frame (drops counted); replay reads every
frame, so results do not depend on speed; a max-speed replay on a GPU embeds
frames in batches. Live, the face cues (who is there, facing, talking) go out with every
frame at once; the scene embedding, 3-4x their work, is waited for only until
``video.embed_wait_ms`` after capture, then the newest finished one goes with the frame
(counted as ``embedding_late``): on a busy machine the embedding's rate is shed, not the
cues' latency.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from stream.core.clock import now_ns
from stream.process.stage import Output, StageContext
from stream.sources.base import DeviceError
from stream.sources.video import LatestFrame
from stream.stages.capture import CaptureStage


class VideoStage(CaptureStage):
    modality = "video"

    def __init__(self, cues=None, embed=None) -> None:
        self.cues, self.embed = cues, embed  # frame -> cue vector; frames -> embeddings (fakes in tests)

    def load(self, ctx: StageContext) -> None:
        cfg, v = ctx.cfg, ctx.cfg.video
        device = "cpu"
        if self.cues is None:
            import torch

            from stream.encoders import weights
            from stream.encoders.vision import FaceCues, ImageEmbedder

            torch.set_num_threads(cfg.run.torch_threads)
            device = weights.torch_device(cfg.run.device)
            self.cues = FaceCues(v.face_detector, v.face_threshold, v.facing_max_yaw, v.mouth_landmarks)
            self.embed = ImageEmbedder(device) if v.embed else None
        # The embedding runs beside the face cues, in a thread of its own (both release the
        # GIL): a frame's features come in the longer one's time, not their sum (~18 ms
        # against ~24 ms a frame on this 2-core CPU).
        self.pool = ThreadPoolExecutor(1, "embed") if self.embed is not None else None
        gpu_batches = device.startswith("cuda") and cfg.run.replay and not cfg.run.speed
        self.batch_size = v.batch if gpu_batches else 1
        self.grab: LatestFrame | None = None
        self.n, self.n_emb, self.t_rate = 0, 0, time.monotonic()
        self.wait_ns = int(v.embed_wait_ms * 1e6)
        self.pending: Future | None = None  # the embedding in the works (live: maybe an earlier frame's)
        self.last_emb = None  # the newest finished embedding

    def start(self, origin_ns: int) -> None:
        super().start(origin_ns)
        if not self.timing.replay:
            self.grab = LatestFrame(self.source, on_frame=self.record)  # records every frame
            self.grab.start()

    def _grab(self) -> list[tuple[np.ndarray, int, int]]:
        if self.grab is not None:
            item = self.grab.async_read(0.1)
            self.ctx.stats["dropped"] = self.grab.dropped
            self.device_state(self.grab.away)
            if self.grab.error:
                raise DeviceError(self.grab.error)  # exit: fusion marks video missing; restarted
            if item is None:
                self.done = self.grab.ended
                return []
            return [item]
        batch = []  # replay reads every frame; on a GPU at max speed, several at once
        for _ in range(self.batch_size):
            item = self.source.read()
            if item is None:
                break
            self.record(*item)
            batch.append((*item, now_ns()))
        self.done = not batch
        return batch

    def poll(self) -> list[Output]:
        batch = self._grab()
        if not batch:
            return []
        enc0 = now_ns()
        frames = [b[0] for b in batch]
        if self.pool is not None and self.pending is None:
            self.pending = self.pool.submit(self.embed, frames)
        cue_rows = [self.cues(f) for f in frames]
        embs = self._embeddings(len(frames), batch[-1][2])
        enc1 = now_ns()
        period = int(1e9 / max(self.source.fps, 1.0))
        out = []
        for (_, t, cap_ns), c, e in zip(batch, cue_rows, embs, strict=True):
            parts = {"cues": c} if e is None else {"cues": c, "embedding": e}
            out.append(Output("video", t, t + period, parts,
                              stages={"capture": cap_ns, "encode_start": enc0, "encode_end": enc1},
                              watermark=t + period))
        self._gauges(enc1 - enc0, cue_rows[-1], len(batch))
        return out

    def _embeddings(self, n: int, capture_ns: int) -> list:
        """The embeddings to send with ``n`` frames: their own (replay: always), or live, when
        that is later than the wait allows, the newest finished one (an earlier frame's)."""
        if self.pending is None:
            return [None] * n
        live = self.grab is not None and self.wait_ns > 0
        if live and self.last_emb is not None:
            wait = max(capture_ns + self.wait_ns - now_ns(), 0) / 1e9
            try:
                got = self.pending.result(timeout=wait)
            except TimeoutError:  # still busy: it is collected by a later frame
                self.ctx.stats["embedding_late"] += 1
                return [self.last_emb] * n
        else:
            got = self.pending.result()
        self.pending, self.last_emb = None, got[-1]
        self.n_emb += len(got)  # (a GPU replay embeds a batch of frames at once)
        return got if len(got) == n else [got[-1]] * n

    def _gauges(self, enc_ns: int, cues: np.ndarray, n: int) -> None:
        g = self.ctx.gauges
        g["encode_ms"] = round(enc_ns / 1e6, 1)
        g["face"] = bool(cues[0])
        g["facing"] = bool(cues[0] and cues[6])  # cues: present, score, box x4, facing, yaw, mouth, activity
        g["mouth"] = round(float(cues[9]), 3)
        self.n += n
        if (dt := time.monotonic() - self.t_rate) >= 1.0:
            g["fps"] = round(self.n / dt, 1)
            g["fps_target"] = round(self.source.fps, 1)
            if self.pool is not None:  # fresh scene embeddings a second (fewer: late, shed)
                g["embed_fps"] = round(self.n_emb / dt, 1)
            self.n, self.n_emb, self.t_rate = 0, 0, time.monotonic()

    def close(self) -> None:
        if getattr(self, "pool", None) is not None:
            self.pool.shutdown()
        if self.grab is not None:
            self.grab.close()  # also disconnects the source
            self.grab = None
            if self.rec is not None:
                self.rec.close()
                self.rec = None
            return
        super().close()
