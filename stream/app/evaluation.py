"""``eval``: score sessions' predictions against their labels; the ablation; reports as data."""

from __future__ import annotations

from pathlib import Path

from stream.app.batch import SEQUENTIAL, BatchOptions, run_batch
from stream.app.replay import encode_session, session_predictions
from stream.config import Config
from stream.errors import StreamError
from stream.intent.checkpoint import load_model
from stream.intent.fusion_net import FusionModel
from stream.offline import evaluate
from stream.session.features import fusion_replay, has_features, speech_events
from stream.session.format import Session
from stream.ui import plots


def session_names(sessions: list[Session]) -> list[str]:
    names = [s.root.name for s in sessions]
    if len(set(names)) < len(names):
        names = [f"{s.root.parent.name}_{s.root.name}" for s in sessions]
    return names


def score(session: Session, preds: list[dict], cfg: Config | None = None) -> dict:
    speech = speech_events(session.root) if has_features(session.root, cfg) else None
    return evaluate.score(preds, session.labels(), session.duration_s, session.text_events(), speech=speech,
                          hop_s=(cfg or Config()).fusion.hop_s)


def encode_sessions(sessions: list[Session], cfg: Config, batch: BatchOptions = SEQUENTIAL) -> None:
    """Feature caches for the sessions that lack one (a max-speed replay each, as batch tasks)."""
    todo = [s for s in sessions if not has_features(s.root, cfg)]
    run_batch(encode_session, [(str(s.root), cfg) for s in todo], session_names(todo), batch, "encoding")


def check_labelled(sessions: list[Session]) -> None:
    for s in sessions:
        if not (s.root / "labels.jsonl").is_file():
            raise StreamError(f"{s.root / 'labels.jsonl'}: missing (eval needs labels)")
        s.labels()  # every line checked before anything runs


def evaluate_sessions(sessions: list[Session], cfg: Config, out: Path, cache: bool = True,
                      batch: BatchOptions = SEQUENTIAL) -> dict:
    """Predictions for each session (cached features when there, else a replay; one batch task
    per session), scored, with a timeline and a confusion picture per session in ``out``."""
    check_labelled(sessions)
    load_model(cfg.fusion.model, cfg)  # a bad model is one line before any task starts
    out.mkdir(parents=True, exist_ok=True)
    names = session_names(sessions)
    all_preds = run_batch(session_predictions, [(str(s.root), cfg, cache) for s in sessions], names,
                          batch, "sessions")
    results = []
    for s, name, preds in zip(sessions, names, all_preds, strict=True):
        r = score(s, preds, cfg)
        classes, m = r.pop("_confusion")
        pics = [out / f"{name}_timeline.png", out / f"{name}_confusion.png"]
        plots.timeline(pics[0], name, preds, s.labels(), s.duration_s, cfg.fusion.hop_s)
        plots.confusion_png(pics[1], classes, m, f"{name}: windows")
        results.append({**r, "session": name, "pictures": [str(p) for p in pics]})
    return {"model": cfg.fusion.model or "default", "sessions": results, "overall": evaluate.overall(results)}


def ablation(sessions: list[Session], cfg: Config, models: list[str] = (),
             batch: BatchOptions = SEQUENTIAL) -> list[dict]:
    """The configured learned model with one modality at a time, then all; then each of
    ``models`` with all. Pooled over the sessions, from their feature caches."""
    encode_sessions(sessions, cfg, batch)
    model = load_model(cfg.fusion.model, cfg)
    if not isinstance(model, FusionModel):
        raise StreamError("--ablation: the model is not a learned fusion model (see --model)")
    rows = []

    def run(m: FusionModel, label: str, keep: set[str]) -> None:
        m.force_unavailable = set(m.mods) - keep
        res = [score(s, fusion_replay(s.root, cfg, s.streams, m), cfg) for s in sessions]
        rows.append({"model": label, "modalities": "+".join(x for x in m.mods if x in keep),
                     **evaluate.overall(res)})
        m.force_unavailable = set()

    name = f"{model.ckpt['mode']} ({Path(cfg.fusion.model).name if cfg.fusion.model else 'default'})"
    # One modality at a time (text first: the row that shows why fusion is needed), then all.
    for keep in [*({x} for x in reversed(model.mods)), set(model.mods)]:
        run(model, name, keep)
    for path in models:
        m = load_model(path, cfg)
        if not isinstance(m, FusionModel):
            raise StreamError(f"{path}: not a learned fusion model")
        run(m, f"{m.ckpt['mode']} ({Path(path).name})", set(m.mods))
    return rows
