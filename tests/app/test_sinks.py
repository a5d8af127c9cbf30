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
