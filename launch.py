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
    if getattr(args, "model", None):
        if not Path(args.model).is_file():
            fail(f"{args.model}: model checkpoint not found")
        ov.setdefault("fusion", {})["model"] = args.model
    try:
        return config.load(args.config or "live", ov)
    except config.ConfigError as e:
        fail(str(e))


# -- running the pipeline --------------------------------------------------------
def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_pipeline(cfg, options: dict, *, headless: bool = False, predictions: str | None = None,
                 title: str = "live", interactive: bool = False, record: str | None = None,
                 quiet: bool = False, collect: list | None = None) -> int:
    """Start the workers, show or print predictions until the sources end, stop.

    ``record``: write a session there (raw streams, text, predictions, manifest).
    ``quiet``: no dashboard and no printing (eval); ``collect`` gathers predictions.
    """
    from rich.console import Console
    from rich.live import Live

    from stream.process.supervisor import StartupError, Supervisor
    from stream.session.format import JsonlWriter, write_manifest
    from stream.ui.dashboard import DashState

    state = DashState(title)
    out_tmp = None
    if predictions:
        Path(predictions).parent.mkdir(parents=True, exist_ok=True)
        out_tmp = open(predictions + ".tmp", "w")
    rec_dir = Path(record) if record else None
    rec_preds = None
    if rec_dir is not None:
        rec_dir.mkdir(parents=True, exist_ok=True)
        write_manifest(rec_dir, complete=False, source="record")
        rec_preds = JsonlWriter(rec_dir / "predictions.jsonl")
        options = {**options, "record": str(rec_dir)}

    def on_pred(p: dict) -> None:
        state.prediction(p)
        line = json.dumps(p)
        if headless and not quiet:
            print(line, flush=True)
        if out_tmp:
            out_tmp.write(line + "\n")
        if rec_preds:
            rec_preds.add(p)
        if collect is not None:
            collect.append(p)

    def on_transcript(m) -> None:
        state.transcript(m.meta.get("text", ""), bool(m.meta.get("final")))

    sup = Supervisor(cfg, options, on_pred, on_transcript)
    console = Console(stderr=headless or quiet)
    # SIGTERM ends the run like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    live = None
    rc = 0
    t0 = time.monotonic()
    try:
        if not (headless or quiet):
            console.print(f"[dim]starting workers ({', '.join(sup.names)})…[/dim]")
        sup.start()
        t0 = time.monotonic()
        if not (headless or quiet):
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
        ended_at = None
        last_progress = 0.0
        duration = cfg.run.duration_s
        sources = [n for n in ("video", "audio") if n in sup.names]
        while not sup.finished:
            sup.poll(0.05)
            state.health = sup.health
            for e in sup.events:
                state.events.append(e)
                if headless and not quiet:
                    print(f"warning: {e}", file=sys.stderr, flush=True)
            sup.events.clear()
            if rec_dir is not None and time.monotonic() - last_progress >= 1.0:
                last_progress = time.monotonic()
                drops = sum(v for h in sup.health.values() for k, v in h.get("stats", {}).items()
                            if "drop" in k or "overflow" in k)
                line = (f"{time.monotonic() - t0:6.1f} s  {dir_size(rec_dir) / 1e6:7.2f} MB"
                        f"  drops {drops}")
                state.recording = f"{rec_dir}  {line}"
                if headless:
                    print(f"\rrecording {line}", end="", file=sys.stderr, flush=True)
            if ended_at is None:
                timeout = duration and time.monotonic() - t0 >= duration
                sources_done = sources and all(sup.health.get(s, {}).get("ended") for s in sources)
                if timeout or sources_done:
                    sup.end()
                    ended_at = time.monotonic()
            elif time.monotonic() - ended_at > 60:
                console.print("[yellow]fusion did not drain within 60 s; stopping[/yellow]")
                break
    except StartupError as e:
        if live:
            live.stop()
            live = None
        print(f"error: {e}", file=sys.stderr)
        rc = 2
    except KeyboardInterrupt:
        pass
    finally:
        if live:
            live.stop()
        sup.stop()
        if out_tmp:
            out_tmp.close()
            # Complete up to the stop: keep it, atomically.
            os.replace(predictions + ".tmp", predictions)
        if rec_dir is not None:
            rec_preds.close()
            if headless:
                print(file=sys.stderr)
            finish_recording(rec_dir, time.monotonic() - t0)
    return rc


def finish_recording(root: Path, wall_s: float) -> None:
    from stream.session.format import Session, write_manifest

    s = Session(root)
    streams: dict = {"text": {"events": len(s.text_events())}}
    if s.frames_index:
        streams["video"] = {"fps": s.fps, "frames": len(s.frames_index)}
    if s.chunks_index:
        streams["audio"] = {"sample_rate": 16000, "samples": sum(c[3] for c in s.chunks_index)}
    write_manifest(root, complete=True, source="record", duration_s=round(s.duration_s, 3),
                   streams=streams, wall_s=round(wall_s, 2))


def open_session(path: str):
    from stream.session.format import Session, SessionError

    try:
        return Session(path)
    except SessionError as e:
        fail(str(e))


def replay_options(session, start: float, end: float | None, loop: bool) -> dict:
    streams = session.streams
    period = (end or session.duration_s) - start
    typed = [e for e in session.text_events() if e.get("source") == "typed"
             and e["t"] >= start and (end is None or e["t"] < end)]
    return {"video": f"session:{session.root}" if "video" in streams else "none",
            "audio": f"session:{session.root}" if "audio" in streams else "none",
            "typed": typed, "start_s": start, "end_s": end,
            "loop_period_s": period if loop else None}


def parse_speed(s: str | None) -> float:
    if s is None:
        return 1.0
    if s == "max":
        return 0.0
    try:
        v = float(s)
    except ValueError:
        v = -1
    if v <= 0:
        fail(f"--speed: expected a positive number or 'max', got {s!r}")
    return v


def replay_config(args, speed: float, loop: bool):
    cfg = load_config(args, **{"run.replay": True, "run.speed": speed})
    cfg.video.loop = cfg.audio.loop = loop
    return cfg


def cmd_replay(args, path: str | None = None, title: str = "replay") -> int:
    session = open_session(path or args.session)
    if args.start < 0 or (args.end is not None and args.end <= args.start):
        fail("--start/--end: need 0 <= start < end")
    cfg = replay_config(args, parse_speed(args.speed), args.loop)
    headless = args.headless or not sys.stdout.isatty()
    if getattr(args, "from_features", False):
        return replay_from_features(session, cfg, args)
    options = replay_options(session, args.start, args.end, args.loop)
    whole = args.start == 0 and args.end is None and not args.loop
    if getattr(args, "cache_features", False):
        if not whole:
            fail("--cache-features: replay the whole session (no --start/--end/--loop)")
        options["cache"] = str(session.root)
    return run_pipeline(cfg, options, headless=headless, predictions=args.predictions, title=title)


def replay_from_features(session, cfg, args) -> int:
    from stream.session.features import fusion_replay, has_features

    if not has_features(session.root):
        fail(f"{session.root / 'features'}: no up-to-date feature cache "
             "(make one: replay --speed max --cache-features)")
    preds = fusion_replay(session.root, cfg, session.streams)
    preds = [p for p in preds if p["t"] > args.start and (args.end is None or p["t"] <= args.end + 0.2)]
    lines = [json.dumps(p) for p in preds]
    if args.predictions:
        tmp = Path(args.predictions + ".tmp")
        tmp.write_text("".join(x + "\n" for x in lines))
        os.replace(tmp, args.predictions)
    print("\n".join(lines))
    return 0


def cmd_demo(args) -> int:
    from stream.encoders.weights import REPO

    demo = REPO / "demo" / "session"
    if not (demo / "manifest.json").is_file():
        fail(f"{demo}: the demo session is missing (rebuild it: python scripts/build_demo.py)")
    return cmd_replay(args, str(demo), title="demo")


def cmd_record(args) -> int:
    out = Path(args.dir)
    if out.exists() and any(out.iterdir()):
        fail(f"{out}: already exists and is not empty")
    cfg = load_config(args, **{"run.duration_s": args.duration})
    video, audio = args.video or cfg.video.source, args.audio or cfg.audio.source
    check_video(video)
    check_audio(audio)
    return run_pipeline(cfg, {"video": video, "audio": audio}, headless=True, record=str(out),
                        title="record")


def cmd_import(args) -> int:
    from stream.intent.intent_set import names
    from stream.session.format import SessionError
    from stream.session.importer import import_session

    def opt(x: str | None) -> Path | None:
        return Path(x) if x else None

    try:
        r = import_session(Path(args.dir), opt(args.video), opt(args.audio), opt(args.text),
                           opt(args.labels), names())
    except SessionError as e:
        fail(str(e))
    print(f"imported {args.dir}: {r['duration_s']:.2f} s, streams {', '.join(r['streams'])}, "
          f"{r['labels']} labelled spans")
    return 0


def cmd_eval(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from stream.offline import evaluate
    from stream.session.features import fusion_replay, has_features, speech_events
    from stream.ui import plots

    sessions = [open_session(p) for p in args.sessions]
    for s in sessions:
        if not (s.root / "labels.jsonl").is_file():
            fail(f"{s.root / 'labels.jsonl'}: missing (eval needs labels)")
    names = [s.root.name for s in sessions]
    if len(set(names)) < len(names):
        names = [f"{s.root.parent.name}_{s.root.name}" for s in sessions]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = replay_config(args, 0.0, False)

    def score(s, preds):
        speech = speech_events(s.root) if has_features(s.root) else None
        return evaluate.score(preds, s.labels(), s.duration_s, s.text_events(), speech=speech)

    results = []
    for s, name in zip(sessions, names, strict=True):
        if has_features(s.root) and not args.no_cache:
            preds = fusion_replay(s.root, cfg, s.streams)
        else:
            preds = []
            options = replay_options(s, 0.0, None, False)
            if not args.no_cache:
                options["cache"] = str(s.root)
            rc = run_pipeline(cfg, options, quiet=True, collect=preds)
            if rc:
                return rc
        r = score(s, preds)
        classes, m = r.pop("_confusion")
        plots.timeline(out / f"{name}_timeline.png", name, preds, s.labels(), s.duration_s)
        plots.confusion_png(out / f"{name}_confusion.png", classes, m, f"{name}: windows")
        r["session"] = name
        r["pictures"] = [str(out / f"{name}_timeline.png"), str(out / f"{name}_confusion.png")]
        results.append(r)
    report = {"model": cfg.fusion.model or "default", "sessions": results,
              "overall": evaluate.overall(results)}
    if args.ablation:
        report["ablation"] = ablation(args, cfg, sessions, score)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
        return 0

    def fmt(v) -> str:
        return "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

    con = Console()
    t = Table(title=f"eval ({out / 'report.json'})")
    for c in ("session", "spans", "event acc", "spoken", "typed", "false trig/min", "unaddressed fired",
              "window F1", "latency p50 s"):
        t.add_column(c)
    for r in [*results, {**report["overall"], "session": "overall"}]:
        fired = r.get("unaddressed_fired_rate", r.get("unaddressed_fired"))
        t.add_row(r["session"], fmt(r["spans"]), fmt(r["event_accuracy"]),
                  fmt(r["event_accuracy_spoken"]), fmt(r["event_accuracy_typed"]),
                  fmt(r["false_triggers_per_min"]), fmt(fired), fmt(r["window_macro_f1"]),
                  fmt(r["latency_s_p50"]))
    con.print(t)
    if args.ablation:
        t = Table(title="ablation (all sessions pooled)")
        for c in ("model", "modalities", "event acc", "spoken", "typed", "false trig/min",
                  "unaddressed fired", "window F1"):
            t.add_column(c)
        for r in report["ablation"]:
            t.add_row(r["model"], r["modalities"], fmt(r["event_accuracy"]), fmt(r["event_accuracy_spoken"]),
                      fmt(r["event_accuracy_typed"]), fmt(r["false_triggers_per_min"]),
                      fmt(r.get("unaddressed_fired_rate")), fmt(r["window_macro_f1"]))
        con.print(t)
    for r in results:
        print("pictures:", " ".join(r["pictures"]))
    return 0


def ablation(args, cfg, sessions, score) -> list[dict]:
    """Modality subsets of the configured learned model, then each --models checkpoint (all)."""
    from stream.intent.baseline import load_model
    from stream.intent.fusion_net import MODS, FusionModel
    from stream.offline import evaluate
    from stream.session.features import fusion_replay

    for s in sessions:
        ensure_features(s, args, lambda m: print(m, file=sys.stderr))
    model = load_model(cfg.fusion.model)
    if not isinstance(model, FusionModel):
        fail("--ablation: the model is not a learned fusion model (see --model)")
    rows = []

    def run(m, label: str, keep: set[str]) -> None:
        m.force_unavailable = set(MODS) - keep
        res = [score(s, fusion_replay(s.root, cfg, s.streams, model=m)) for s in sessions]
        rows.append({"model": label, "modalities": "+".join(x for x in MODS if x in keep),
                     **evaluate.overall(res)})
        m.force_unavailable = set()

    name = f"{model.ckpt['mode']} ({Path(cfg.fusion.model).name if cfg.fusion.model else 'default'})"
    for keep in ({"text"}, {"audio"}, {"video"}, set(MODS)):
        run(model, name, keep)
    for path in args.models or []:
        if not Path(path).is_file():
            fail(f"{path}: model checkpoint not found")
        m = load_model(path)
        if not isinstance(m, FusionModel):
            fail(f"{path}: not a learned fusion model")
        run(m, f"{m.ckpt['mode']} ({Path(path).name})", set(MODS))
    return rows


def ensure_features(session, args, log) -> None:
    """Run a full replay (max speed) that caches the encoders' outputs, unless present."""
    from stream.session.features import has_features

    if has_features(session.root):
        return
    log(f"encoding {session.root} ({session.duration_s:.0f} s of media)…")
    cfg = replay_config(args, 0.0, False)
    options = {**replay_options(session, 0.0, None, False), "cache": str(session.root)}
    if run_pipeline(cfg, options, quiet=True):
        fail(f"{session.root}: encoding failed")
    if not has_features(session.root):
        fail(f"{session.root}: the replay ended without writing features")


def cmd_corpus(args) -> int:
    from stream.offline import corpus

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    summary = corpus.build(out, scale=args.scale, seed=args.seed, log=print)
    print(f"built in {time.monotonic() - t0:.0f} s")
    if not args.no_features:
        t1 = time.monotonic()
        for sess in sorted(out.glob("*/*/manifest.json")):
            ensure_features(open_session(str(sess.parent)), args, print)
        print(f"encoded in {time.monotonic() - t1:.0f} s")
    print(json.dumps({k: {n: v.get("duration_s") for n, v in e.items()}
                      for k, e in summary["splits"].items()}))
    return 0


def cmd_train(args) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from stream.intent import intent_set as hi
    from stream.intent.fusion_net import TextPrior
    from stream.offline.train_fusion import TrainError, check_labels, session_examples, train

    names = hi.names()
    prior = TextPrior.load(Path(args.text_prior)) if args.text_prior else None
    if prior is not None and prior.ckpt["intents"] != names:
        fail(f"{args.text_prior}: its intents differ from the model's")
    train_s = [open_session(p) for p in args.sessions]
    val_s = [open_session(p) for p in (args.val or [])]
    for s in train_s + val_s:
        try:
            check_labels(s.root, names)
        except TrainError as e:
            fail(str(e))
    for s in train_s + val_s:
        ensure_features(s, args, print)
    t0 = time.monotonic()
    try:
        # Text-only sessions are many near-identical windows per line: keep fewer.
        tr = [e for s in train_s for e in session_examples(
            s.root, names, prior=prior, **({"text_every": 4, "other_every": 6} if s.streams == ["text"]
                                           else {"text_every": 1, "other_every": 2}))]
        va = [e for s in val_s for e in session_examples(s.root, names, prior=prior)]
    except TrainError as e:
        fail(str(e))
    if not va:  # no validation sessions: hold out every tenth window
        va, tr = tr[::10], [e for i, e in enumerate(tr) if i % 10]
    print(f"{len(tr)} training windows, {len(va)} validation windows "
          f"({time.monotonic() - t0:.0f} s to build)")
    with Progress(TextColumn("epoch {task.fields[ep]}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), transient=True) as prog:
        task = prog.add_task("train", total=1, ep=0)

        def progress(ep: int, k: int, n: int) -> None:
            prog.update(task, completed=k, total=n, ep=ep + 1)

        def log(row) -> None:
            prog.console.print(row if isinstance(row, str) else
                               "  ".join(f"{k} {v}" for k, v in row.items()), soft_wrap=True)

        t1 = time.monotonic()
        ckpt, _ = train(tr, va, names, mode=args.mode, epochs=args.epochs, patience=args.patience,
                        seed=args.seed, progress=progress, log=log, prior=prior)
    ckpt["train_seconds"] = round(time.monotonic() - t1, 1)
    ckpt["train_sessions"] = [str(s.root) for s in train_s]
    ckpt["val_sessions"] = [str(s.root) for s in val_s]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    import torch

    tmp = out.with_name(out.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, out)  # never a half-written checkpoint
    print(json.dumps({"out": str(out), "mode": args.mode, "train_seconds": ckpt["train_seconds"],
                      **ckpt["metrics"]["val"]}, indent=2))
    return 0


def cmd_live(args) -> int:
    cfg = load_config(args, **{"run.duration_s": args.duration, "run.speed": args.speed})
    video = args.video or cfg.video.source
    audio = args.audio or cfg.audio.source
    check_video(video)
    check_audio(audio)
    if args.record and Path(args.record).exists() and any(Path(args.record).iterdir()):
        fail(f"{args.record}: already exists and is not empty")
    headless = args.headless or not sys.stdout.isatty()
    return run_pipeline(cfg, {"video": video, "audio": audio}, headless=headless,
                        predictions=args.predictions, title="live", interactive=True,
                        record=args.record)


def cmd_say(args) -> int:
    from stream import config
    from stream.process.supervisor import send_say

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

    from stream.sources.devices import DeviceError, camera_names, microphones

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
    from stream.offline.train_text import train

    m = train(Path(args.out), seed=args.seed)
    print(json.dumps(m, indent=2))
    return 0


def cmd_bench(args) -> int:
    from stream.offline.bench import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="launch.py", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--config", help="configs/NAME.toml name or a path (default: live)")
        sp.add_argument("--model", help="intent model checkpoint (default: models/fusion.pt)")

    sp = sub.add_parser("live", help="webcam + mic (or files paced in real time) with the dashboard")
    common(sp)
    sp.add_argument("--video", help="camera index or name, a video file, 'synthetic' or 'none'")
    sp.add_argument("--audio", help="microphone index or name, an audio file, 'synthetic' or 'none'")
    sp.add_argument("--duration", type=float, help="stop after S seconds")
    sp.add_argument("--speed", type=float, help="pace files at X times real time (default 1)")
    sp.add_argument("--headless", action="store_true", help="JSON lines instead of the dashboard")
    sp.add_argument("--predictions", help="also write predictions to OUT.jsonl")
    sp.add_argument("--record", metavar="DIR", help="also record a session to DIR")
    sp.set_defaults(fn=cmd_live)

    def replay_args(sp):
        common(sp)
        sp.add_argument("--speed", help="X times real time, or 'max' (default 1)")
        sp.add_argument("--loop", action="store_true", help="start again at the end")
        sp.add_argument("--start", type=float, default=0.0, help="session second to start at")
        sp.add_argument("--end", type=float, help="session second to stop at")
        sp.add_argument("--headless", action="store_true", help="JSON lines instead of the dashboard")
        sp.add_argument("--predictions", help="also write predictions to OUT.jsonl")

    sp = sub.add_parser("replay", help="replay a session through the same workers")
    sp.add_argument("session")
    replay_args(sp)
    sp.add_argument("--cache-features", action="store_true",
                    help="store what the encoders produced in SESSION/features/")
    sp.add_argument("--from-features", action="store_true",
                    help="fusion only, from SESSION/features/ (no encoders; prints JSON lines)")
    sp.set_defaults(fn=cmd_replay)

    sp = sub.add_parser("demo", help="the bundled demo session with the dashboard")
    replay_args(sp)
    sp.set_defaults(fn=cmd_demo)

    sp = sub.add_parser("record", help="capture devices to a session on disk")
    common(sp)
    sp.add_argument("dir")
    sp.add_argument("--duration", type=float, help="stop after S seconds")
    sp.add_argument("--video", help="camera index or name, a file, 'synthetic' or 'none'")
    sp.add_argument("--audio", help="microphone index or name, a file, 'synthetic' or 'none'")
    sp.set_defaults(fn=cmd_record)

    sp = sub.add_parser("import", help="build a session from ordinary media files")
    sp.add_argument("dir")
    sp.add_argument("--video", help="any video OpenCV reads")
    sp.add_argument("--audio", help="WAV/FLAC/OGG, any rate")
    sp.add_argument("--text", help="typed text events, JSONL {t, text}")
    sp.add_argument("--labels", help="labelled spans, JSONL {start, end, intent}")
    sp.set_defaults(fn=cmd_import)

    sp = sub.add_parser("eval", help="replay at max speed and score against the labels")
    common(sp)
    sp.add_argument("sessions", nargs="+")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--out", default="eval_report", help="where the report and pictures go")
    sp.add_argument("--no-cache", action="store_true",
                    help="re-encode everything; neither use nor write SESSION/features/")
    sp.add_argument("--ablation", action="store_true",
                    help="also score text/audio/video-only and, with --models, other fusion modes")
    sp.add_argument("--models", nargs="+", help="checkpoints to compare in the ablation")
    sp.set_defaults(fn=cmd_eval)

    sp = sub.add_parser("corpus", help="rebuild the labelled training corpus (and encode it)")
    common(sp)
    sp.add_argument("out")
    sp.add_argument("--scale", type=float, default=1.0, help="fraction of the default size")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--no-features", action="store_true", help="only write the sessions")
    sp.set_defaults(fn=cmd_corpus)

    sp = sub.add_parser("train", help="train the fusion model from labelled sessions")
    common(sp)
    sp.add_argument("sessions", nargs="+")
    sp.add_argument("--out", required=True, help="checkpoint to write (e.g. models/fusion.pt)")
    sp.add_argument("--val", nargs="+", help="validation sessions (default: every 10th window)")
    sp.add_argument("--mode", choices=["early", "intermediate", "late"], default="intermediate")
    sp.add_argument("--epochs", type=int, default=20)
    sp.add_argument("--patience", type=int, default=4, help="early stopping")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--text-prior", default=str(Path(__file__).parent / "models" / "intent_baseline.pt"),
                    help="text classifier whose probabilities are a text feature ('' for none)")
    sp.set_defaults(fn=cmd_train)

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
