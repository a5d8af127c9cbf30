"""Video encoders: face cues (BlazeFace + face mesh, or Haar) and a MobileNetV2 embedding.

Frames are BGR uint8 (OpenCV's layout) of any size.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from stream.encoders import weights as models
from stream.modalities.video import CUE_NAMES, EMBED_DIM


@dataclass
class Face:
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in [0, 1] of the frame
    yaw: float  # nose offset from the eye midpoint, in eye distances (0 = frontal)
    keypoints: np.ndarray | None = None  # (6, 2) in [0, 1]: r-eye, l-eye, nose, mouth, r-ear, l-ear


def _anchors() -> np.ndarray:
    """SSD anchor centres of MediaPipe's short-range face detector (896 x 2)."""
    out = []
    for grid, per_cell in ((16, 2), (8, 6)):
        ys, xs = np.mgrid[0:grid, 0:grid]
        c = np.stack([(xs + 0.5) / grid, (ys + 0.5) / grid], -1).reshape(-1, 2)
        out.append(np.repeat(c, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


def _letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """Pad to a square and resize; returns image and the (scale, pad_x, pad_y) to undo it."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    px, py = (side - w) // 2, (side - h) // 2
    sq = cv2.copyMakeBorder(rgb, py, side - h - py, px, side - w - px, cv2.BORDER_CONSTANT)
    return cv2.resize(sq, (size, size), interpolation=cv2.INTER_AREA), side, px, py


class BlazeFaceDetector:
    """MediaPipe short-range BlazeFace (128 px), run with LiteRT. ~1-2 ms a frame."""

    def __init__(self, threshold: float = 0.6) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.it = Interpreter(
            model_path=str(models.face_tflite("face_detection_short_range.tflite")), num_threads=1
        )
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]["index"]
        outs = {d["name"]: d["index"] for d in self.it.get_output_details()}
        self.reg, self.cls = outs["regressors"], outs["classificators"]
        self.anchors = _anchors()
        self.threshold = threshold

    def detect(self, bgr: np.ndarray) -> list[Face]:
        h, w = bgr.shape[:2]
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        img, side, px, py = _letterbox(rgb, 128)
        self.it.set_tensor(self.inp, (img.astype(np.float32) / 127.5 - 1.0)[None])
        self.it.invoke()
        reg = self.it.get_tensor(self.reg)[0]
        logits = np.clip(self.it.get_tensor(self.cls)[0, :, 0], -50, 50)
        scores = 1 / (1 + np.exp(-logits))
        idx = np.nonzero(scores >= self.threshold)[0]
        if idx.size == 0:
            return []
        r = reg[idx] / 128.0
        a = self.anchors[idx]
        cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
        bw, bh = r[:, 2], r[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
        kps = r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]
        keep = _nms(boxes, scores[idx], 0.3)
        faces = []
        for k in keep:
            # Undo the letterbox: square [0,1] coords -> frame [0,1] coords.
            def to_frame(xy: np.ndarray) -> np.ndarray:
                return np.stack([(xy[..., 0] * side - px) / w, (xy[..., 1] * side - py) / h], -1)

            b = to_frame(boxes[k].reshape(2, 2)).reshape(4).clip(0, 1)
            kp = to_frame(kps[k])
            eye_d = abs(kps[k][1, 0] - kps[k][0, 0]) + 1e-6
            yaw = float((kps[k][2, 0] - (kps[k][0, 0] + kps[k][1, 0]) / 2) / eye_d)
            faces.append(Face(float(scores[idx][k]), tuple(map(float, b)), yaw, kp))
        return faces


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    order = list(np.argsort(-scores))
    keep: list[int] = []
    while order:
        i = order.pop(0)
        keep.append(i)
        rest = []
        for j in order:
            xx0, yy0 = max(boxes[i, 0], boxes[j, 0]), max(boxes[i, 1], boxes[j, 1])
            xx1, yy1 = min(boxes[i, 2], boxes[j, 2]), min(boxes[i, 3], boxes[j, 3])
            inter = max(0.0, xx1 - xx0) * max(0.0, yy1 - yy0)
            union = ((boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
                     + (boxes[j, 2] - boxes[j, 0]) * (boxes[j, 3] - boxes[j, 1]) - inter)
            if inter / max(union, 1e-9) < iou:
                rest.append(j)
        order = rest
    return keep


class HaarDetector:
    """OpenCV's frontal-face Haar cascade: frontal faces only, so detection implies facing."""

    def __init__(self, threshold: float = 0.0) -> None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise models.ModelMissing(f"{path}: Haar cascade missing from opencv-python-headless")

    def detect(self, bgr: np.ndarray) -> list[Face]:
        h, w = bgr.shape[:2]
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        found = self.cascade.detectMultiScale(gray, 1.1, 4, minSize=(max(20, h // 10),) * 2)
        return [Face(1.0, (x / w, y / h, (x + fw) / w, (y + fh) / h), 0.0) for x, y, fw, fh in found]


class FaceMesh:
    """MediaPipe face mesh (468 landmarks, 192 px crop); used for the lip gap."""

    def __init__(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.it = Interpreter(model_path=str(models.face_tflite("face_landmark.tflite")),
                              num_threads=1)
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]["index"]
        outs = {d["name"]: d["index"] for d in self.it.get_output_details()}
        self.lm, self.flag = outs["conv2d_20"], outs["conv2d_30"]

    def mouth_open(self, bgr: np.ndarray, box: tuple[float, float, float, float]) -> float:
        """Inner-lip gap over face height (0 closed, ~0.1+ wide open)."""
        h, w = bgr.shape[:2]
        cx, cy = (box[0] + box[2]) / 2 * w, (box[1] + box[3]) / 2 * h
        side = 1.5 * max((box[2] - box[0]) * w, (box[3] - box[1]) * h)
        x0, y0 = int(cx - side / 2), int(cy - side / 2)
        pad = int(side)
        padded = cv2.copyMakeBorder(bgr, pad, pad, pad, pad, cv2.BORDER_CONSTANT)
        crop = padded[y0 + pad:y0 + pad + int(side), x0 + pad:x0 + pad + int(side)]
        if crop.size == 0:
            return 0.0
        rgb = cv2.cvtColor(cv2.resize(crop, (192, 192)), cv2.COLOR_BGR2RGB)
        self.it.set_tensor(self.inp, (rgb.astype(np.float32) / 255.0)[None])
        self.it.invoke()
        lm = self.it.get_tensor(self.lm).reshape(468, 3)
        gap = np.linalg.norm(lm[13, :2] - lm[14, :2])
        face_h = np.linalg.norm(lm[10, :2] - lm[152, :2]) + 1e-6
        return float(gap / face_h)


class FaceCues:
    """Face present / box / facing / mouth activity for a stream of frames."""

    def __init__(self, detector: str = "blazeface", threshold: float = 0.6,
                 facing_max_yaw: float = 0.35, mouth_landmarks: bool = True,
                 history: int = 8) -> None:
        self.detector = BlazeFaceDetector(threshold) if detector == "blazeface" else HaarDetector()
        self.mesh = FaceMesh() if mouth_landmarks else None
        self.facing_max_yaw = facing_max_yaw
        self.mouth_hist: deque[float] = deque(maxlen=history)

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        faces = self.detector.detect(bgr)
        if not faces:
            self.mouth_hist.clear()
            return np.zeros(len(CUE_NAMES), np.float32)
        # The largest face is the one talking to us.
        f = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        mouth = self.mesh.mouth_open(bgr, f.box) if self.mesh else 0.0
        self.mouth_hist.append(mouth)
        activity = float(np.std(self.mouth_hist)) if len(self.mouth_hist) > 1 else 0.0
        facing = float(abs(f.yaw) <= self.facing_max_yaw)
        return np.array([1.0, f.score, *f.box, facing, f.yaw, mouth, activity], np.float32)


# MobileNetV2's inverted residual blocks: expansion t, output channels c, repeats n, stride s.
_MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                 (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_v2_features():
    """torchvision's ``mobilenet_v2().features`` (width 1.0), written out with the same module
    names, so torchvision's state dict loads as it is: importing torchvision took ~1.4 s of
    every torch worker's start-up (the fork server imports for all of them) for this alone."""
    from torch import nn

    def conv_bn(i: int, o: int, k: int, stride: int, groups: int = 1) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(i, o, k, stride, (k - 1) // 2, groups=groups, bias=False),
                             nn.BatchNorm2d(o), nn.ReLU6(inplace=True))

    class InvertedResidual(nn.Module):
        def __init__(self, i: int, o: int, stride: int, t: int) -> None:
            super().__init__()
            hidden = i * t
            self.residual = stride == 1 and i == o
            layers = [conv_bn(i, hidden, 1, 1)] if t != 1 else []
            layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden),
                       nn.Conv2d(hidden, o, 1, bias=False), nn.BatchNorm2d(o)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.residual else self.conv(x)

    layers, c_in = [conv_bn(3, 32, 3, 2)], 32
    for t, c, n, s in _MOBILENET_V2:
        for k in range(n):
            layers.append(InvertedResidual(c_in, c, s if k == 0 else 1, t))
            c_in = c
    layers.append(conv_bn(c_in, 1280, 1, 1))
    return nn.Sequential(*layers)


class ImageEmbedder:
    """MobileNetV2 with torchvision's official ImageNet weights -> 1280-d, pooled.

    On CUDA it runs in fp16 and takes batches; on the CPU fp32, one code path.
    """

    dim = EMBED_DIM

    def __init__(self, device: str = "cpu", size: int = 224) -> None:
        import torch

        self.torch = torch
        self.device = device
        state = torch.load(models.mobilenet_v2_weights(), map_location="cpu", weights_only=True)
        net = mobilenet_v2_features()
        net.load_state_dict({k.removeprefix("features."): v for k, v in state.items()
                             if k.startswith("features.")})  # strict: every weight, no classifier
        self.dtype = torch.float16 if device.startswith("cuda") else torch.float32
        features = net.eval().to(device).to(self.dtype)
        # Traced and frozen: ~30% faster on the CPU (bench: image_embedding_ms_224).
        with torch.inference_mode():
            example = torch.zeros(1, 3, size, size, device=device, dtype=self.dtype)
            # (No trace check: it runs and traces the model again, ~0.9 s of the video worker's
            # start-up, the slowest worker's and so the first prediction's; nothing in the model
            # branches on its input, and tests compare the output with the plain model's.)
            self.features = torch.jit.freeze(torch.jit.trace(features, example, check_trace=False))
        self.size = size
        self.mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)

    def __call__(self, frames: list[np.ndarray]) -> np.ndarray:
        torch = self.torch
        batch = np.stack([cv2.resize(cv2.cvtColor(f, cv2.COLOR_BGR2RGB), (self.size, self.size),
                                     interpolation=cv2.INTER_AREA) for f in frames])
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float() / 255.0
            x = ((x - self.mean) / self.std).to(self.dtype)
            y = self.features(x).mean((2, 3))
        return y.float().cpu().numpy()
