"""Sinks: predictions to a file (whole, renamed into place), to JSON lines, to memory."""

import io
import json

import pytest

from stream.app.sinks import FileSink, JsonLinesSink, MemorySink

pytestmark = pytest.mark.unit
P = {"t": 1.0, "intent": "none", "confidence": 1.0, "addressed": 0.0}


def test_file_sink_writes_whole_lines_and_renames_at_the_end(tmp_path):
    path = tmp_path / "out" / "p.jsonl"
    s = FileSink(path)
    s.prediction(P)
    assert not path.exists()  # nothing half-written under the final name
    s.close(ok=True)
    assert [json.loads(x) for x in path.read_text().splitlines()] == [P]


def test_json_lines_and_memory():
    buf = io.StringIO()
    JsonLinesSink(buf).prediction(P)
    assert json.loads(buf.getvalue()) == P
    m = MemorySink()
    m.prediction(P)
    assert m.predictions == [P] and len(m.arrived_ns) == 1


def test_the_dashboard_picture_is_taken_just_after_the_first_command(tmp_path):
    from stream.app.sinks import SvgSink

    sink = SvgSink(tmp_path / "dash.svg", "demo")
    none = {"intent": "none", "confidence": 0.99, "addressed": 0.1, "modalities": {"text": "ok"}}
    for i in range(5):
        sink.prediction({**none, "t": i * 0.2})
    sink.transcript("turn on the kitchen lights", final=True)
    sink.prediction({**none, "t": 1.2, "intent": "HassTurnOn", "addressed": 0.97, "event": True})
    for i in range(8):  # later frames do not replace the picture
        sink.prediction({**none, "t": 1.4 + i * 0.2, "intent": "HassTurnOff" if i > 4 else "none"})
    sink.close(True)
    svg = (tmp_path / "dash.svg").read_text()
    assert svg.startswith("<svg") and "HassTurnOn" in svg and "HassTurnOff" not in svg
    assert not list(tmp_path.glob("*.tmp"))
