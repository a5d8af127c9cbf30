"""Text events and labels, as users write them (JSONL): every field checked, errors name the line."""

from __future__ import annotations

import json
import math
from pathlib import Path

from stream.errors import SessionError


def _jsonl(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise SessionError(f"{path}: file not found")
    out = []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise SessionError(f"{path}: unreadable ({e})") from None
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise SessionError(f"{path}:{i}: bad JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise SessionError(f"{path}:{i}: expected a JSON object")
        out.append((i, obj))
    return out


def _num(obj: dict, key: str, where: str) -> float:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise SessionError(f"{where}: field {key!r} must be a finite number")
    if v < 0:
        raise SessionError(f"{where}: field {key!r} must be >= 0")
    return float(v)


def _span(obj: dict, where: str, what: str) -> tuple[float, float]:
    start, end = _num(obj, "start", where), _num(obj, "end", where)
    if end <= start:
        raise SessionError(f"{where}: {what} ends ({end}) before it starts ({start})")
    return start, end


def _text(obj: dict, where: str) -> str:
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise SessionError(f"{where}: field 'text' must be a non-empty string")
    return text.strip()


def read_text_events(path: Path) -> list[dict]:
    out = []
    for i, obj in _jsonl(path):
        where = f"{path}:{i}"
        t = _num(obj, "t", where)
        out.append({"t": t, "end": t, "text": _text(obj, where), "source": "typed"})
    return out


def read_labels(path: Path, known: list[str] | None = None) -> list[dict]:
    """Labelled spans, checked (numbers, order, overlaps; intents when ``known`` is given)."""
    spans = []
    for i, obj in _jsonl(path):
        where = f"{path}:{i}"
        start, end = _span(obj, where, "span")
        intent = obj.get("intent")
        if not isinstance(intent, str) or (known is not None and intent not in known):
            raise SessionError(f"{where}: unknown intent {intent!r} (known: {', '.join(known)})")
        extra = {}
        if (addressed := obj.get("addressed")) is not None:
            if not isinstance(addressed, bool):
                raise SessionError(f"{where}: field 'addressed' must be true or false")
            extra["addressed"] = addressed
        if (slots := obj.get("slots")) is not None:
            extra["slots"] = _slots(slots, where)
        spans.append((start, end, intent, i, extra))
    spans.sort(key=lambda s: s[:4])
    for (_, e0, _, i0, _), (s1, _, _, i1, _) in zip(spans, spans[1:], strict=False):
        if s1 < e0:
            raise SessionError(f"{path}:{i1}: span overlaps the span on line {i0}")
    return [{"start": s, "end": e, "intent": n, **extra} for s, e, n, _, extra in spans]


def _slots(slots, where: str) -> dict:
    """A label's slots: names to strings or finite numbers."""
    if not isinstance(slots, dict) or not all(
            isinstance(k, str) and (isinstance(v, str) or (isinstance(v, (int, float))
                                    and not isinstance(v, bool) and math.isfinite(v)))
            for k, v in slots.items()):
        raise SessionError(f"{where}: field 'slots' must map names to strings or finite numbers")
    return slots


SPEECH_FILE = "speech.jsonl"  # optional in a session: what was said, for ``asr-eval``


def read_speech(path: Path) -> list[dict]:
    """Reference transcripts, one spoken utterance a line:
    ``{"start": s, "end": s, "text": "...", "voice": "..."}`` (``voice`` optional), in time order."""
    out = []
    for i, obj in _jsonl(path):
        where = f"{path}:{i}"
        start, end = _span(obj, where, "utterance")
        voice = obj.get("voice", "unknown")
        if not isinstance(voice, str):
            raise SessionError(f"{where}: field 'voice' must be a string")
        out.append({**obj, "start": start, "end": end, "text": _text(obj, where), "voice": voice})
    return sorted(out, key=lambda u: u["start"])


def write_speech(path: Path, utterances: list[dict]) -> None:
    """Write reference transcripts whole or not at all (a temporary file renamed over)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(u) + "\n" for u in utterances))
    tmp.replace(path)
