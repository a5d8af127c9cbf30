"""Text worker: typed lines (dashboard, ``launch.py say``, a replayed session) and
final transcripts -> MiniLM sentence embeddings.

Its watermark is the older of the ASR's and the typed input's: live, typed
input promises "nothing before now"; in replay, "nothing before the next
scripted line".
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import torch
import zmq

from stream.core.clock import Pacer, now_ns
from stream.encoders import weights as models
from stream.encoders.text import TextEmbedder
from stream.fusion.align import EOS
from stream.process.runtime import Runtime, Spec, worker_main
from stream.session.format import JsonlWriter

TYPED_SLACK_NS = 30_000_000  # a `say` line may take this long to reach us


def scripted(events: list[dict], loop_period_s: float | None) -> Iterator[tuple[float, str]]:
    """Typed events as (session seconds, text), repeated every period when looping."""
    events = sorted(events, key=lambda e: e["t"])
    for k in itertools.count() if loop_period_s else [0]:
        if not events:
            return
        for e in events:
            yield e["t"] + k * (loop_period_s or 0.0), e["text"]


def run(spec: Spec) -> None:
    opt = spec.options
    rt = Runtime(spec, inputs=["asr"] if opt.get("asr", True) else [], topics=["asr", "wm"])
    cfg = rt.cfg
    torch.set_num_threads(cfg.run.torch_threads)
    emb = TextEmbedder(models.torch_device(cfg.run.device), cfg.text.max_len)
    emb(["warm up"])
    pull = rt.ctx.socket(zmq.PULL)
    pull.linger = 0
    pull.bind(spec.endpoints["say"])
    if not rt.wait_start():
        return
    rec = JsonlWriter(Path(opt["record"]) / "text.jsonl") if opt.get("record") else None
    script = scripted(opt.get("typed", []), opt.get("loop_period_s"))
    nxt = next(script, None)
    replay = "typed" in opt  # a replay scripts typed text: it ends when the script does
    pacer = Pacer(cfg.run.speed or None, rt.origin_ns)
    start_ns = int(opt.get("start_s", 0.0) * 1e9)
    asr_wm = -1 if rt.sub is not None else EOS

    def send(text: str, t0: int, t1: int, source: str, capture: int) -> None:
        enc0 = now_ns()
        e = emb([text])[0]
        enc1 = now_ns()
        rt.publish("text", t0, t1, [e], meta={"text": text, "source": source},
                   stages={"capture": capture, "encode_start": enc0, "encode_end": enc1})
        rt.gauges["encode_ms"] = round((enc1 - enc0) / 1e6, 1)
        rt.stats[source] += 1
        if rec is not None:
            rec.add({"t": round((t0 - rt.origin_ns) / 1e9, 6), "end": round((t1 - rt.origin_ns) / 1e9, 6),
                     "text": text, "source": source})

    while not rt.stop.is_set():
        rt.tick()
        m = rt.recv(10)  # final transcripts from the ASR
        if m is not None:
            if m.topic == "asr" and m.meta.get("final"):
                send(m.meta["text"], m.t_start, m.t_end, "asr", m.stages.get("capture", now_ns()))
            asr_wm = max(asr_wm, m.watermark)
        # Scripted typed lines, when due, and never ahead of the ASR (keeps time order).
        while nxt is not None:
            t = rt.origin_ns + int(nxt[0] * 1e9)
            if t > asr_wm or now_ns() < pacer.due_ns(t - rt.origin_ns - start_ns):
                break
            send(nxt[1], t, t, "typed", now_ns())
            nxt = next(script, None)
        if nxt is not None:
            typed_wm = rt.origin_ns + int(nxt[0] * 1e9) - 1
        elif replay or rt.ended:
            typed_wm = EOS
        else:
            typed_wm = now_ns() - TYPED_SLACK_NS
        # Live typed lines (dashboard, `say`).
        while pull.poll(0):
            try:
                ev = json.loads(pull.recv())
                text, t = str(ev["text"]).strip(), int(ev.get("t_ns", now_ns()))
            except (ValueError, KeyError, TypeError):
                rt.stats["invalid_say"] += 1
                continue
            if t <= rt.watermark:  # later than we promised: keep it, but in order
                rt.stats["late_typed"] += 1
                t = rt.watermark + 1
            if text:
                send(text, t, t, "typed", now_ns())
        rt.advance(min(asr_wm, typed_wm))
    pull.close()
    if rec is not None:
        rec.close()
    rt.close()


if __name__ == "__main__":
    worker_main(run)
