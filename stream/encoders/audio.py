"""Audio encoders: torchaudio log-mel, silero VAD, and a per-chunk embedding.

Chunks are float32 mono 16 kHz, a multiple of 512 samples (silero's frame).
The embedding is the log-mel statistics of the chunk (mean and standard
deviation per mel band, 2 x n_mels): cheap, stable, and what the learned
fusion model consumes; no pretrained audio-event network is available
offline here.

torch is imported where it is used, not at the top: the launcher and the sources need only
``SR`` and ``to_mono_16k`` from here, and a process that loads no model stays lean.
"""

from __future__ import annotations

import numpy as np

SR = 16000
VAD_FRAME = 512


class LogMel:
    def __init__(self, n_mels: int = 64) -> None:
        import torchaudio

        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SR, n_fft=400, win_length=400, hop_length=160, n_mels=n_mels, center=True)
        self.n_mels = n_mels

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            m = self.mel(torch.from_numpy(chunk))
        return torch.log(m + 1e-6).T.contiguous().numpy()  # (frames, n_mels)


class Vad:
    """Streaming silero VAD (stateful across calls): speech probability per 32 ms frame.

    Silero's recurrent state drifts over a long stream: tens of seconds in, it can score a clear
    word at 0.05 that a fresh state scores at 0.9 (test split, "bedroom play the previous song
    again" lost its first word; silero-vad issue #725, Pipecat resets every 5 s). So the state is
    reset once ``reset_s`` of audio has passed, at the first chunk that sounds silent (never in
    the middle of what it hears as speech); counted in audio, not wall time, so a replay is
    the same every time. 0: never."""

    def __init__(self, reset_s: float = 0.0, model=None, silent: float = 0.5) -> None:
        """``model``: silero's (loaded here if None; tests pass a scripted one). ``silent``: a
        chunk whose frames all score under it sounds silent (the recogniser's speech threshold,
        so a reset never falls inside what it hears as an utterance)."""
        if model is None:
            from silero_vad import load_silero_vad

            model = load_silero_vad(onnx=False)
        self.model = model
        self.silent = silent
        self.reset_every = int(reset_s * SR)
        self.since = 0  # samples since the state was last reset
        self.resets = 0

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            p = np.array([float(self.model(torch.from_numpy(chunk[i:i + VAD_FRAME]), SR))
                          for i in range(0, len(chunk) - VAD_FRAME + 1, VAD_FRAME)], np.float32)
        self.since += len(chunk)
        if self.reset_every and self.since >= self.reset_every and not (p >= self.silent).any():
            self.model.reset_states()
            self.since, self.resets = 0, self.resets + 1
        return p


class AudioEncoder:
    """One chunk in, (log-mel, embedding, VAD probability per 32 ms frame) out."""

    def __init__(self, n_mels: int = 64, vad_reset_s: float = 0.0, silent: float = 0.5) -> None:
        self.logmel = LogMel(n_mels)
        self.vad = Vad(vad_reset_s, silent=silent)
        self.dim = 2 * n_mels

    @classmethod
    def for_config(cls, cfg) -> AudioEncoder:
        """As the audio worker runs it: ``cfg``'s mel bands, VAD resets, and the recogniser's
        speech threshold as what sounds silent."""
        return cls(cfg.audio.n_mels, cfg.audio.vad_reset_s, cfg.asr.speech_threshold)

    def __call__(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lm = self.logmel(chunk)
        emb = np.concatenate([lm.mean(0), lm.std(0)]).astype(np.float32)
        return lm, emb, self.vad(chunk)


def to_mono_16k(x: np.ndarray, sr: int) -> np.ndarray:
    """Any soundfile output (frames[, channels]) at any rate -> float32 mono 16 kHz."""
    if x.ndim == 2:
        x = x.mean(1)
    x = x.astype(np.float32)
    if sr != SR:
        import torch
        import torchaudio.functional as F

        x = F.resample(torch.from_numpy(x), sr, SR).numpy()
    return x
