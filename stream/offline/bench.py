"""``launch.py bench``: latency and throughput on this machine.

Every figure is a median (p50) or tail (p95/p99) over repeated runs in one
invocation, so figures from the same run can be compared. Sections:

* transport: ZeroMQ (our envelope, ipc, as between the workers) against
  ``multiprocessing.Queue`` with pickle, in the same run: one-way latency and
  messages per second at 1 KB, 100 KB and 1 MB;
* encoders: per frame, audio chunk, sentence, utterance, fusion window;
* pipeline: the real worker processes on real media, paced in real time:
  end of a spoken command -> its intent, typed line -> its prediction,
  frame capture -> its features (320x240 at 15 fps); and the same commands
  played into a virtual room and heard through PortAudio, interleaved with
  the same commands from a file (when PulseAudio is installed; not in --quick;
  ``python -m stream.offline.bench ROUNDS`` runs only this comparison);
* loaded: the pipeline section again while other processes keep every core busy;
* processes: ``live`` started as a user starts it: launch to first prediction,
  memory (RSS, PSS) and CPU per process;
* sessions: replay speed, recording size.

``python -m stream.offline.bench trace ROUNDS`` (not in the full bench) times each spoken
command's way through the workers: VAD, early transcript, text item, intent, final.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stream.core.clock import now_ns
from stream.offline import media

if TYPE_CHECKING:
    from stream.core.message import Message
    from stream.fusion.align import Window

WANT = {"turn on the kitchen lights": "HassTurnOn", "set a timer for five minutes": "HassStartTimer",
        "what is the weather like today": "HassGetWeather", "turn off the bedroom lights": "HassTurnOff",
        "pause the music": "HassMediaPause", "what time is it": "HassGetCurrentTime"}
COMMANDS = list(WANT)
TYPED_GAP_S = 0.4  # between typed lines in a pipeline run


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(xs, q)), 2) if xs else float("nan")


def summary(xs: list[float]) -> dict:
    return {"n": len(xs), "p50": pct(xs, 50), "p95": pct(xs, 95), "p99": pct(xs, 99)}


def timeit(fn, n: int, warm: int = 3) -> dict:
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return summary(ts)


# -- transport ------------------------------------------------------------------
SIZES = {"1KB": 1 << 10, "100KB": 100 << 10, "1MB": 1 << 20}
PACE_S = 0.005
BURST = {"1KB": 10.0, "100KB": 2.0, "1MB": 0.2}  # messages in a throughput burst, per paced one


def _zmq_sender(ep: str, size: int, n: int, pace_s: float) -> None:
    """A child process publishing ``n`` messages of ``size`` bytes as the workers do."""
    import zmq

    from stream.core.message import Message
    from stream.core.transport import Publisher

    ctx = zmq.Context()
    pub = Publisher(ctx, ep, hwm=0)
    payload = np.zeros(size // 4, np.float32)
    time.sleep(0.5)  # let the subscriber connect (a PUB drops what it sends before)
    for i in range(n):
        pub.send(Message("b", i, 0, 0, 0, {"x": payload}, topic="b"))
        if pace_s:
            time.sleep(pace_s)
    pub.send(Message("b", n, 0, 0, 0, meta={"end": True}, topic="b"))
    time.sleep(0.5)
    pub.close()
    ctx.term()


def _queue_sender(q, size: int, n: int, pace_s: float) -> None:
    """The same through a ``multiprocessing.Queue`` (pickled by its feeder thread)."""
    payload = np.zeros(size // 4, np.float32)
    for i in range(n):
        q.put({"i": i, "t": now_ns(), "x": payload})
        if pace_s:
            time.sleep(pace_s)
    q.put(None)
    q.close()
    q.join_thread()


def _over_zmq(size: int, n: int, pace_s: float) -> list[tuple[int, int]]:
    """(sent, received) times of each message, over ipc as between the workers."""
    import multiprocessing as mp

    import zmq

    from stream.core.transport import Subscriber

    with tempfile.TemporaryDirectory() as d:
        ep = f"ipc://{d}/b"
        sub = Subscriber(zmq.Context.instance(), [ep], ["b"], hwm=0)
        proc = mp.get_context("spawn").Process(target=_zmq_sender, args=(ep, size, n, pace_s))
        proc.start()
        got = []
        while (m := sub.recv(10_000)) is not None and not m.meta.get("end"):
            got.append((m.stages["publish"], m.stages["receive"]))
        proc.join()
        sub.close()
    return got


def _over_queue(size: int, n: int, pace_s: float) -> list[tuple[int, int]]:
    import multiprocessing as mp
    import queue

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_queue_sender, args=(q, size, n, pace_s))
    proc.start()
    got = []
    while True:
        try:
            m = q.get(timeout=10)
        except queue.Empty:
            break
        if m is None:
            break
        got.append((m["t"], now_ns()))
    proc.join()
    return got


def bench_transport(n: int) -> dict:
    """ZeroMQ (our envelope, ipc) against ``multiprocessing.Queue`` with pickle, in the same run:
    one-way latency (paced, ``PACE_S`` apart: below either's top rate, so nothing backs up) and
    messages per second (as fast as the sender can)."""
    out: dict = {"zmq": {}, "mp_queue": {}, "zmq_over_queue_msgs_per_s": {}}
    for label, size in SIZES.items():
        burst = max(20, int(n * BURST[label]))
        for name, path in (("zmq", _over_zmq), ("mp_queue", _over_queue)):
            lat = [(r - s) / 1e6 for s, r in path(size, n, PACE_S)][5:]
            got = path(size, burst, 0.0)
            rate = (len(got) - 1) / ((got[-1][1] - got[0][1]) / 1e9) if len(got) > 1 else 0.0
            out[name][label] = {**summary(lat), "msgs_per_s": round(rate)}
        q = out["mp_queue"][label]["msgs_per_s"]
        out["zmq_over_queue_msgs_per_s"][label] = round(out["zmq"][label]["msgs_per_s"] / q, 2) if q else None
    return out


# -- encoders ---------------------------------------------------------------------
def synthetic_window(cfg, text_emb: np.ndarray, text: str) -> Window:
    """A 2 s window of every registered modality, its items shaped by the modality's schema
    (so this cannot drift from what the workers publish), with a text at 1 s."""
    from stream.fusion.align import Item, Window
    from stream.modalities.registry import modalities

    S = 1_000_000_000
    items, status = {}, {}
    for m in modalities(cfg):
        parts = {k: np.zeros(f.shape, f.dtype) for k, f in m.parts(cfg).items() if f.cache}
        if m.events:
            parts = {**parts, "embedding": text_emb}
            items[m.name] = [Item(S, S, parts, {"text": text, "source": "asr"}, 0)]
        else:
            items[m.name] = [Item(t, t + S // 15, parts, {"vad": 0.9}, 0) for t in range(0, 2 * S, S // 15)]
        status[m.name] = "ok"
    return Window(0, 2 * S, items, status)


def bench_encoders(n: int) -> dict:
    import cv2
    import torch

    from stream.config import Config
    from stream.encoders.asr import StreamingAsr
    from stream.encoders.audio import SR, AudioEncoder, to_mono_16k
    from stream.encoders.text import TextEmbedder
    from stream.encoders.vision import FaceCues, ImageEmbedder
    from stream.intent.checkpoint import load_model

    torch.set_num_threads(1)
    cfg = Config()
    frames = [cv2.resize(f, (320, 240)) for f in media.read_video(media.carphone_path())]
    cues = FaceCues()
    emb = ImageEmbedder("cpu")
    it = iter(frames * 100)
    out = {"face_cues_ms_320x240": timeit(lambda: cues(next(it)), n),
           "image_embedding_ms_224": timeit(lambda: emb([frames[0]]), n)}
    x, sr = media.espeak(COMMANDS[0])
    x = to_mono_16k(x, sr)
    enc = AudioEncoder.for_config(cfg)  # as the audio worker
    out["audio_chunk_ms_96ms"] = timeit(lambda: enc(x[:1536]), n)
    te = TextEmbedder()
    out["sentence_embedding_ms"] = timeit(lambda: te([COMMANDS[1]]), n)
    asr = StreamingAsr(cfg.asr, cpu_threads=2)
    audio = np.concatenate([x, np.zeros(SR // 2, np.float32)])

    def utterance():
        asr.start_ns, asr.chunks, asr.speech_end_ns = 0, [audio], int(len(x) / SR * 1e9)
        asr._transcribe(audio, final=True)
    out["asr_final_ms_per_utterance"] = timeit(utterance, max(5, n // 10), warm=1)
    out["asr_utterance_s"] = round(len(x) / SR, 2)
    model = load_model("", cfg)
    w = synthetic_window(cfg, te([COMMANDS[0]])[0], COMMANDS[0])
    out["fusion_ms_per_window"] = timeit(lambda: model.predict(w), n)
    return out


# -- pipeline -----------------------------------------------------------------------
def _media(d: Path, n_commands: int, tail_s: float = 0.0) -> tuple[Path, Path, list[tuple[float, str]]]:
    """A 320x240 15 fps face video and a WAV of commands spaced 3 s apart, then ``tail_s`` more
    seconds of silence."""
    import cv2
    import soundfile as sf

    from stream.encoders.audio import SR, to_mono_16k

    frames = [cv2.resize(f, (320, 240)) for f in media.read_video(media.carphone_path())[::2]]
    video = d / "face_320x240_15fps.mp4"
    media.write_video(video, frames, 15.0)
    pieces, ends, t = [np.zeros(SR, np.float32)], [], 1.0
    for i in range(n_commands):
        text = COMMANDS[i % len(COMMANDS)]
        x, sr = media.espeak(text)
        x = to_mono_16k(x, sr)
        pieces += [x, np.zeros(int(2.5 * SR), np.float32)]
        # Timed from where the voice ends, not from the end of espeak's output (its ~0.35 s of
        # silence made every figure before 2026-11-28 afternoon that much too kind).
        ends.append((t + media.voice_end_s(x, SR), text))
        t += len(x) / SR + 2.5
    wav = d / "commands.wav"
    sf.write(wav, np.concatenate([*pieces, np.zeros(int(tail_s * SR), np.float32)]), SR)
    return video, wav, ends


def bench_config(**sections):
    """The live config with these sections overridden."""
    from stream import config as config_mod

    return config_mod.load("live", sections)


def _spoken_latencies(ends, arrivals, origin: int, early: list[bool] | None = None) -> list[float]:
    """Per command: the first right prediction after its speech ended, before the next began.
    ``early``: gets, per answered command, whether the answer was early (semantic end of turn)."""
    out = []
    for i, (end_s, text) in enumerate(ends):
        lo = origin + int((end_s - 0.5) * 1e9)
        hi = origin + int(((ends[i + 1][0] - 1.5) if i + 1 < len(ends) else end_s + 3) * 1e9)
        hit = [(rt, p) for rt, p in arrivals if p["intent"] == WANT[text] and lo <= rt < hi]
        if hit:
            out.append((hit[0][0] - origin - int(end_s * 1e9)) / 1e6)
            if early is not None:
                early.append(bool(hit[0][1].get("early")))
    return out


def bench_pipeline(n_commands: int, n_typed: int) -> dict:
    """Spoken commands and typed lines through the real workers, paced in real time."""
    right: list[bool] = []
    speech, typed, cap_lat = _file_run(n_commands, n_typed, typed_right=right)
    return {
        "spoken_end_to_intent_ms": {**summary(speech), "recognised": f"{len(speech)}/{n_commands}"},
        "typed_to_prediction_ms": {**summary(typed), "answered": f"{len(typed)}/{n_typed}",
                                   "right_intent": f"{sum(right)}/{n_typed}"},
        "frame_capture_to_features_ms_320x240_15fps": summary(cap_lat),
    }


class _Tap(threading.Thread):
    """A worker's messages of one topic, each stamped as it arrives: read in a thread of its own,
    because the supervisor's poll holds the main thread for its whole timeout (read between
    polls, a frame's latency read up to 20 ms high; the figures before 2026-12-06 evening did)."""

    def __init__(self, endpoint: str, topic: str) -> None:
        import zmq

        from stream.core.transport import Subscriber

        super().__init__(daemon=True)
        self.sub = Subscriber(zmq.Context.instance(), [endpoint], [topic], hwm=0)
        self.got: list[Message] = []  # stages["receive"]: when it arrived
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            if (m := self.sub.recv(50)) is not None:
                self.got.append(m)
        self.sub.close()

    def close(self) -> list[Message]:
        self.done.set()
        self.join()
        return self.got


def _file_run(n_commands: int, n_typed: int, asr: dict | None = None, early: list[bool] | None = None,
              trace: dict | None = None, typed_right: list[bool] | None = None,
              ) -> tuple[list[float], list[float], list[float]]:
    """One paced run from files: spoken, typed and frame latencies (ms). ``asr``: overrides;
    ``early``: gets whether each answered command was answered early; ``typed_right``: whether
    each answered typed line got its command's intent (lines come ``TYPED_GAP_S`` apart, a
    few to a fusion window: each must be read alone); ``trace``: gets the run's
    origin, the commands' ends, the predictions and the audio, ASR and text workers' messages."""
    from stream.app.pipeline import Pipeline
    from stream.app.sinks import MemorySink
    from stream.core.message import Topic
    from stream.process.stage import RunOptions

    with tempfile.TemporaryDirectory() as d:
        # The microphone stays on while lines are typed, as in use: a file that ended under them
        # left fusion waiting on a stale audio stream (its 50 ms event deadline) for the first.
        video, wav, ends = _media(Path(d), n_commands, TYPED_GAP_S * n_typed + 1.0)
        sink = MemorySink()
        pipe = Pipeline(bench_config(video={"loop": True}, asr=asr or {}),
                        RunOptions(sources={"video": str(video), "audio": str(wav)}), [sink])
        origin = pipe.start()
        taps = {"video": _Tap(pipe.sup.endpoints["video"], "video")}
        if trace is not None:
            taps |= {w: _Tap(pipe.sup.endpoints[w], t) for w, t in
                     (("audio", "audio"), ("asr", Topic.TRANSCRIPT), ("text", "text"))}
        for tap in taps.values():
            tap.start()
        while now_ns() < origin + int((ends[-1][0] + 2.0) * 1e9):
            pipe.step(0.02)
        got = {w: tap.close() for w, tap in taps.items()}
        cap_lat = [(m.stages["receive"] - m.stages["capture"]) / 1e6 for m in got["video"]]
        sent: list[tuple[str, int]] = []  # typed lines, in order: from `say` to their answer
        for i in range(n_typed):
            # The commands as a user types them: no tag to tell repeats apart (a tag is words
            # too: "(line 0)" read as "off"); answers are matched in order instead.
            text = COMMANDS[i % len(COMMANDS)]
            sent.append((text, now_ns()))
            pipe.send_text(text)
            t_end = time.monotonic() + TYPED_GAP_S
            while time.monotonic() < t_end:
                pipe.step(0.01)
        pipe.stop()
    arrivals = list(zip(sink.arrived_ns, sink.predictions, strict=True))
    if trace is not None:
        trace.update(got, origin=origin, ends=ends, arrivals=arrivals)
    speech = _spoken_latencies(ends, arrivals, origin, early)
    answers = _typed_answers(sent, arrivals)
    typed = [(a[0] - t) / 1e6 for (_, t), a in zip(sent, answers, strict=True) if a is not None]
    if typed_right is not None:
        typed_right += [a[1].get("intent") == WANT[text]
                        for (text, _), a in zip(sent, answers, strict=True) if a is not None]
    return speech, typed, cap_lat


def _typed_answers(sent: list[tuple[str, int]],
                   arrivals: list[tuple[int, dict]]) -> list[tuple[int, dict] | None]:
    """Per typed line (its words, when sent): its answer (arrival, prediction), or None. Each
    text gets one answer, in order (an ``event`` prediction carrying its words), so a line's is
    the first such one after it was sent and before the same words were sent again."""
    out: list[tuple[int, dict] | None] = []
    used: set[int] = set()
    for k, (text, t) in enumerate(sent):
        until = next((t2 for text2, t2 in sent[k + 1:] if text2 == text), None)
        j = next((j for j, (rt, p) in enumerate(arrivals) if j not in used and p.get("event")
                  and p.get("text") == text and rt >= t and (until is None or rt < until)), None)
        if j is not None:
            used.add(j)
        out.append(arrivals[j] if j is not None else None)
    return out


def _wav_start_ns(received: list[tuple[int, np.ndarray]], wav: Path) -> int:
    """When (event time) the played file began, found by cross-correlating it with what the
    microphone delivered (each chunk placed at its own time). The file may have begun before
    the first chunk received (a negative lag): searched too. Without it, 3 of 12 microphone runs
    placed the file ~13 s late on a spurious peak and matched none of its commands."""
    import soundfile as sf

    from stream.encoders.audio import SR

    t0 = received[0][0]
    n = (received[-1][0] - t0) * SR // 1_000_000_000 + len(received[-1][1])
    heard = np.zeros(int(n), np.float32)
    for t, x in received:
        i = (t - t0) * SR // 1_000_000_000
        heard[i:i + len(x)] = x[:max(0, len(heard) - i)]
    src = sf.read(wav, dtype="float32")[0]
    size = 1 << int(np.ceil(np.log2(len(heard) + len(src))))
    corr = np.fft.irfft(np.fft.rfft(heard, size) * np.conj(np.fft.rfft(src, size)), size)
    lags = np.r_[np.arange(len(heard)), np.arange(1 - len(src), 0)]  # circular: size - k is -k
    k = int(np.argmax(np.r_[corr[:len(heard)], corr[size - len(src) + 1:]]))
    return t0 + int(lags[k]) * 1_000_000_000 // SR


def _mic_run(n_commands: int) -> list[float]:
    """The same spoken commands played into a virtual room (PulseAudio) and heard through
    PortAudio, as a user's microphone would: speech end to intent (ms) per command heard."""
    import zmq

    from stream.app.pipeline import Pipeline
    from stream.app.sinks import MemorySink
    from stream.core.transport import Subscriber
    from stream.offline.virtual_room import VirtualRoom
    from stream.process.stage import RunOptions

    with tempfile.TemporaryDirectory() as d, VirtualRoom(48000, 2) as room:
        video, wav, ends = _media(Path(d), n_commands)
        sink = MemorySink()
        pipe = Pipeline(bench_config(video={"loop": True}),
                        RunOptions(sources={"video": str(video), "audio": "default"}), [sink])
        pipe.start()
        audio = Subscriber(zmq.Context.instance(), [pipe.sup.endpoints["audio"]], ["audio"], hwm=0)
        received: list[tuple[int, np.ndarray]] = []
        player = room.play(wav)
        stop_at = time.monotonic() + ends[-1][0] + 4.0
        while time.monotonic() < stop_at:
            pipe.step(0.02)
            while (m := audio.recv(0)) is not None:
                received.append((m.t_start, np.array(m.parts["pcm"])))
        player.wait(10)
        pipe.stop()
        audio.close()
        start = _wav_start_ns(received, wav)
    return _spoken_latencies(ends, list(zip(sink.arrived_ns, sink.predictions, strict=True)), start)


def bench_spoken_paths(n_commands: int, rounds: int = 1) -> dict:
    """Speech end to intent from a file and through the microphone, interleaved (mic, file,
    file, mic per round) so that neither gains from running second: the first runs of a
    process pay for cold caches, a cost that would otherwise be charged to one path."""
    import shutil

    if shutil.which("pulseaudio") is None:
        return {"skipped": "pulseaudio is not installed (setup.sh installs it)"}
    got: dict[str, list[float]] = {"file": [], "mic": []}
    runs = []
    for path in ("mic", "file", "file", "mic") * rounds:
        speech = _file_run(n_commands, 0)[0] if path == "file" else _mic_run(n_commands)
        got[path] += speech
        runs.append({"path": path, "p50": pct(speech, 50), "recognised": f"{len(speech)}/{n_commands}"})
    n = 2 * rounds * n_commands
    out = {f"{path}_spoken_end_to_intent_ms": {**summary(xs), "recognised": f"{len(xs)}/{n}"}
           for path, xs in got.items()}
    if got["file"] and got["mic"]:
        out["mic_minus_file_p50_ms"] = round(pct(got["mic"], 50) - pct(got["file"], 50), 1)
    return {**out, "runs": runs}


def bench_trace(n_commands: int, rounds: int = 1) -> dict:
    """Where each spoken command's time goes: ms after its voice ended at which the audio worker's
    first silent chunk, the recogniser's early transcript and final, the text item and the right
    intent arrived; ``speculated``: its early transcript was decoded at the chunk where the voice
    stopped (shown as a partial first). Medians over every command of ``rounds`` runs. And the
    frames' capture-to-features latency, split by whether a frame was captured while the
    recogniser decoded (which takes both cores) or not."""
    from stream.config import AsrConfig

    threshold = AsrConfig().speech_threshold
    rows = []
    frames: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        tr: dict = {}
        _file_run(n_commands, 0, trace=tr)
        decodes = [(m.stages["encode_start"], m.stages["encode_end"]) for m in tr["asr"]
                   if "encode_start" in m.stages and "encode_end" in m.stages]
        for m in tr["video"]:
            during = any(a <= m.stages["capture"] <= b for a, b in decodes)
            frames[during].append((m.stages["receive"] - m.stages["capture"]) / 1e6)
        for end_s, text in tr["ends"]:
            e = tr["origin"] + int(end_s * 1e9)

            def after(ms_list, e=e):
                return round((min(ms_list) - e) / 1e6) if ms_list else None
            near = [m for m in tr["asr"] if e - 3e9 < m.t_end < e + 1e9]
            early = [m for m in near if m.meta.get("early")]
            rows.append({
                "command": text,
                "silent_chunk_ms": after([m.stages["receive"] for m in tr["audio"]
                                          if m.t_end > e and m.meta["vad"] < threshold]),
                "speculated": bool(early) and any(
                    not m.meta["final"] and not m.meta["early"] and m.t_end == early[0].t_end
                    and m.stages["receive"] <= early[0].stages["receive"] for m in near),
                "early_ms": after([m.stages["receive"] for m in early]),
                "final_ms": after([m.stages["receive"] for m in near if m.meta["final"]]),
                "text_ms": after([m.stages["receive"] for m in tr["text"]
                                  if e - 3e9 < m.t_end < e + 1e9 and m.stages["receive"] > e]),
                "intent_ms": after([rt for rt, p in tr["arrivals"] if rt > e and p["intent"] == WANT[text]]),
                "answered_early": any(p.get("early") for rt, p in tr["arrivals"]
                                      if e < rt < e + 2e9 and p["intent"] == WANT[text]),
            })
    cols = ("silent_chunk_ms", "early_ms", "final_ms", "text_ms", "intent_ms")
    return {"commands": rows,
            "median_ms": {c: statistics.median(xs) if (xs := [r[c] for r in rows if r[c] is not None])
                          else None for c in cols},
            "speculated": sum(r["speculated"] for r in rows),
            "answered_early": sum(r["answered_early"] for r in rows), "n": len(rows),
            "frame_capture_to_features_ms": {"captured_during_a_decode": summary(frames[True]),
                                             "others": summary(frames[False])}}


def bench_asr_variants(variants: dict[str, dict], n_commands: int, rounds: int = 1) -> dict:
    """Speech end to intent under two ``asr`` settings, from files, interleaved (A, B, B, A
    per round) so that neither gains from running second (cold caches cost the first run)."""
    (a, va), (b, vb) = variants.items()
    got: dict[str, list[float]] = {a: [], b: []}
    frames: dict[str, list[float]] = {a: [], b: []}  # the recogniser's decode delays video
    early: dict[str, list[bool]] = {a: [], b: []}
    for name, over in ((a, va), (b, vb), (b, vb), (a, va)) * rounds:
        speech, _, cap = _file_run(n_commands, 0, over, early[name])
        got[name] += speech
        frames[name] += cap
    n = 2 * rounds * n_commands
    out = {f"{k}_spoken_end_to_intent_ms": {**summary(xs), "recognised": f"{len(xs)}/{n}",
                                            "answered_early": sum(early[k])}
           for k, xs in got.items()}
    out |= {f"{k}_frame_capture_to_features_ms": summary(xs) for k, xs in frames.items()}
    if got[a] and got[b]:
        out[f"{b}_minus_{a}_p50_ms"] = round(pct(got[b], 50) - pct(got[a], 50), 1)
    return out


def bench_early_turn(n_commands: int, rounds: int = 1) -> dict:
    """The semantic end of turn (early answers) off and on."""
    return bench_asr_variants({"early_off": {"early": "off"}, "early_on": {"early": "live"}},
                              n_commands, rounds)


def bench_context(n_commands: int, rounds: int = 1) -> dict:
    """The recogniser's encoder over Whisper's 30 s and over 10 s (early answers on)."""
    return bench_asr_variants({"context_30s": {"context_s": 30.0}, "context_10s": {"context_s": 10.0}},
                              n_commands, rounds)


def bench_nbest(n_commands: int, rounds: int = 1) -> dict:
    """Whisper's best alone against five hypotheses chosen by the intent model (asr.n_best)."""
    return bench_asr_variants({"n_best_1": {"n_best": 1}, "n_best_5": {"n_best": 5}}, n_commands, rounds)


def bench_second(n_commands: int, rounds: int = 1) -> dict:
    """What base's second opinion costs when it is asked (``asr.second_below = 1``: for every
    command; the bench's own commands are read surely, so as shipped it is never asked), and
    at start-up (base loaded in the text worker): first prediction and memory, on and off
    interleaved."""
    out = bench_asr_variants({"second_off": {"second_model": ""},
                              "second_always": {"second_model": "base", "second_below": 1.0}},
                             n_commands, rounds)
    runs: dict[str, list[dict]] = {"": [], "base": []}
    for second in ("base", "", "", "base") * rounds:
        runs[second].append(bench_processes(8.0, asr={"second_model": second}))
    for second, rs in runs.items():
        out[f"second_{second or 'off'}_start"] = {
            "first_prediction_s": [r["first_prediction_s"] for r in rs],
            "total_pss_mb": [r["total_pss_mb"] for r in rs],
            "text_worker_pss_mb": [r["processes"].get("text", {}).get("pss_mb") for r in rs]}
    return out


def bench_loaded(n_commands: int, n_typed: int) -> dict:
    """The same spoken and typed commands while other processes keep every core busy (at the
    same priority as ours): how many are answered, and how fast."""
    from stream.offline.busy import busy

    with busy():
        r = bench_pipeline(n_commands, n_typed)
    return {f"loaded_{k}": v for k, v in r.items()}



def bench_processes(seconds: float, fork: bool = True, asr: dict | None = None) -> dict:
    """``live`` from files, started as a user starts it (a new process): seconds from launch to
    the first prediction, then memory (RSS, PSS) and CPU per process over the steady run.
    ``asr``: settings added to the config (strings and numbers)."""
    import threading

    from stream.encoders.weights import REPO
    from stream.offline import procfs

    with tempfile.TemporaryDirectory() as d:
        video, wav, _ = _media(Path(d), 3)
        conf = Path(d) / "loop.toml"  # the media loop for as long as the run lasts
        conf.write_text((REPO / "configs" / "live.toml").read_text().replace(
            "[video]\n", "[video]\nloop = true\n").replace("[audio]\n", "[audio]\nloop = true\n")
            .replace("[run]\n", f"[run]\nfork_workers = {str(fork).lower()}\n")
            + ("\n[asr]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in asr.items()) if asr else ""))
        t0 = time.monotonic()
        p = subprocess.Popen([sys.executable, str(REPO / "launch.py"), "live", "--config", str(conf),
                              "--video", str(video), "--audio", str(wav), "--headless",
                              "--duration", str(seconds)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        first = threading.Event()
        took: list[float] = []

        def read() -> None:
            for line in p.stdout:  # type: ignore[union-attr]
                if not first.is_set() and line.startswith("{"):
                    took.append(time.monotonic() - t0)
                    first.set()

        threading.Thread(target=read, daemon=True).start()
        first.wait(120)
        time.sleep(1.0)  # past the start-up burst
        pids = {"launcher": p.pid, **{n: w for w, n in procfs.workers(p.pid).items()}}
        for c in procfs.children(p.pid):  # the fork server (torch workers' parent) and its helper
            cmd = Path(f"/proc/{c}/cmdline").read_bytes()
            for key, role in ((b"forkserver", "fork server"), (b"resource_tracker", "resource tracker")):
                if key in cmd:
                    pids[role] = c
        cpu0, w0 = {k: procfs.cpu_s(v) for k, v in pids.items()}, time.monotonic()
        time.sleep(max(1.0, seconds - (time.monotonic() - t0) - 3.0))
        mem = {k: procfs.memory_mb(v) for k, v in pids.items()}
        nices = {k: procfs.nice(v) for k, v in pids.items()}
        wall = time.monotonic() - w0
        cpu = {k: round(100 * (procfs.cpu_s(v) - cpu0[k]) / wall, 1) for k, v in pids.items()}
        p.wait(60)
    per = {k: {**mem[k], "cpu_percent": cpu[k], "nice": nices[k]} for k in sorted(pids)}
    return {"first_prediction_s": round(took[0], 2) if took else None, "processes": per,
            "total_rss_mb": round(sum(m["rss_mb"] for m in mem.values())),
            "total_pss_mb": round(sum(m["pss_mb"] for m in mem.values())),
            "total_cpu_percent": round(sum(cpu.values()), 1)}


def bench_fork(seconds: float, rounds: int = 1) -> dict:
    """Torch workers forked from the fork server against started afresh, interleaved (on, off,
    off, on per round): first prediction and total memory."""
    got: dict[str, list[dict]] = {"forked": [], "afresh": []}
    for fork in (True, False, False, True) * rounds:
        got["forked" if fork else "afresh"].append(bench_processes(seconds, fork))
    return {k: {"first_prediction_s": [r["first_prediction_s"] for r in rs],
                "total_pss_mb": [r["total_pss_mb"] for r in rs],
                "total_rss_mb": [r["total_rss_mb"] for r in rs]} for k, rs in got.items()}


# -- sessions ---------------------------------------------------------------------
def _replay_demo(demo: Path) -> tuple[float, float]:
    """Seconds to replay (and encode) the session at max speed: without and with start-up."""
    from stream.app.pipeline import Pipeline
    from stream.app.replay import replay_config, replay_options
    from stream.session.format import Session

    cfg = replay_config(bench_config(), 0.0)
    t0 = time.monotonic()
    opts = replace(replay_options(Session(demo), cfg), cache=str(demo))
    pipe = Pipeline(cfg, opts, [])
    pipe.start()
    t1 = time.monotonic()
    while not pipe.finished:
        pipe.step(0.02)
    took = time.monotonic() - t1
    pipe.stop()
    return took, time.monotonic() - t0


def _record(d: Path, seconds: float) -> dict:
    """A face video (looped) and audio, paced in real time, recorded: sizes per minute."""
    from stream.app.pipeline import Pipeline
    from stream.app.sinks import RecordingSink
    from stream.process.stage import RunOptions
    from stream.session.format import Session

    rec = d / "rec"
    video, wav, _ = _media(d, 3)
    pipe = Pipeline(bench_config(video={"loop": True}, audio={"loop": True}),
                    RunOptions(sources={"video": str(video), "audio": str(wav)}),
                    [RecordingSink(rec, progress=False)])
    pipe.start()
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        pipe.step(0.05)
    pipe.stop()
    size = sum(f.stat().st_size for f in rec.rglob("*") if f.is_file())
    dur = Session(rec).duration_s
    by = {k: sum(f.stat().st_size for f in (rec / k).rglob("*") if f.is_file()) for k in ("video", "audio")}
    return {"record_mb_per_min": round(size / 1e6 / dur * 60, 2),
            "record_video_mb_per_min_320x240_15fps": round(by["video"] / 1e6 / dur * 60, 2),
            "record_audio_mb_per_min_16k_pcm16": round(by["audio"] / 1e6 / dur * 60, 2),
            "record_write_rate_mb_s": round(size / 1e6 / dur, 3)}


def bench_sessions(record_s: float) -> dict:
    import shutil

    from stream.config import Config
    from stream.encoders.weights import REPO
    from stream.intent.checkpoint import load_model
    from stream.session.features import fusion_replay
    from stream.session.format import Session

    out: dict = {}
    with tempfile.TemporaryDirectory() as d:
        demo = Path(d) / "demo"
        shutil.copytree(REPO / "demo" / "session", demo, ignore=shutil.ignore_patterns("features"))
        s = Session(demo)
        took, with_startup = _replay_demo(demo)
        out["replay_reencode_x_realtime"] = round(s.duration_s / took, 2)
        out["replay_reencode_x_realtime_with_startup"] = round(s.duration_s / with_startup, 2)
        cfg = Config()
        model = load_model("", cfg)
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            fusion_replay(demo, cfg, s.streams, model)
            ts.append(time.perf_counter() - t)
        out["replay_from_features_x_realtime"] = round(s.duration_s / statistics.median(ts), 1)
        out["session_s"] = s.duration_s
        out.update(_record(Path(d), record_s))
    return out


def run_bench(quick: bool = False) -> dict:
    """Every section; ``quick``: few repetitions, short runs (a smoke test)."""
    n = 30 if quick else 200
    return {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "processor": platform.machine()},
        "transport": bench_transport(100 if quick else 1000),
        "encoders_ms": bench_encoders(n),
        "pipeline": {**bench_pipeline(2 if quick else 6, 5 if quick else 40),
                     **({} if quick else {**bench_spoken_paths(6), **bench_early_turn(6)})},
        "loaded": bench_loaded(2 if quick else 6, 5 if quick else 40),
        "processes": bench_processes(12 if quick else 30),
        "sessions": bench_sessions(4 if quick else 30),
    }


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    t = Table(title="bench (ms)")
    for c in ("what", "n", "p50", "p95", "p99", "note"):
        t.add_column(c)
    tr = result["transport"]
    rows = [*((f"{path} one-way {k}", v) for path in ("zmq", "mp_queue") for k, v in tr[path].items()),
            *((k, v) for k, v in result["encoders_ms"].items() if isinstance(v, dict)),
            *((k, v) for k, v in result["pipeline"].items() if isinstance(v, dict)),
            *((k, v) for k, v in result["loaded"].items() if isinstance(v, dict))]
    for k, v in rows:
        rate = f"{v['msgs_per_s']} msg/s" if "msgs_per_s" in v else ""
        note = v.get("recognised") or v.get("answered") or rate
        if "right_intent" in v:
            note += f", {v['right_intent']} right intent"
        t.add_row(k, str(v["n"]), str(v["p50"]), str(v["p95"]), str(v["p99"]), note)
    con.print(t)
    con.print(f"ZeroMQ / multiprocessing.Queue, messages per second: {tr['zmq_over_queue_msgs_per_s']}")
    con.print(f"ASR utterance length: {result['encoders_ms']['asr_utterance_s']} s")
    pr = result["processes"]
    t = Table(title=f"processes (first prediction {pr['first_prediction_s']} s after launch)")
    for c in ("process", "RSS MB", "PSS MB", "CPU %"):
        t.add_column(c)
    for k, v in pr["processes"].items():
        t.add_row(k, str(v["rss_mb"]), str(v["pss_mb"]), str(v["cpu_percent"]))
    t.add_row("total", str(pr["total_rss_mb"]), str(pr["total_pss_mb"]), str(pr["total_cpu_percent"]))
    con.print(t)
    for k, v in result["sessions"].items():
        con.print(f"{k}: {v}")


if __name__ == "__main__":  # python -m stream.offline.bench [early|context|nbest|second|fork|trace] ROUNDS
    rounds = int(sys.argv[-1]) if len(sys.argv) > 1 and sys.argv[-1].isdigit() else 1
    if sys.argv[1:2] == ["fork"]:
        print(json.dumps(bench_fork(30, rounds), indent=2))
    elif sys.argv[1:2] == ["trace"]:
        print(json.dumps(bench_trace(6, rounds), indent=2))
    else:
        which = {"early": bench_early_turn, "context": bench_context, "nbest": bench_nbest,
                 "second": bench_second}.get(
            sys.argv[1] if len(sys.argv) > 1 else "", bench_spoken_paths)
        print(json.dumps(which(6, rounds), indent=2))
