"""``launch.py bench``: latency and throughput on this machine.

Every figure is a median (p50) or tail (p95/p99) over repeated runs in one
invocation, so figures from the same run can be compared. Sections:

* transport: ZeroMQ one-way latency between two processes (1 KB, 1 MB);
* encoders: per frame, audio chunk, sentence, utterance, fusion window;
* pipeline: the real worker processes on real media, paced in real time:
  end of a spoken command -> its intent, typed line -> its prediction,
  frame capture -> its features (320x240 at 15 fps).
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from stream.core.clock import now_ns
from stream.offline import media as testdata

WANT = {"turn on the kitchen lights": "HassTurnOn", "set a timer for five minutes": "HassStartTimer",
        "what is the weather like today": "HassGetWeather", "turn off the bedroom lights": "HassTurnOff",
        "pause the music": "HassMediaPause", "what time is it": "HassGetCurrentTime"}
COMMANDS = list(WANT)


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
_PUBLISHER = r"""
import sys, time, numpy as np, zmq
sys.path.insert(0, sys.argv[1])
from stream.core.message import Message
from stream.core.transport import Publisher
ctx = zmq.Context.instance()
pub = Publisher(ctx, sys.argv[2], hwm=0)
size, n = int(sys.argv[3]), int(sys.argv[4])
payload = np.zeros(size // 4, np.float32)
time.sleep(0.5)  # let the subscriber connect
for i in range(n):
    pub.send(Message("b", i, 0, 0, 0, [payload], topic="b"))
    time.sleep(0.002)
pub.send(Message("b", n, 0, 0, 0, meta={"end": True}, topic="b"))
time.sleep(0.5)
"""


def bench_transport(n: int) -> dict:
    import zmq

    from stream.core.transport import Subscriber
    from stream.process.supervisor import free_port

    out = {}
    repo = str(Path(__file__).resolve().parents[2])
    for label, size in (("1KB", 1024), ("1MB", 1 << 20)):
        ep = f"tcp://127.0.0.1:{free_port()}"
        sub = Subscriber(zmq.Context.instance(), [ep], ["b"], hwm=0)
        proc = subprocess.Popen([sys.executable, "-c", _PUBLISHER, repo, ep, str(size), str(n)])
        lat = []
        while True:
            m = sub.recv(5000)
            if m is None or m.meta.get("end"):
                break
            lat.append((m.stages["receive"] - m.stages["publish"]) / 1e6)
        proc.wait()
        sub.close()
        out[label] = summary(lat[5:])
    return out


# -- encoders ---------------------------------------------------------------------
def bench_encoders(n: int) -> dict:
    import cv2
    import torch

    from stream.config import AsrConfig
    from stream.encoders.asr import StreamingAsr
    from stream.encoders.audio import SR, AudioEncoder, to_mono_16k
    from stream.encoders.text import TextEmbedder
    from stream.encoders.vision import FaceCues, ImageEmbedder
    from stream.intent.baseline import load_model

    torch.set_num_threads(1)
    frames = [cv2.resize(f, (320, 240)) for f in testdata.read_video(testdata.carphone_path())]
    cues = FaceCues()
    emb = ImageEmbedder("cpu")
    it = iter(frames * 100)
    out = {"face_cues_ms_320x240": timeit(lambda: cues(next(it)), n),
           "image_embedding_ms_224": timeit(lambda: emb([frames[0]]), n)}
    x, sr = testdata.espeak(COMMANDS[0])
    x = to_mono_16k(x, sr)
    enc = AudioEncoder()
    chunk = x[:1536]
    out["audio_chunk_ms_96ms"] = timeit(lambda: enc(chunk), n)
    te = TextEmbedder()
    out["sentence_embedding_ms"] = timeit(lambda: te([COMMANDS[1]]), n)
    asr = StreamingAsr(AsrConfig(), cpu_threads=2)
    audio = np.concatenate([x, np.zeros(SR // 2, np.float32)])

    def utterance():
        asr.start_ns, asr.chunks, asr.speech_end_ns = 0, [audio], int(len(x) / SR * 1e9)
        asr._transcribe(audio, final=True)
    out["asr_final_ms_per_utterance"] = timeit(utterance, max(5, n // 10), warm=1)
    out["asr_utterance_s"] = round(len(x) / SR, 2)

    from stream.fusion.align import Item, Window
    model = load_model("")
    e = te([COMMANDS[0]])[0]
    S = 1_000_000_000
    c = np.zeros(10, np.float32)
    c[0] = c[6] = 1
    video = [Item(t, t + S // 15, [c], {}, 0) for t in range(0, 2 * S, S // 15)]
    audio = [Item(t, t + S // 10, [], {"vad": 0.9}, 0) for t in range(0, 2 * S, S // 10)]
    text = [Item(S, S, [e], {"text": COMMANDS[0], "source": "asr"}, 0)]
    w = Window(0, 2 * S, {"video": video, "audio": audio, "text": text},
               {"video": "ok", "audio": "ok", "text": "ok"})
    out["fusion_ms_per_window"] = timeit(lambda: model.predict(w), n)
    return out


# -- pipeline -----------------------------------------------------------------------
def _media(d: Path, n_commands: int) -> tuple[Path, Path, list[tuple[float, str]]]:
    """A 320x240 15 fps face video and a WAV of commands spaced 3 s apart."""
    import cv2
    import soundfile as sf

    from stream.encoders.audio import SR, to_mono_16k

    frames = [cv2.resize(f, (320, 240)) for f in testdata.read_video(testdata.carphone_path())[::2]]
    video = d / "face_320x240_15fps.mp4"
    testdata.write_video(video, frames, 15.0)
    pieces, ends, t = [np.zeros(SR, np.float32)], [], 1.0
    for i in range(n_commands):
        text = COMMANDS[i % len(COMMANDS)]
        x, sr = testdata.espeak(text)
        x = to_mono_16k(x, sr)
        pieces += [x, np.zeros(int(2.5 * SR), np.float32)]
        t += len(x) / SR
        ends.append((t, text))
        t += 2.5
    wav = d / "commands.wav"
    sf.write(wav, np.concatenate(pieces), SR)
    return video, wav, ends


def bench_pipeline(n_commands: int, n_typed: int) -> dict:
    import zmq

    from stream import config as config_mod
    from stream.core.transport import Subscriber
    from stream.process.supervisor import Supervisor

    with tempfile.TemporaryDirectory() as d:
        video, wav, ends = _media(Path(d), n_commands)
        cfg = config_mod.load("live", {"video": {"loop": True}})
        received: list[tuple[int, dict]] = []
        sup = Supervisor(cfg, {"video": str(video), "audio": str(wav)},
                         on_prediction=lambda p: received.append((now_ns(), p)))
        origin = sup.start()
        frames = Subscriber(zmq.Context.instance(), [sup.endpoints["video"]], ["video"], hwm=0)
        cap_lat: list[float] = []
        total_s = ends[-1][0] + 2.0
        while now_ns() < origin + int(total_s * 1e9):
            sup.poll(0.02)
            while (m := frames.recv(0)) is not None:
                cap_lat.append((m.stages["receive"] - m.stages["capture"]) / 1e6)
        # Typed lines: from `say` to the prediction that carries them.
        sent: dict[str, int] = {}
        for i in range(n_typed):
            text = f"{COMMANDS[i % len(COMMANDS)]} number {i}"
            sent[text] = now_ns()
            sup.send_text(text)
            t_end = time.monotonic() + 0.4
            while time.monotonic() < t_end:
                sup.poll(0.01)
        sup.stop()
        frames.close()
    speech = []
    for i, (end_s, text) in enumerate(ends):
        # The first right prediction after the speech ends, before the next command starts.
        lo = origin + int((end_s - 0.5) * 1e9)
        hi = origin + int(((ends[i + 1][0] - 1.5) if i + 1 < len(ends) else end_s + 3) * 1e9)
        hit = [rt for rt, p in received if p["intent"] == WANT[text] and lo <= rt < hi]
        if hit:
            speech.append((hit[0] - origin - int(end_s * 1e9)) / 1e6)
    typed = []
    for text, t0 in sent.items():
        hit = [rt for rt, p in received if p.get("text") == text]
        if hit:
            typed.append((hit[0] - t0) / 1e6)
    return {
        "spoken_end_to_intent_ms": {**summary(speech), "recognised": f"{len(speech)}/{len(ends)}"},
        "typed_to_prediction_ms": {**summary(typed), "answered": f"{len(typed)}/{len(sent)}"},
        "frame_capture_to_features_ms_320x240_15fps": summary(cap_lat),
    }


# -- sessions ---------------------------------------------------------------------
def _run_until_done(sup) -> float:
    """Seconds from start to the fusion's end of stream (start-up excluded)."""
    sup.start()
    t0 = time.monotonic()
    ended = False
    while not sup.finished:
        sup.poll(0.02)
        if not ended and all(sup.health.get(s, {}).get("ended") for s in ("video", "audio")):
            sup.end()
            ended = True
    took = time.monotonic() - t0
    sup.stop()
    return took


def bench_sessions(record_s: float) -> dict:
    import shutil

    from stream import config as config_mod
    from stream.encoders.weights import REPO
    from stream.process.supervisor import Supervisor
    from stream.session.features import fusion_replay
    from stream.session.format import Session, write_manifest

    out: dict = {}
    with tempfile.TemporaryDirectory() as d:
        demo = Path(d) / "demo"
        shutil.copytree(REPO / "demo" / "session", demo, ignore=shutil.ignore_patterns("features"))
        s = Session(demo)
        typed = [e for e in s.text_events() if e.get("source") == "typed"]
        cfg = config_mod.load("live", {"run": {"replay": True, "speed": 0.0}})
        t0 = time.monotonic()
        sup = Supervisor(cfg, {"video": f"session:{demo}", "audio": f"session:{demo}", "typed": typed,
                               "cache": str(demo)})
        took = _run_until_done(sup)
        out["replay_reencode_x_realtime"] = round(s.duration_s / took, 2)
        out["replay_reencode_x_realtime_with_startup"] = round(s.duration_s / (time.monotonic() - t0), 2)
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            fusion_replay(demo, config_mod.load("live"), s.streams)
            ts.append(time.perf_counter() - t)
        out["replay_from_features_x_realtime"] = round(s.duration_s / statistics.median(ts), 1)
        out["session_s"] = s.duration_s
        # Recording: a face video (looped) and audio, paced in real time.
        rec = Path(d) / "rec"
        video, wav, _ = _media(Path(d), 3)
        cfg = config_mod.load("live", {"video": {"loop": True}, "audio": {"loop": True}})
        sup = Supervisor(cfg, {"video": str(video), "audio": str(wav), "record": str(rec)})
        rec.mkdir()
        write_manifest(rec, complete=False, source="bench")
        sup.start()
        t0 = time.monotonic()
        while time.monotonic() - t0 < record_s:
            sup.poll(0.05)
        sup.stop()
        size = sum(f.stat().st_size for f in rec.rglob("*") if f.is_file())
        dur = Session(rec).duration_s
        by = {k: sum(f.stat().st_size for f in (rec / k).rglob("*") if f.is_file())
              for k in ("video", "audio")}
        out["record_mb_per_min"] = round(size / 1e6 / dur * 60, 2)
        out["record_video_mb_per_min_320x240_15fps"] = round(by["video"] / 1e6 / dur * 60, 2)
        out["record_audio_mb_per_min_16k_pcm16"] = round(by["audio"] / 1e6 / dur * 60, 2)
        out["record_write_rate_mb_s"] = round(size / 1e6 / dur, 3)
    return out


def main(args) -> int:
    from rich.console import Console
    from rich.table import Table

    quick = getattr(args, "quick", False)
    n = 30 if quick else 200
    result = {
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version(),
                    "processor": platform.machine()},
        "transport_one_way_ms": bench_transport(200 if quick else 1000),
        "encoders_ms": bench_encoders(n),
        "pipeline": bench_pipeline(3 if quick else 6, 10 if quick else 40),
        "sessions": bench_sessions(10 if quick else 30),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    con = Console()
    t = Table(title="bench (ms)")
    for c in ("what", "n", "p50", "p95", "p99", "note"):
        t.add_column(c)
    for k, v in result["transport_one_way_ms"].items():
        t.add_row(f"zmq one-way {k}", str(v["n"]), str(v["p50"]), str(v["p95"]), str(v["p99"]), "")
    for k, v in result["encoders_ms"].items():
        if isinstance(v, dict):
            t.add_row(k, str(v["n"]), str(v["p50"]), str(v["p95"]), str(v["p99"]), "")
    for k, v in result["pipeline"].items():
        note = v.get("recognised") or v.get("answered") or ""
        t.add_row(k, str(v["n"]), str(v["p50"]), str(v["p95"]), str(v["p99"]), note)
    con.print(t)
    con.print(f"ASR utterance length: {result['encoders_ms']['asr_utterance_s']} s")
    for k, v in result["sessions"].items():
        con.print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main(type("A", (), {"json": "--json" in sys.argv, "quick": "--quick" in sys.argv})()))
