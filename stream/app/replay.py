"""Replaying sessions: run options from a session, feature caches, fusion-only replay."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from stream.app.pipeline import Pipeline
from stream.app.sinks import MemorySink, Sink
from stream.config import Config
from stream.errors import StreamError
from stream.intent.prediction import IntentModel
from stream.modalities.registry import modalities
from stream.process.stage import RunOptions
from stream.process.supervisor import Supervisor
from stream.session.features import fusion_replay, has_features
from stream.session.format import Session


def replay_config(cfg: Config, speed: float) -> Config:
    """The config for replaying: windows close on watermarks only; ``speed`` 0 is max."""
    return replace(cfg, run=replace(cfg.run, replay=True, speed=speed))


def replay_options(session: Session, cfg: Config, start: float = 0.0, end: float | None = None,
                   loop: bool = False) -> RunOptions:
    """Every stream the session holds, from the session; its typed lines as the script."""
    streams = session.streams
    sources = {m.name: f"session:{session.root}" for m in modalities(cfg)
               if m.source is not None and m.name in streams}
    typed = [e for e in session.text_events() if e.get("source") == "typed"
             and e["t"] >= start and (end is None or e["t"] < end)]
    period = (end or session.duration_s) - start
    return RunOptions(sources=sources, typed=typed, scripted=True, start_s=start, end_s=end,
                      loop_period_s=period if loop else None)


def replay_predictions(session: Session, cfg: Config, model: IntentModel | None = None,
                       cache: bool = True, sinks: tuple[Sink, ...] = ()) -> list[dict]:
    """A whole session's predictions: from its feature cache if it has one, else a max-speed
    replay through the workers (which writes the cache when ``cache``). A replay that came out
    incomplete is run once more (replays are deterministic; ``sinks`` see both tries), then
    fails: eval and training must never score or learn from a session with a hole in it."""
    cfg = replay_config(cfg, 0.0)
    if cache and has_features(session.root, cfg):
        from stream.intent.checkpoint import load_model  # torch: only when fusion runs here

        return fusion_replay(session.root, cfg, session.streams, model or load_model(cfg.fusion.model, cfg))
    why = ""
    for _ in range(2):
        preds, why = _replay_once(session, cfg, cache, sinks)
        if not why:
            return preds
        print(f"warning: {session.root}: replaying again: {why}", file=sys.stderr, flush=True)
    raise StreamError(f"{session.root}: the replay came out incomplete twice ({why}; is the machine "
                      "overloaded?)")


def _replay_once(session: Session, cfg: Config, cache: bool,
                 sinks: tuple[Sink, ...]) -> tuple[list[dict], str]:
    """One max-speed replay: its predictions, and why they are incomplete ("" when whole)."""
    mem = MemorySink()
    opts = replay_options(session, cfg)
    if cache:
        opts = replace(opts, cache=str(session.root))
    pipe = Pipeline(cfg, opts, [mem, *sinks])
    lost = pipe.run()
    if cache:
        drop_partial_cache(pipe, session.root, lost)
    if pipe.interrupted:  # the user stopped it: not something to run again
        raise KeyboardInterrupt
    # Media may end before the manifest's duration (a recording whose capture died at the end).
    end = session.media_end_s or session.duration_s
    why = incomplete(pipe.sup, mem.predictions, end, cfg.fusion.window_s)
    if not why and cache and not has_features(session.root, cfg):
        why = "fusion wrote no feature cache (messages were lost on the way)"
    return mem.predictions, why


def incomplete(sup: Supervisor, preds: list[dict], end_s: float, window_s: float) -> str:
    """Why a replay's predictions are not the whole session's, or "": a worker was lost or
    restarted (it dropped what it held; a restarted fusion starts from nothing), fusion dropped
    stale predictions, or the predictions stop more than two windows short of where the session
    ends (a whole replay's last window ends within about one window of it: 811.2 s of 813.5)."""
    if sup.lost:
        return f"a worker was lost during the replay: {', '.join(sorted(sup.lost))}"
    restarted = sorted(f"{n} {p.restarts}x" for n, p in sup.procs.items() if p.restarts)
    if restarted:
        return f"restarted {', '.join(restarted)}"
    if sup.stale_predictions:
        return f"fusion dropped {sup.stale_predictions} stale predictions"
    last = preds[-1]["t"] if preds else 0.0
    if last < end_s - 2 * window_s:
        return f"predictions stop at {last:.1f} s of {end_s:.1f} s"
    return ""


def drop_partial_cache(pipe: Pipeline, root: Path, lost: int) -> None:
    """After a replay that cached features: remove the cache if a worker was lost or restarted
    (fusion wrote what it had: without what the worker dropped or, fusion restarted, without
    what came before; it must not pass as the session's)."""
    if lost or any(p.restarts for p in pipe.sup.procs.values()):
        shutil.rmtree(root / "features", ignore_errors=True)


def ensure_features(session: Session, cfg: Config, log: Callable[[str], None] = print) -> None:
    """Encode a session (a max-speed replay that caches what fusion receives), unless cached."""
    if has_features(session.root, cfg):
        return
    log(f"encoding {session.root} ({session.duration_s:.0f} s of media)…")
    replay_predictions(session, cfg, cache=True)  # whole, with its cache, or an error


def _pin_threads(cfg: Config) -> None:
    """A batch task computes what fusion computes live, with its thread count: the results
    must not depend on how many tasks share the machine."""
    import torch

    torch.set_num_threads(cfg.run.torch_threads)


def encode_session(root: str, cfg: Config) -> str:
    """A batch task: ``ensure_features`` for one session; returns its root."""
    ensure_features(Session(root), cfg, log=lambda _msg: None)
    return root


def session_predictions(root: str, cfg: Config, cache: bool = True) -> list[dict]:
    """A batch task: one session's predictions (``replay_predictions``)."""
    _pin_threads(cfg)
    return replay_predictions(Session(root), cfg, cache=cache)
