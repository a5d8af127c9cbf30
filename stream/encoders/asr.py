"""Streaming speech recognition: VAD-segmented faster-whisper (tiny.en or base: ``asr.model``).

Contract (after whisper_streaming): ``insert_audio_chunk`` feeds audio,
``process_iter`` returns what is new (partials while speech goes on, an early
transcript at each pause, a final once the speaker's turn ends), ``finish``
flushes at end of stream. The early transcript is decoded one chunk before the
pause when the VAD's last frame says the voice may have stopped there. Segmenting by
the VAD keeps Whisper off silence (where it hallucinates) and gives a final
``min_silence_ms`` after the speech ends. Every transcript carries the
origin time span of its speech in monotonic ns.
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from stream.config import AsrConfig, HomeConfig
from stream.encoders import weights as models
from stream.encoders.audio import SR


def decoding_prompt(setting: str, home: HomeConfig | None = None) -> str | None:
    """Whisper's initial prompt for ``asr.prompt``: "auto" names the rooms and devices of the
    home (what commands are about), so the decoder expects those words."""
    if setting != "auto":
        return setting or None
    home = home or HomeConfig()
    words = ", ".join([*home.areas, *home.floors, *home.devices])
    return f"Commands to a smart home assistant. Rooms and devices: {words}."


def model_name(setting: str, device: str) -> str:
    """The Whisper that ``asr.model`` names on this device: "auto" is base on CUDA, tiny.en on
    the CPU (base takes about twice as long to decode a 2 s command there: ~1.1 s at 30 s of
    context, ~270 ms at 10 s; speech end to intent then misses 500 ms)."""
    if setting == "auto":
        return "base" if device.startswith("cuda") else "tiny.en"
    return setting


def second_name(cfg: AsrConfig, device: str) -> str:
    """The recogniser asked for a second opinion on ``device`` ("": none): ``asr.second_model``,
    unless that is the first one (base on CUDA, by "auto") or nothing chooses among hypotheses
    (``asr.n_best`` 1)."""
    if cfg.n_best < 2 or cfg.second_model == model_name(cfg.model, device):
        return ""
    return cfg.second_model


def compute_type(device: str) -> str:
    """CTranslate2's weights as ``load_model`` runs them on ``device`` (transcripts depend on it)."""
    return "float16" if device.startswith("cuda") else "int8"


def load_model(name: str, device: str = "cpu", cpu_threads: int = 2):
    """faster-whisper's model for ``name`` ("tiny.en" or "base"), from the installed weights."""
    from faster_whisper import WhisperModel

    path = models.whisper_base() if name == "base" else models.whisper_tiny_en()
    return WhisperModel(str(path), device=device.split(":")[0], compute_type=compute_type(device),
                        cpu_threads=cpu_threads)


RETRY_BEAM = 5  # a poor greedy final is decoded again with this beam (deterministic)
SENTENCE_END = re.compile(r"(?<!\bMr\.)(?<!\bMrs\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bSt\.)(?<=[.!?])\s+")


def words(text: str) -> list[str]:
    """Lower-case words, punctuation and hyphens dropped (how hypotheses and repeats compare)."""
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


def _matched(earlier: list[str], later: list[str]) -> int:
    """How many of ``later``'s words appear, in order, in ``earlier``."""
    from difflib import SequenceMatcher

    return sum(b.size for b in SequenceMatcher(None, earlier, later, autojunk=False).get_matching_blocks())


def _restarted(sentence: str) -> str:
    """The sentence up to where it starts again: "turn on the kitchen lights turn on my kitchen
    lights". The second part must begin with the sentence's first word, end with a word said
    before, and repeat at least 80 % of its words in order, so "turn on the light and turn on
    the fan" stays whole (the fan is new)."""
    toks = list(re.finditer(r"[\w']+", sentence))
    w = [t.group().lower() for t in toks]
    for k in range(2, len(w) - 1):
        tail = w[k:]
        if w[k] == w[0] and tail[-1] in w[:k] and _matched(w[:k], tail) >= 0.8 * len(tail):
            return sentence[:toks[k].start()].rstrip(" ,;:-")
    return sentence


def drop_repeats(text: str) -> str:
    """The text without what says an earlier part of it again.

    Padded with only a few seconds of silence (``asr.context_s`` of 6), Whisper often says the
    utterance a second time over the silence: "I forgot my keys at the office. I forgot the
    keys at office" (16 of 188 transcripts of the validation and test splits; 1 at 10 s), or
    without a full stop, "turn on the kitchen lights turn on my kitchen lights". The repeat is
    not speech, and it can change what the words are read as (one such repeat fired a
    command). A sentence goes when more than 60 % of its words appear, in order, in one before
    it: "He never listens. He never listened." loses its second half; "Turn on the kitchen
    light. Turn off the kitchen fan." (3 of 5) keeps both. Within a sentence, see
    :func:`_restarted`."""
    kept: list[str] = []
    seen: list[list[str]] = []
    for sentence in SENTENCE_END.split(text.strip()):
        sentence = _restarted(sentence)
        w = words(sentence)
        if w and any(_matched(p, w) > 0.6 * len(w) for p in seen):
            continue
        kept.append(sentence)
        seen.append(w)
    return " ".join(kept)


Hypothesis = tuple[str, float]  # (text, mean token log-probability)


def decode(model, audio: np.ndarray, beam_size: int, prompt: str | None, final: bool = True,
           context_s: float = 30.0) -> str:
    """Whisper's best text for ``audio``, the same for the live path and ``asr-eval``."""
    hyps = hypotheses(model, audio, beam_size, prompt, final, context_s)
    return hyps[0][0] if hyps else ""


def hypotheses(model, audio: np.ndarray, beam_size: int, prompt: str | None, final: bool = True,
               context_s: float = 30.0, n: int = 1) -> list[Hypothesis]:
    """Whisper's ``n`` best hypotheses for ``audio``, best first (none: no words).

    Deterministic: faster-whisper's default falls back to *sampling* at higher temperatures
    when a decode looks poor, so a replay transcribed differently from the last one. Here a
    final that looks poor by the same tests (compression ratio > 2.4: a phrase on a loop;
    mean log-probability < -1) is decoded again with a beam of 5, and phrase loops are
    blocked (``no_repeat_ngram_size``). Test split, whole utterances, WER: greedy 0.76,
    sampling fallback 0.74 (a different result each run), this 0.69; a quarter of the
    utterances take the second decode. No timestamps at all: nothing reads them; segment
    timestamps made the same decodes worse (WER 0.76 vs 0.69) and word timestamps' alignment
    pass cost ~70 ms a final (~550 ms with a prompt). More than one hypothesis, or a window
    under 30 s, decodes through CTranslate2 directly (faster-whisper returns one).
    """
    if (context_s < 30.0 or n > 1) and hasattr(model, "feature_extractor"):  # (scripted fakes: transcribe)
        hyps, ratio, logprob = _short_context(model, audio, context_s, max(beam_size, n), prompt, n)
        if final and max(beam_size, n) < RETRY_BEAM and (ratio > 2.4 or logprob < -1.0):
            hyps = _short_context(model, audio, context_s, RETRY_BEAM, prompt, n)[0]
        return hyps
    opts = {"language": "en", "temperature": 0.0, "no_repeat_ngram_size": 3, "word_timestamps": False,
            "condition_on_previous_text": False, "vad_filter": False, "initial_prompt": prompt,
            "without_timestamps": True}
    segs = list(model.transcribe(audio, beam_size=beam_size, **opts)[0])
    if final and beam_size < RETRY_BEAM and any(
            s.compression_ratio > 2.4 or s.avg_logprob < -1.0 for s in segs):
        segs = list(model.transcribe(audio, beam_size=RETRY_BEAM, **opts)[0])
    text = drop_repeats(" ".join(s.text.strip() for s in segs))
    return [(text, float(np.mean([s.avg_logprob for s in segs])))] if text else []


def second_opinion(model, audio: np.ndarray, cfg: AsrConfig,
                   home: HomeConfig | None = None) -> list[Hypothesis]:
    """A second recogniser's n best for a final's audio (``asr.second_model``), decoded as the
    first recogniser decodes a final."""
    return hypotheses(model, audio, cfg.beam_size, decoding_prompt(cfg.prompt, home), True,
                      cfg.context_s, cfg.n_best)


def _short_context(model, audio: np.ndarray, context_s: float, beam_size: int,
                   prompt: str | None, n: int = 1) -> tuple[list[Hypothesis], float, float]:
    """Whisper over ``context_s`` seconds (the audio, padded with silence) instead of its 30:
    the encoder's cost scales with the context. Returns the ``n`` best hypotheses, and the best
    one's compression ratio and mean log-probability (faster-whisper's poor-decode tests).
    Whisper was trained on 30 s windows: a shorter one costs some words (``asr-eval``; README
    "Speech recognition")."""
    import zlib

    import ctranslate2
    from faster_whisper.tokenizer import Tokenizer

    tok = getattr(model, "_stream_tokenizer", None)  # on the model: never another model's
    if tok is None:
        tok = model._stream_tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual,
                                                  task="transcribe", language="en")
    m = max(len(audio), int(context_s * SR))
    feats = model.feature_extractor(np.pad(audio, (0, m - len(audio))))
    feats = np.ascontiguousarray(feats[None, :, : feats.shape[1] - feats.shape[1] % 2], dtype=np.float32)
    enc = model.model.encode(ctranslate2.StorageView.from_array(feats), to_cpu=False)
    before = tok.encode(" " + prompt.strip()) if prompt else []
    start = model.get_prompt(tok, before, without_timestamps=True)
    r = model.model.generate(enc, [start], beam_size=beam_size, num_hypotheses=n,
                             no_repeat_ngram_size=3, suppress_blank=True, suppress_tokens=[-1],
                             return_scores=True, return_no_speech_prob=True,  # ~3 words a second
                             max_length=len(start) + int(12 + 6 * len(audio) / SR))[0]  # at most
    hyps, seen = [], set()
    for ids, score in zip(r.sequences_ids, r.scores or [0.0] * len(r.sequences_ids), strict=True):
        text = drop_repeats(tok.decode(ids))
        key = " ".join(words(text))
        if key and key not in seen:  # beams often differ in case and punctuation only
            seen.add(key)
            hyps.append((text, score * len(ids) / (len(ids) + 1)))  # as faster-whisper's log-prob
    raw = hyps[0][0].encode() if hyps else b""
    ratio = len(raw) / len(zlib.compress(raw)) if raw else 0.0
    logprob = hyps[0][1] if hyps else 0.0
    # Not words: faster-whisper's no-speech rule, or near-certain silence on its own (padded to
    # 10 s, digital silence comes out as Whisper's "you" with a mean log-probability of -0.65,
    # just inside faster-whisper's cut; its no-speech probability is 0.99 with tiny.en, a
    # command's ~0.1; base, multilingual, is less sure: silence 0.90-0.94, the validation
    # split's commands 0.21 at most).
    silence = 0.85 if model.model.is_multilingual else 0.95
    if (r.no_speech_prob > 0.6 and logprob < -1.0) or r.no_speech_prob > silence:
        return [], ratio, logprob
    return hyps, ratio, logprob


@dataclass
class Transcript:
    text: str
    final: bool
    t_start: int
    t_end: int
    early: bool = False  # decoded at the first pause, before the end of the turn is known
    hypotheses: list[Hypothesis] = field(default_factory=list)  # a final's n best (text: the first)
    audio: np.ndarray | None = field(default=None, repr=False)  # what was decoded (a second opinion's)


class StreamingAsr:
    def __init__(self, cfg: AsrConfig, device: str = "cpu", cpu_threads: int = 2, model=None,
                 live: bool = True, home: HomeConfig | None = None) -> None:
        """``model``: anything with faster-whisper's ``transcribe`` (tests pass a scripted one).
        ``live``: partials give way to a slow machine (spaced by the decode's wall time); a
        replay spaces them by audio time only, so what it transcribes never depends on load."""
        if model is None:
            model = load_model(model_name(cfg.model, device), device, cpu_threads)
        self.model = model
        self.cfg = cfg
        self.prompt = decoding_prompt(cfg.prompt, home)
        self.decode_ms = 0.0
        self.live = live
        self.early = cfg.early == "always" or (cfg.early == "live" and live)
        self.early_n_best = cfg.early_n_best or cfg.n_best
        self._reset()
        self._pre: deque[tuple[np.ndarray, int]] = deque()  # pre-roll: chunks before the onset
        self.audio_wm = -1

    def _reset(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.start_ns: int | None = None  # where the utterance's audio begins (with the pre-roll)
        self.onset_ns = 0  # where the VAD heard speech begin: the transcript's start
        self.speech_end_ns = 0
        self.silence_ms = 0.0
        self.speech_ms = 0.0
        self.last_partial_ms = 0.0
        self.first_silent_ns: int | None = None  # end of the first silent chunk after the speech
        self.spec: Transcript | None = None  # decoded at the chunk where the voice may have stopped
        self.final_t: Transcript | None = None  # the final, decoded at the first pause or after
        self.early_sent = False  # this pause's early transcript is out
        self.trailing = False  # the last chunk was speech whose last VAD frame was low

    @property
    def watermark(self) -> int:
        """No transcript that starts before this time will come any more."""
        return self.onset_ns if self.start_ns is not None else self.audio_wm

    def insert_audio_chunk(self, pcm: np.ndarray, t_start_ns: int, vad_prob: float,
                           tail_prob: float | None = None) -> None:
        """``vad_prob``: the chunk's speech probability (its VAD frames' maximum); ``tail_prob``:
        its last frame's (None: unknown), which says the voice may have stopped inside it."""
        dur_ms = len(pcm) * 1000 / SR
        t_end_ns = t_start_ns + int(len(pcm) * 1e9 / SR)
        speech = vad_prob >= self.cfg.speech_threshold
        self.trailing = speech and tail_prob is not None and tail_prob < self.cfg.speculate_below
        if self.start_ns is None:
            if speech:
                pre = list(self._pre)
                self.chunks = [c for c, _ in pre] + [pcm]
                self.start_ns = pre[0][1] if pre else t_start_ns
                self.onset_ns = t_start_ns
                self.speech_ms, self.silence_ms, self.last_partial_ms = dur_ms, 0.0, 0.0
                self.speech_end_ns = t_end_ns
                self._pre.clear()
            else:
                self._pre.append((pcm, t_start_ns))
                while sum(len(c) for c, _ in self._pre) * 1000 / SR > self.cfg.preroll_ms:
                    self._pre.popleft()
        else:
            self.chunks.append(pcm)
            if speech:
                self.speech_ms += dur_ms
                self.silence_ms = 0.0
                self.speech_end_ns = t_end_ns
                # They went on talking: what was decoded at the pause is void.
                self.spec = self.final_t = self.first_silent_ns = None
                self.early_sent = False
            else:
                self.silence_ms += dur_ms
                if self.first_silent_ns is None:
                    self.first_silent_ns = t_end_ns
        self.audio_wm = t_end_ns

    def _transcribe(self, audio: np.ndarray, final: bool, n_best: int | None = None) -> Transcript:
        """``final``: decoded as a final (a poor greedy one again with a beam), into ``n_best``
        hypotheses (None: asr.n_best); else a partial, greedy."""
        t0 = time.perf_counter()
        try:
            return self._decode(audio, final, n_best)
        finally:
            self.decode_ms = (time.perf_counter() - t0) * 1000  # the last decode's wall time

    def _decode(self, audio: np.ndarray, final: bool, n_best: int | None = None) -> Transcript:
        n = (self.cfg.n_best if n_best is None else n_best) if final else 1
        hyps = hypotheses(self.model, audio, self.cfg.beam_size, self.prompt, final,
                          self.cfg.context_s, n)
        return Transcript(hyps[0][0] if hyps else "", final, self.onset_ns, self.speech_end_ns,
                          hypotheses=hyps if n > 1 else [], audio=audio)

    def _audio_to(self, end_ns: int) -> np.ndarray:
        # (rounded: chunk times are whole samples; the float product can fall just under one)
        return np.concatenate(self.chunks)[:round((end_ns - self.start_ns) * SR / 1e9)]

    def _final(self, n_best: int | None = None) -> Transcript:
        """The utterance and 200 ms after its last speech chunk, but nothing past the first silent
        chunk: the same audio whenever it is decoded (the words' last sounds, which the VAD often
        calls silence, are in it)."""
        end = self.speech_end_ns + 200_000_000
        return self._transcribe(self._audio_to(min(end, self.first_silent_ns or end)), True, n_best)

    def _speculate(self) -> Transcript:
        """The final as it would be if the voice stopped in the last chunk: the speech chunks,
        then 200 ms of digital silence (as Whisper's window pads it anyway). Early answers wait
        on it, so it takes the early transcript's hypotheses (``early_n_best``)."""
        audio = self._audio_to(self.speech_end_ns)
        return self._transcribe(np.pad(audio, (0, int(0.2 * SR))), True, self.early_n_best)

    def process_iter(self) -> list[Transcript]:
        out: list[Transcript] = []
        if self.start_ns is None:
            return out
        total_ms = sum(len(c) for c in self.chunks) * 1000 / SR
        ended = self.silence_ms >= self.cfg.min_silence_ms
        too_long = total_ms >= self.cfg.max_utterance_s * 1000
        long_enough = self.speech_ms >= self.cfg.min_speech_ms
        if ended or too_long:
            if long_enough:
                t = self.final_t or self._final()
                if t.text:
                    out.append(t)
            self._reset()
            return out
        if self.silence_ms > 0:
            # A pause. The final is decoded now, while we wait to see if the turn ended: this
            # takes Whisper's time off the end-of-speech -> intent path. With early answers, the
            # pause's transcript goes out at once (fusion may answer it): the one decoded at the
            # chunk where the voice stopped, if there is one, and then the final at the next chunk.
            if long_enough and self.early and not self.early_sent:
                self.early_sent = True
                if self.spec is None:  # from the final's audio: with as many hypotheses, the final
                    self.spec = self._final(self.early_n_best)
                    if self.early_n_best == self.cfg.n_best:
                        self.final_t = self.spec
                if self.spec.text:
                    out.append(replace(self.spec, final=False, early=True))
            elif long_enough and self.final_t is None:
                self.final_t = self._final()
            return out
        since_ms = total_ms - self.last_partial_ms
        if (self.early and self.trailing and long_enough
                and since_ms >= (self.decode_ms if self.live else 0.0)):
            # The chunk's last VAD frame is low: the voice may have stopped in it. Decode what
            # would be the final now, one chunk sooner; the next chunk says if it was a pause
            # (then it is the early transcript, at once) or a breath (then it was one more
            # partial). Worth more than a partial, so spaced less: decodes take at most half the
            # time.
            self.last_partial_ms = total_ms
            self.spec = self._speculate()
            if self.spec.text:
                out.append(replace(self.spec, final=False, hypotheses=[]))
            return out
        # Partials only show what is being heard; on a busy machine they would starve the final
        # (decodes run one at a time), so they are spaced to take at most 40 % of the time.
        every = max(self.cfg.partial_every_ms, 2.5 * self.decode_ms if self.live else 0.0)
        if since_ms >= every:
            self.last_partial_ms = total_ms
            t = self._transcribe(np.concatenate(self.chunks), final=False)
            if t.text:
                out.append(t)
        return out

    def finish(self) -> list[Transcript]:
        if self.start_ns is None:
            return []
        self.silence_ms = float(self.cfg.min_silence_ms)
        return self.process_iter()
