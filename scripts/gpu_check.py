"""GPU check: the CUDA path of the encoders and the video worker, against the CPU.

Run on a machine with an NVIDIA GPU (the repo's device tool does it):
    python scripts/gpu_check.py [OUT.json]
Needs STREAM_MODEL_DIR with mobilenet_v2-b0353104.pth and the two face .tflite
files where the weight packages are not installed, and DEMO_VIDEO (optional).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stream.app.pipeline import Pipeline  # noqa: E402
from stream.core.message import EOS  # noqa: E402
from stream.core.transport import Subscriber  # noqa: E402
from stream.encoders import weights as models  # noqa: E402
from stream.process.stage import RunOptions  # noqa: E402


def med(fn, n=30, warm=5, sync=False) -> float:
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(n):
        if sync:
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        ts.append((time.perf_counter() - t) * 1e3)
    return round(statistics.median(ts), 3)


def frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(ROOT / "demo" / "session" / "video" / "seg_000000.mp4"))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(cv2.resize(f, (320, 240)))
    return out * 4


def encoders(res: dict) -> None:
    from stream.encoders.vision import ImageEmbedder

    fr = frames()
    res["auto_device"] = models.torch_device("auto")
    cpu, gpu = ImageEmbedder("cpu"), ImageEmbedder("cuda")
    a, b = cpu(fr[:16]), gpu(fr[:16])
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    res["embedding_cuda_fp16_vs_cpu_fp32_cosine_min"] = round(float(cos.min()), 5)
    torch.set_num_threads(1)
    res["embed_ms_per_frame_cpu_1thread_b1"] = med(lambda: cpu(fr[:1]), 20)
    for bs in (1, 8, 32):
        res[f"embed_ms_per_frame_cuda_fp16_b{bs}"] = round(med(lambda: gpu(fr[:bs]), sync=True) / bs, 3)


def fusion(res: dict) -> None:
    from stream.intent.fusion_net import LEGACY_SPEC, FusionNet

    for dev in ("cpu", "cuda"):
        net = FusionNet(43, {m: s["dim"] for m, s in LEGACY_SPEC.items()}, "intermediate").to(dev)
        B = 256
        b = {m: torch.randn(B, s["steps"], s["dim"]) for m, s in LEGACY_SPEC.items()}
        for k in LEGACY_SPEC:
            n = b[k].shape[1]
            b[k + "_t"] = -torch.rand(B, n)
            b[k + "_mask"] = torch.ones(B, n, dtype=torch.bool)
        b["available"] = torch.ones(B, len(LEGACY_SPEC), dtype=torch.bool)
        b = {k: v.to(dev) for k, v in b.items()}
        y = torch.randint(0, 43, (B,), device=dev)
        opt = torch.optim.AdamW(net.parameters())

        def step():
            logits, _ = net(b)
            loss = torch.nn.functional.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        res[f"fusion_train_step_ms_b256_{dev}"] = med(step, 10, 3, sync=dev == "cuda")
        net.eval()
        with torch.inference_mode():
            res[f"fusion_forward_ms_b256_{dev}"] = med(lambda: net(b), 20, 3, sync=dev == "cuda")


def video_worker(res: dict, device: str, speed: float) -> None:
    """The real video worker (through a Pipeline) on the demo session; frames/s, capture->features."""
    import zmq

    from stream import config

    cfg = config.load("live", {"run": {"device": device, "replay": True, "speed": speed},
                               "video": {"mouth_landmarks": True}})
    pipe = Pipeline(cfg, RunOptions(sources={"video": f"session:{ROOT / 'demo' / 'session'}"},
                                    scripted=True), [])
    pipe.start()
    sub = Subscriber(zmq.Context.instance(), [pipe.sup.endpoints["video"]], ["video", "wm"], hwm=0)
    try:
        t_end = time.monotonic() + 120
        lat, n, t0 = [], 0, None
        while time.monotonic() < t_end and not pipe.finished:
            pipe.step(0.01)
            while (m := sub.recv(0)) is not None:
                if m.topic == "video":
                    t0 = t0 or time.monotonic()
                    n += 1
                    lat.append((m.stages["receive"] - m.stages["capture"]) / 1e6)
                if m.watermark >= EOS:
                    t_end = 0
        took = time.monotonic() - (t0 or time.monotonic())
        key = f"video_worker_{device}_{'max' if not speed else f'{speed:g}x'}"
        res[key + "_fps"] = round(n / max(took, 1e-9), 1)
        res[key + "_capture_to_features_ms_p50"] = round(float(np.percentile(lat, 50)), 2) if lat else None
        res[key + "_capture_to_features_ms_p95"] = round(float(np.percentile(lat, 95)), 2) if lat else None
        res[key + "_frames"] = n
    finally:
        pipe.stop()
        sub.close()


def main() -> None:
    res: dict = {"torch": torch.__version__, "cuda": torch.cuda.is_available(),
                 "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                 "cpus": os.cpu_count()}
    for step in (encoders, fusion):
        try:
            step(res)
        except Exception as e:  # noqa: BLE001 - report and go on
            res[f"{step.__name__}_error"] = repr(e)[:300]
    for device, speed in (("cuda", 0.0), ("cpu", 0.0), ("cuda", 1.0)):
        try:
            video_worker(res, device, speed)
        except Exception as e:  # noqa: BLE001
            res[f"video_worker_{device}_{speed}_error"] = repr(e)[:300]
    text = json.dumps(res, indent=2)
    print(text)
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text + "\n")


if __name__ == "__main__":
    main()
