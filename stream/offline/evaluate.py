"""Scoring predictions against a session's labels (docs/contracts.md, "eval").

* event accuracy: a labelled span is right when the most frequent non-``none``
  intent predicted between its start and ``grace_s`` after its end is its label;
* false triggers per minute: onsets of a non-``none`` intent outside every span
  (plus the grace);
* window macro-F1: each grid window's intent against the label at its end;
* latency: from a span's end to the first right prediction (session seconds,
  negative if it came before the span ended);
* slots (spans labelled with them): slot accuracy, of the spans whose intent was right, those
  whose predictions (the slots most of the right ones carry) give every labelled slot its value;
  action accuracy, of all command spans, those right in intent and in every labelled slot.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from stream.intent.intent_set import NONE
from stream.intent.slots import same


def label_at(spans: list[dict], t: float) -> str:
    for s in spans:
        if s["start"] <= t < s["end"]:
            return s["intent"]
    return NONE


def span_kind(span: dict, text_events: list[dict]) -> str:
    """typed if a typed line falls inside the span, else spoken."""
    for e in text_events:
        if e.get("source") == "typed" and span["start"] <= e["t"] <= span["end"]:
            return "typed"
    return "spoken"


def macro_f1(y_true: list[str], y_pred: list[str]) -> tuple[float, dict[str, float]]:
    classes = sorted(set(y_true) | set(y_pred))
    per = {}
    for c in classes:
        tp = sum(t == c and p == c for t, p in zip(y_true, y_pred, strict=True))
        fp = sum(t != c and p == c for t, p in zip(y_true, y_pred, strict=True))
        fn = sum(t == c and p != c for t, p in zip(y_true, y_pred, strict=True))
        per[c] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return (float(np.mean(list(per.values()))) if per else 0.0), per


def confusion(y_true: list[str], y_pred: list[str]) -> tuple[list[str], np.ndarray]:
    classes = sorted(set(y_true) | set(y_pred), key=lambda c: (c != NONE, c))
    idx = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)), int)
    for t, p in zip(y_true, y_pred, strict=True):
        m[idx[t], idx[p]] += 1
    return classes, m


def unaddressed_speech(speech: list[dict], spans: list[dict]) -> list[dict]:
    """Transcribed speech that overlaps no addressed span: a TV, a conversation elsewhere."""
    out = []
    for e in speech:
        if not any(s["start"] - 0.3 < e["end"] and e["t"] < s["end"] + 0.3
                   and (s["intent"] != NONE or s.get("addressed")) for s in spans):
            out.append(e)
    return out


def span_events(preds: list[dict], spans: list[dict], text_events: list[dict], grace_s: float) -> list[dict]:
    """Per labelled command span: the top intent predicted from its start to ``grace_s`` after."""
    events = []
    for s in spans:
        if s["intent"] == NONE:
            continue
        hits = [p for p in preds if s["start"] <= p["t"] <= s["end"] + grace_s and p["intent"] != NONE]
        counts = Counter(p["intent"] for p in hits)
        top = max(counts, key=lambda k: (counts[k], max(p["confidence"] for p in hits if p["intent"] == k)),
                  default=NONE)
        right = top == s["intent"]
        first = next((p["t"] for p in hits if p["intent"] == s["intent"]), None) if right else None
        events.append({"start": s["start"], "end": s["end"], "intent": s["intent"], "predicted": top,
                       "right": right, "kind": span_kind(s, text_events),
                       "latency_s": None if first is None else round(first - s["end"], 3),
                       **_slot_check(s, [p for p in hits if right and p["intent"] == s["intent"]])})
    return events


def _slot_check(span: dict, right: list[dict]) -> dict:
    """A span's labelled slots against those most of its right predictions carry."""
    gold = span.get("slots")
    if not gold:
        return {}
    votes = Counter(json.dumps(p.get("slots") or {}, sort_keys=True) for p in right)
    got = json.loads(votes.most_common(1)[0][0]) if votes else {}
    return {"slots": gold, "predicted_slots": got,
            "slots_right": bool(right) and all(same(v, got.get(k)) for k, v in gold.items())}


def slot_figures(events: list[dict], kind: str) -> dict:
    """Slot accuracy (of spans with labelled slots whose intent was right) and action accuracy
    (of all command spans: intent right and, where labelled, every slot)."""
    ev = [e for e in events if e["kind"] == kind]
    labelled = [e for e in ev if "slots_right" in e and e["right"]]
    if not any("slots_right" in e for e in ev):
        return {}
    return {f"slot_accuracy_{kind}": _accuracy([{"right": e["slots_right"]} for e in labelled]),
            f"action_accuracy_{kind}": _accuracy([{"right": e["right"] and e.get("slots_right", True)}
                                                  for e in ev])}


def grid_predictions(preds: list[dict], hop_s: float) -> list[dict]:
    """The predictions of the hop grid's windows (time order): every one not flagged as a
    text's answer, and a text's answer that is a grid window itself (the text came exactly on
    the grid, e.g. a text file's "t": 3.0, and no window of its own was opened)."""
    hop_ms = round(hop_s * 1000)
    plain = {p["t"] for p in preds if not p.get("event")}
    return [p for p in preds if not p.get("event")
            or (round(p["t"] * 1000) % hop_ms == 0 and p["t"] not in plain)]


def false_triggers(grid: list[dict], spans: list[dict], grace_s: float) -> list[dict]:
    """Onsets of a non-none intent outside every command span (plus the grace), over the grid."""
    false = []
    prev = NONE
    for p in grid:
        if p["intent"] != NONE and p["intent"] != prev:
            inside = any(s["start"] <= p["t"] <= s["end"] + grace_s for s in spans if s["intent"] != NONE)
            if not inside:
                false.append({"t": p["t"], "intent": p["intent"]})
        prev = p["intent"]
    return false


def _accuracy(events: list[dict]) -> float | None:
    return round(float(np.mean([e["right"] for e in events])), 4) if events else None


def score(preds: list[dict], spans: list[dict], duration_s: float,
          text_events: list[dict] | None = None, grace_s: float = 2.0,
          speech: list[dict] | None = None, hop_s: float = 0.2) -> dict:
    """``speech``: transcribed utterances {"t", "end"} (from the feature cache), if known;
    ``hop_s``: fusion's hop (the grid)."""
    preds = sorted(preds, key=lambda p: p["t"])
    events = span_events(preds, spans, text_events or [], grace_s)
    grid = grid_predictions(preds, hop_s)
    false = false_triggers(grid, spans, grace_s)
    y_true = [label_at(spans, p["t"]) for p in grid]
    y_pred = [p["intent"] for p in grid]
    f1, per_class = macro_f1(y_true, y_pred)
    lat = [e["latency_s"] for e in events if e["latency_s"] is not None]
    out = {
        "spans": len(events),
        "event_accuracy": _accuracy(events),
        "false_triggers": len(false),
        "false_triggers_per_min": round(len(false) / max(duration_s / 60, 1e-9), 3),
        "window_macro_f1": round(f1, 4),
        "latency_s_p50": round(float(np.median(lat)), 3) if lat else None,
        "latency_s_max": round(float(np.max(lat)), 3) if lat else None,
        "windows": len(grid),
        "duration_s": round(duration_s, 2),
        "events": events,
        "false_trigger_list": false,
        "per_class_f1": {k: round(v, 4) for k, v in per_class.items()},
    }
    for kind in ("spoken", "typed"):
        out[f"event_accuracy_{kind}"] = _accuracy([e for e in events if e["kind"] == kind])
        out.update(slot_figures(events, kind))
    if speech is not None:
        # How often speech nobody addressed to the assistant still set off an intent.
        un = unaddressed_speech(speech, spans)
        fired = [e for e in un if any(e["t"] <= p["t"] <= e["end"] + grace_s and p["intent"] != NONE
                                      for p in preds)]
        out["unaddressed_utterances"] = len(un)
        out["unaddressed_fired"] = len(fired)
    out["_confusion"] = confusion(y_true, y_pred)
    return out


def overall(results: list[dict]) -> dict:
    """Pool events and windows over sessions."""
    events = [e for r in results for e in r["events"]]
    dur = sum(r["duration_s"] for r in results)
    nfalse = sum(r["false_triggers"] for r in results)
    lat = [e["latency_s"] for e in events if e["latency_s"] is not None]
    out = {
        "sessions": len(results), "spans": len(events), "duration_s": round(dur, 2),
        "event_accuracy": round(float(np.mean([e["right"] for e in events])), 4) if events else None,
        "false_triggers_per_min": round(nfalse / max(dur / 60, 1e-9), 3),
        "window_macro_f1": round(float(np.mean([r["window_macro_f1"] for r in results])), 4),
        "latency_s_p50": round(float(np.median(lat)), 3) if lat else None,
    }
    for kind in ("spoken", "typed"):
        ev = [e for e in events if e["kind"] == kind]
        out[f"event_accuracy_{kind}"] = round(float(np.mean([e["right"] for e in ev])), 4) if ev else None
        out.update(slot_figures(events, kind))
    if all("unaddressed_utterances" in r for r in results):
        n = sum(r["unaddressed_utterances"] for r in results)
        out["unaddressed_utterances"] = n
        fired = sum(r["unaddressed_fired"] for r in results)
        out["unaddressed_fired_rate"] = round(fired / n, 4) if n else None
    return out
