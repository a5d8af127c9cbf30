import msgpack
import numpy as np
import pytest

from stream.core.message import Message, MessageError, decode, encode

pytestmark = pytest.mark.unit


def roundtrip(msg: Message) -> Message:
    frames = [bytes(f) for f in encode(msg)]
    return decode(frames)


def test_roundtrip_keeps_every_field_and_tensor():
    parts = {"cues": np.arange(12, dtype=np.float32).reshape(3, 4), "n": np.array([1, -2], np.int16)}
    m = Message("video", 7, 100, 200, 150, parts, {"text": "hi"}, {"capture": 99}, topic="video")
    out = roundtrip(m)
    assert (out.stream, out.seq, out.t_start, out.t_end, out.watermark) == ("video", 7, 100, 200, 150)
    assert out.meta == {"text": "hi"} and out.stages == {"capture": 99}
    assert list(out.parts) == ["cues", "n"]  # named, in order
    np.testing.assert_array_equal(out.parts["cues"], parts["cues"])
    assert out.parts["cues"].dtype == np.float32 and out.parts["n"].dtype == np.int16


def test_tensor_frames_are_raw_bytes_not_pickle():
    x = np.ones(1000, np.float32)
    frames = encode(Message("a", 0, 0, 0, 0, {"x": x}))
    assert len(frames) == 3
    assert bytes(frames[2]) == x.tobytes()


def _header(**kw):
    h = {"v": 1, "stream": "s", "seq": 0, "t": [0, 1], "wm": 0, "stages": {}, "parts": [],
         "meta": {}}
    h.update(kw)
    return msgpack.packb(h)


@pytest.mark.parametrize("frames,reason", [
    ([b"t"], "at least"),
    ([b"t", b"\xc1garbage"], "undecodable"),
    ([b"t", _header(v=99)], "schema"),
    ([b"t", _header(stream="")], "stream"),
    ([b"t", _header(t=[5, 1])], "ends before"),
    ([b"t", _header(seq="x")], "seq"),
    ([b"t", _header(parts=[["float32", [4]]])], "parts"),
    ([b"t", _header(parts=[["float32", [4]]], meta={"parts": ["x"]}), b"\0" * 3], "byte size"),
    ([b"t", _header(parts=[["object", [1]]], meta={"parts": ["x"]}), b"\0" * 8], "not allowed"),
    ([b"t", _header(parts=[["float32", [1]]]), b"\0" * 4], "name every part"),
    ([b"t", _header(parts=[["float32", [1]]] * 2, meta={"parts": ["x", "x"]}), b"\0" * 4, b"\0" * 4],
     "name every part"),
])
def test_invalid_messages_raise(frames, reason):
    with pytest.raises(MessageError, match=reason):
        decode(frames)
