"""The worker loop's turn: a stage's outputs go out in order, the turn's watermark on the last;
its wait for input ends when a socket the stage reads itself has something."""

import os
import signal
import threading

import pytest
import zmq

from stream.config import Config
from stream.core.message import Message, Topic
from stream.process import runtime
from stream.process.runtime import Runtime, Spec, _loop
from stream.process.stage import Output, Stage

pytestmark = pytest.mark.unit


class Recorder:
    """The runtime as the loop sees it: inputs to receive, and what was sent with which
    watermark (a real one stamps its current watermark on every message it publishes)."""

    def __init__(self, inputs: list[Message]) -> None:
        self.inputs, self.sent, self.watermark = list(inputs), [], -1
        self.stop, self.ended, self.sub = threading.Event(), False, object()

    def tick(self) -> None:
        pass

    def recv(self, timeout_ms: int, wake: tuple = ()) -> Message | None:
        if not self.inputs:
            self.stop.set()
            return None
        return self.inputs.pop(0)

    def send(self, out: Output) -> None:
        self.sent.append((out.meta["n"], self.watermark))

    def advance(self, watermark: int) -> None:
        self.watermark = max(self.watermark, watermark)


class TwoPerTurn(Stage):
    """Each input makes two outputs, and promises nothing older than its end will come."""

    def process(self, m: Message) -> list[Output]:
        self.watermark = m.t_end
        return [Output("x", m.t_start, m.t_end, meta={"n": f"{m.t_end}a"}),
                Output("x", m.t_end, m.t_end, meta={"n": f"{m.t_end}b"})]


def test_the_turns_watermark_goes_out_with_its_last_message_not_after_it():
    rt = Recorder([Message("in", i, 10 * i, 10 * i + 10, 10 * i + 10) for i in range(2)])
    _loop(rt, TwoPerTurn())
    # A consumer waiting on this stream's watermark (fusion's windows) learns of it at once,
    # not from the next idle watermark ~100 ms later; the turn's first message keeps the old one.
    assert rt.sent == [("10a", -1), ("10b", 10), ("20a", 10), ("20b", 20)]


@pytest.fixture
def text_runtime(tmp_path):
    """A real text worker's runtime, its ASR input a publisher that says nothing."""
    eps = {n: f"ipc://{tmp_path}/{n}" for n in ("text", "asr", "control")}
    asr = zmq.Context.instance().socket(zmq.PUB)
    asr.bind(eps["asr"])
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    rt = Runtime(Spec("text", Config().to_dict(), eps, inputs=["asr"], parent_pid=os.getpid()))
    yield rt
    rt.close()
    asr.close(0)
    for sig, h in handlers.items():  # a worker's runtime takes over the signals
        signal.signal(sig, h)


def test_a_line_on_a_stages_own_socket_ends_the_wait_for_input(text_runtime, tmp_path):
    """The text worker's `say` socket: a typed line must not wait out the loop's timeout."""
    rt, ctx = text_runtime, zmq.Context.instance()
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.bind(f"ipc://{tmp_path}/say")
    push.connect(f"ipc://{tmp_path}/say")
    try:
        push.send(b"turn on the kitchen lights")
        waited = threading.Thread(target=rt.recv, args=(600_000, (pull,)), daemon=True)
        waited.start()
        waited.join(60)  # ten minutes if the line did not wake it
        assert not waited.is_alive()
        assert pull.recv(zmq.NOBLOCK) == b"turn on the kitchen lights"  # left for the stage
        assert rt.recv(0, (pull,)) is None  # nothing more: an empty poll, not a message
    finally:
        pull.close(0)
        push.close(0)


def test_a_watermark_that_moved_goes_out_sooner_than_an_idle_one(text_runtime, monkeypatch):
    """Windows wait on watermarks: one that moved is sent 20 ms after the last message (the
    ASR's silent chunks send nothing else), an unchanged one only every 100 ms."""
    rt, sent = text_runtime, []
    rt.origin_ns, rt.last_hb = 0, 2**62  # started; no heartbeat due
    monkeypatch.setattr(rt, "publish", lambda topic, t0, t1, *a, **k: sent.append((topic, t1)))
    now = [10**12]
    monkeypatch.setattr(runtime, "now_ns", lambda: now[0])
    rt.watermark = rt.sent_wm = 500
    rt.last_send = now[0] - 30_000_000
    rt.tick()
    assert sent == []  # unchanged for 30 ms: nothing yet
    rt.advance(600)
    rt.tick()
    assert sent == [(Topic.WATERMARK, 600)]
    rt.last_send = now[0] - 10_000_000
    rt.advance(700)
    rt.tick()
    assert sent == [(Topic.WATERMARK, 600)]  # moved, but a message went out 10 ms ago
