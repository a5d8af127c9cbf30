"""The message envelope (DESIGN.md section 3).

Wire format, one ZeroMQ multipart message:
``[topic, header, part0, part1, ...]``. The header is msgpack; every tensor
travels as raw bytes in its own frame (zero-copy on send, a numpy view on
receive), never pickled. ``decode`` validates everything and raises
:class:`MessageError`, which receivers count and drop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

SCHEMA = 1
_ALLOWED_DTYPES = {"float32", "float16", "int16", "int32", "int64", "uint8", "bool"}
_MAX_PARTS = 16


class MessageError(ValueError):
    """A message that fails validation; the receiver counts it and drops it."""


@dataclass
class Message:
    """One published item: an event (or a span of one) and its tensors.

    ``t_start``/``t_end`` are the origin (event) time span in monotonic ns;
    ``watermark`` promises that this stream sends nothing older any more;
    ``stages`` holds per-stage wall times (capture, encode_start, encode_end,
    publish, ...) so latency can be traced across processes.
    """

    stream: str
    seq: int
    t_start: int
    t_end: int
    watermark: int
    parts: list[np.ndarray] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, int] = field(default_factory=dict)
    topic: str = ""
    schema: int = SCHEMA

    @property
    def publish_ns(self) -> int:
        return self.stages.get("publish", 0)


def encode(msg: Message) -> list:
    """Frames for ``socket.send_multipart(frames, copy=False)``."""
    parts = [np.ascontiguousarray(p) for p in msg.parts]
    for p in parts:
        if p.dtype.name not in _ALLOWED_DTYPES:
            raise MessageError(f"dtype {p.dtype.name} not allowed")
    header = {
        "v": msg.schema,
        "stream": msg.stream,
        "seq": msg.seq,
        "t": [msg.t_start, msg.t_end],
        "wm": msg.watermark,
        "stages": msg.stages,
        "parts": [[p.dtype.name, list(p.shape)] for p in parts],
        "meta": msg.meta,
    }
    topic = (msg.topic or msg.stream).encode()
    # memoryview keeps the tensor zero-copy through pyzmq.
    return [topic, msgpack.packb(header, use_bin_type=True), *(memoryview(p) for p in parts)]


def _int(h: dict, key: str) -> int:
    v = h.get(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise MessageError(f"field {key!r} must be an int")
    return v


def decode(frames: list) -> Message:
    """Parse and validate one multipart message; raises MessageError."""
    if len(frames) < 2:
        raise MessageError("need at least topic and header frames")
    raw = [f.buffer if hasattr(f, "buffer") else f for f in frames]
    try:
        topic = bytes(raw[0]).decode()
        h = msgpack.unpackb(bytes(raw[1]), raw=False)
    except Exception as e:  # noqa: BLE001 - any garbage is a validation failure
        raise MessageError(f"undecodable header: {e}") from None
    if not isinstance(h, dict):
        raise MessageError("header is not a map")
    if h.get("v") != SCHEMA:
        raise MessageError(f"schema version {h.get('v')!r} != {SCHEMA}")
    stream = h.get("stream")
    if not isinstance(stream, str) or not stream:
        raise MessageError("field 'stream' must be a non-empty string")
    t = h.get("t")
    if not (isinstance(t, list) and len(t) == 2 and all(isinstance(x, int) for x in t)):
        raise MessageError("field 't' must be [start_ns, end_ns]")
    if t[1] < t[0]:
        raise MessageError("origin span ends before it starts")
    seq, wm = _int(h, "seq"), _int(h, "wm")
    stages = h.get("stages", {})
    meta = h.get("meta", {})
    if not isinstance(stages, dict) or not isinstance(meta, dict):
        raise MessageError("fields 'stages' and 'meta' must be maps")
    specs = h.get("parts")
    if not isinstance(specs, list) or len(specs) > _MAX_PARTS:
        raise MessageError("field 'parts' must be a list")
    if len(specs) != len(raw) - 2:
        raise MessageError(f"header lists {len(specs)} parts, message has {len(raw) - 2}")
    parts = []
    for spec, buf in zip(specs, raw[2:], strict=True):
        try:
            dtype, shape = spec
            if dtype not in _ALLOWED_DTYPES:
                raise MessageError(f"dtype {dtype!r} not allowed")
            dt = np.dtype(dtype)
            n = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if n * dt.itemsize != len(memoryview(buf).cast("B")):
                raise MessageError(f"part of shape {shape} {dtype} has wrong byte size")
            parts.append(np.frombuffer(buf, dtype=dt).reshape(shape))
        except MessageError:
            raise
        except Exception as e:  # noqa: BLE001
            raise MessageError(f"bad part spec {spec!r}: {e}") from None
    return Message(
        stream=stream, seq=seq, t_start=t[0], t_end=t[1], watermark=wm, parts=parts,
        meta=meta, stages=stages, topic=topic, schema=h["v"],
    )
