"""The message envelope (docs/contracts.md, "Messages") and the protocol's constants.

Wire format, one ZeroMQ multipart message:
``[topic, header, part0, part1, ...]``. The header is msgpack; every tensor
travels as raw bytes in its own frame (zero-copy on send, a numpy view on
receive), never pickled. Parts are named: the names travel in
``meta["parts"]`` and consumers read ``msg.parts["embedding"]``, never an
index. ``decode`` validates everything and raises :class:`MessageError`,
which receivers count and drop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import msgpack
import numpy as np

from stream.errors import StreamError

SCHEMA = 1
EOS = 2**62  # a watermark meaning "this stream has ended"
_ALLOWED_DTYPES = {"float32", "float16", "int16", "int32", "int64", "uint8", "bool"}
_MAX_PARTS = 16


class Topic(StrEnum):
    """Topics besides the data topics (which are the stream names)."""

    HEARTBEAT = "hb"  # a worker's health; its watermark too
    WATERMARK = "wm"  # a bare watermark (no data)
    PREDICTION = "pred"  # fusion's output
    TRANSCRIPT = "asr"  # the ASR's partial and final transcripts
    CONTROL = "ctl"  # the supervisor's commands


class Control(StrEnum):
    """The supervisor's commands (``meta["cmd"]`` of a control message)."""

    START = "start"  # carries ``origin_ns``, the session's time zero
    END = "end"  # sources stop and send end of stream; fusion drains
    STOP = "stop"  # exit now
    LOST = "lost"  # carries ``stream``: its worker was given up; consumers treat it as ended


class MessageError(StreamError, ValueError):
    """A message that fails validation; the receiver counts it and drops it."""


@dataclass
class Message:
    """One published item: an event (or a span of one) and its named tensors.

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
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, int] = field(default_factory=dict)
    topic: str = ""
    schema: int = SCHEMA


def encode(msg: Message) -> list:
    """Frames for ``socket.send_multipart(frames, copy=False)``."""
    parts = [np.ascontiguousarray(p) for p in msg.parts.values()]
    for p in parts:
        if p.dtype.name not in _ALLOWED_DTYPES:
            raise MessageError(f"dtype {p.dtype.name} not allowed")
    meta = {**msg.meta, "parts": list(msg.parts)} if parts else msg.meta
    header = {
        "v": msg.schema,
        "stream": msg.stream,
        "seq": msg.seq,
        "t": [msg.t_start, msg.t_end],
        "wm": msg.watermark,
        "stages": msg.stages,
        "parts": [[p.dtype.name, list(p.shape)] for p in parts],
        "meta": meta,
    }
    topic = (msg.topic or msg.stream).encode()
    # memoryview keeps the tensor zero-copy through pyzmq.
    return [topic, msgpack.packb(header, use_bin_type=True), *(memoryview(p) for p in parts)]


def _int(h: dict, key: str) -> int:
    v = h.get(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise MessageError(f"field {key!r} must be an int")
    return v


def _header(raw: list) -> tuple[str, dict]:
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
    if not isinstance(h.get("stages", {}), dict) or not isinstance(h.get("meta", {}), dict):
        raise MessageError("fields 'stages' and 'meta' must be maps")
    return topic, h


def _part(spec: Any, buf: Any) -> np.ndarray:
    try:
        dtype, shape = spec
        if dtype not in _ALLOWED_DTYPES:
            raise MessageError(f"dtype {dtype!r} not allowed")
        dt = np.dtype(dtype)
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if n * dt.itemsize != len(memoryview(buf).cast("B")):
            raise MessageError(f"part of shape {shape} {dtype} has wrong byte size")
        return np.frombuffer(buf, dtype=dt).reshape(shape)
    except MessageError:
        raise
    except Exception as e:  # noqa: BLE001
        raise MessageError(f"bad part spec {spec!r}: {e}") from None


def decode(frames: list) -> Message:
    """Parse and validate one multipart message; raises MessageError."""
    if len(frames) < 2:
        raise MessageError("need at least topic and header frames")
    raw = [f.buffer if hasattr(f, "buffer") else f for f in frames]
    topic, h = _header(raw)
    seq, wm = _int(h, "seq"), _int(h, "wm")
    meta = h.get("meta", {})
    specs = h.get("parts")
    if not isinstance(specs, list) or len(specs) > _MAX_PARTS:
        raise MessageError("field 'parts' must be a list")
    if len(specs) != len(raw) - 2:
        raise MessageError(f"header lists {len(specs)} parts, message has {len(raw) - 2}")
    names = meta.pop("parts", []) if specs else []
    if not (isinstance(names, list) and len(names) == len(specs) and len(set(names)) == len(names)
            and all(isinstance(n, str) for n in names)):
        raise MessageError("meta 'parts' must name every part once")
    parts = {name: _part(spec, buf) for name, spec, buf in zip(names, specs, raw[2:], strict=True)}
    return Message(stream=h["stream"], seq=seq, t_start=h["t"][0], t_end=h["t"][1], watermark=wm,
                   parts=parts, meta=meta, stages=h.get("stages", {}), topic=topic, schema=h["v"])
