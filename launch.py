"""The front door: ``python launch.py COMMAND ...`` (see README)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# FFmpeg/OpenCV would print their own lines about a bad file; we print one of ours.
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


class UsageError(Exception):
    """Bad input: printed as one line, exit code 2."""


def fail(msg: str) -> None:
    raise UsageError(msg)


# -- input validation (before anything starts or is written) -------------------
def check_video(spec: str) -> None:
    if spec in ("none", "synthetic") or spec.isdigit():
        return
    if os.path.sep in spec or os.path.splitext(spec)[1]:
        import cv2

        if not os.path.isfile(spec):
            fail(f"{spec}: video file not found")
        cap = cv2.VideoCapture(spec)
        ok = cap.isOpened() and cap.read()[0]
        cap.release()
        if not ok:
            fail(f"{spec}: not a readable video")


def check_audio(spec: str) -> None:
    if spec in ("none", "synthetic") or spec.isdigit():
        return
    if os.path.sep in spec or os.path.splitext(spec)[1]:
        import soundfile as sf

        if not os.path.isfile(spec):
            fail(f"{spec}: audio file not found")
        try:
            sf.info(spec)
        except Exception:  # noqa: BLE001
            fail(f"{spec}: not a readable audio file (WAV/FLAC/OGG)")


def load_config(args, **overrides):
    from stream import config

    ov: dict = {}
    for dotted, v in overrides.items():
        if v is None:
            continue
        sec, key = dotted.split(".")
        ov.setdefault(sec, {})[key] = v
    try:
        return config.load(args.config or "live", ov)
    except config.ConfigError as e:
        fail(str(e))


# -- running the pipeline --------------------------------------------------------
def run_pipeline(cfg, options: dict, headless: bool, predictions: str | None,
                 title: str, interactive: bool = False) -> int:
    from rich.console import Console
    from rich.live import Live

    from stream.dashboard import DashState
    from stream.supervisor import StartupError, Supervisor

    state = DashState(title)
    out_tmp = None
    if predictions:
        Path(predictions).parent.mkdir(parents=True, exist_ok=True)
        out_tmp = open(predictions + ".tmp", "w")

    def on_pred(p: dict) -> None:
        state.prediction(p)
        line = json.dumps(p)
        if headless:
            print(line, flush=True)
        if out_tmp:
            out_tmp.write(line + "\n")

    def on_transcript(m) -> None:
        state.transcript(m.meta.get("text", ""), bool(m.meta.get("final")))

    sup = Supervisor(cfg, options, on_pred, on_transcript)
    console = Console(stderr=headless)
    # SIGTERM ends the run like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    completed = False
    live = None
    try:
        if not headless:
            console.print(f"[dim]starting workers ({', '.join(sup.names)})…[/dim]")
        sup.start()
        if not headless:
            live = Live(get_renderable=state.render, console=console, refresh_per_second=5,
                        screen=False, redirect_stderr=False)
            live.start()
            if interactive and sys.stdin.isatty():
                def typing() -> None:
                    for line in sys.stdin:
                        if line.strip():
                            state.typed = line.strip()
                            sup.send_text(line.strip())
                threading.Thread(target=typing, daemon=True).start()
        t0 = time.monotonic()
        ended_at = None
        duration = cfg.run.duration_s
        sources = [n for n in ("video", "audio") if n in sup.names]
        while not sup.finished:
            sup.poll(0.05)
            state.health = sup.health
            for e in sup.events:
                state.events.append(e)
            sup.events.clear()
            if ended_at is None:
                timeout = duration and time.monotonic() - t0 >= duration
                sources_done = sources and all(sup.health.get(s, {}).get("ended") for s in sources)
                if timeout or sources_done:
                    sup.end()
                    ended_at = time.monotonic()
            elif time.monotonic() - ended_at > 30:
                console.print("[yellow]fusion did not drain within 30 s; stopping[/yellow]")
                console.print({k: (v.get('ended'), v.get('stats')) for k, v in sup.health.items()})
                break
        completed = True
    except StartupError as e:
        if live:
            live.stop()
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        completed = predictions is None
    finally:
        if live:
            live.stop()
        sup.stop()
        if out_tmp:
            out_tmp.close()
            if completed or True:
                # What was predicted is complete up to the stop; keep it, atomically.
                os.replace(predictions + ".tmp", predictions)
    return 0


def cmd_live(args) -> int:
    video = args.video or None
    audio = args.audio or None
    cfg = load_config(args, **{"run.duration_s": args.duration, "run.speed": args.speed})
    video = video or cfg.video.source
    audio = audio or cfg.audio.source
    check_video(video)
    check_audio(audio)
    headless = args.headless or not sys.stdout.isatty()
    return run_pipeline(cfg, {"video": video, "audio": audio}, headless, args.predictions,
                        "live", interactive=True)


def cmd_say(args) -> int:
    from stream import config
    from stream.supervisor import send_say

    cfg = load_config(args)
    text = " ".join(args.text).strip()
    if not text:
        fail("say: nothing to send")
    ep = f"tcp://{cfg.net.host}:{cfg.net.say_port}"
    if not send_say(ep, text):
        fail(f"say: no assistant is listening on {ep} (start `launch.py live` first)")
    del config
    return 0


def cmd_devices(args) -> int:
    from rich.console import Console

    from stream.devices import DeviceError, camera_names, microphones

    con = Console()
    cams = camera_names()
    con.print("[bold]Cameras[/bold]")
    if cams:
        for i, n in cams:
            con.print(f"  {i}: {n}")
    else:
        con.print("  none found")
    con.print("[bold]Microphones[/bold]")
    try:
        mics = microphones()
    except DeviceError as e:
        con.print(f"  {e}")
        mics = []
    else:
        if mics:
            for i, n in mics:
                con.print(f"  {i}: {n}")
        else:
            con.print("  none found")
    return 0


def cmd_train_text(args) -> int:
    from stream.train_text import train

    m = train(Path(args.out), seed=args.seed)
    print(json.dumps(m, indent=2))
    return 0


def cmd_bench(args) -> int:
    from stream.bench import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="launch.py", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--config", help="configs/NAME.toml name or a path (default: live)")

    sp = sub.add_parser("live", help="webcam + mic (or files paced in real time) with the dashboard")
    common(sp)
    sp.add_argument("--video", help="camera index or name, a video file, 'synthetic' or 'none'")
    sp.add_argument("--audio", help="microphone index or name, an audio file, 'synthetic' or 'none'")
    sp.add_argument("--duration", type=float, help="stop after S seconds")
    sp.add_argument("--speed", type=float, help="pace files at X times real time (default 1)")
    sp.add_argument("--headless", action="store_true", help="JSON lines instead of the dashboard")
    sp.add_argument("--predictions", help="also write predictions to OUT.jsonl")
    sp.set_defaults(fn=cmd_live)

    sp = sub.add_parser("say", help="send typed text to a running assistant")
    common(sp)
    sp.add_argument("text", nargs="+")
    sp.set_defaults(fn=cmd_say)

    sp = sub.add_parser("devices", help="list cameras and microphones")
    sp.set_defaults(fn=cmd_devices)

    sp = sub.add_parser("bench", help="measure latency and throughput on this machine")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--quick", action="store_true", help="fewer repetitions")
    sp.set_defaults(fn=cmd_bench)

    sp = sub.add_parser("train-text", help="retrain the baseline text intent classifier")
    sp.add_argument("--out", default="models/intent_baseline.pt")
    sp.add_argument("--seed", type=int, default=0)
    sp.set_defaults(fn=cmd_train_text)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
