"""Text worker: typed lines (dashboard, ``launch.py say``, session files) and
final transcripts -> MiniLM sentence embeddings.

Its watermark is the older of the ASR's and the typed input's: in live the
typed input promises "nothing before now", in replay "nothing before the
next scripted line".
"""

from __future__ import annotations

import json

import torch
import zmq

from stream import models
from stream.align import EOS
from stream.clock import Pacer, now_ns
from stream.runtime import Runtime, Spec, worker_main
from stream.text import TextEmbedder

TYPED_SLACK_NS = 30_000_000  # a `say` line may take this long to reach us


def run(spec: Spec) -> None:
    rt = Runtime(spec, inputs=["asr"] if spec.options.get("asr", True) else [],
                 topics=["asr", "wm"])
    cfg = rt.cfg
    torch.set_num_threads(cfg.run.torch_threads)
    emb = TextEmbedder(models.torch_device(cfg.run.device), cfg.text.max_len)
    emb(["warm up"])
    pull = rt.ctx.socket(zmq.PULL)
    pull.linger = 0
    pull.bind(spec.endpoints["say"])
    if not rt.wait_start():
        return
    scripted = sorted(spec.options.get("typed", []), key=lambda e: e["t"])
    pacer = Pacer(cfg.run.speed or None, rt.origin_ns)
    asr_wm = -1 if rt.sub is not None else EOS

    def send(text: str, t0: int, t1: int, source: str, capture: int) -> None:
        enc0 = now_ns()
        e = emb([text])[0]
        enc1 = now_ns()
        rt.publish("text", t0, t1, [e], meta={"text": text, "source": source},
                   stages={"capture": capture, "encode_start": enc0, "encode_end": enc1})
        rt.gauges["encode_ms"] = round((enc1 - enc0) / 1e6, 1)
        rt.stats[source] += 1

    while not rt.stop.is_set():
        rt.tick()
        # Final transcripts from the ASR.
        m = rt.recv(10)
        if m is not None:
            if m.topic == "asr" and m.meta.get("final"):
                send(m.meta["text"], m.t_start, m.t_end, "asr", m.stages.get("capture", now_ns()))
            asr_wm = max(asr_wm, m.watermark)
        # Typed lines: scripted (replay) or live.
        if scripted:
            while scripted and (cfg.run.speed == 0 or
                                now_ns() >= pacer.due_ns(int(scripted[0]["t"] * 1e9))):
                # Never ahead of the ASR: keeps the text stream in time order.
                t = rt.origin_ns + int(scripted[0]["t"] * 1e9)
                if t > asr_wm:
                    break
                ev = scripted.pop(0)
                send(ev["text"], t, t, "typed", now_ns())
            typed_wm = rt.origin_ns + int(scripted[0]["t"] * 1e9) - 1 if scripted else EOS
        elif spec.options.get("typed_ends") or rt.ended:
            typed_wm = EOS
        else:
            typed_wm = now_ns() - TYPED_SLACK_NS
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
    rt.close()


if __name__ == "__main__":
    worker_main(run)
