"""The worker loop's turn: a stage's outputs go out in order, the turn's watermark on the last;
its wait for input ends when a socket the stage reads itself has something."""

import os
import signal
import threading

import pytest
import zmq

from stream.config import Config
from stream.core.message import Message
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


def test_a_line_on_a_stages_own_socket_ends_the_wait_for_input(tmp_path):
    """The text worker's `say` socket: a typed line must not wait out the loop's timeout."""
    eps = {n: f"ipc://{tmp_path}/{n}" for n in ("text", "asr", "control")}
    ctx = zmq.Context.instance()
    asr = ctx.socket(zmq.PUB)  # an input with nothing to say
    asr.bind(eps["asr"])
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.bind(f"ipc://{tmp_path}/say")
    push.connect(f"ipc://{tmp_path}/say")
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    rt = Runtime(Spec("text", Config().to_dict(), eps, inputs=["asr"], parent_pid=os.getpid()))
    try:
        push.send(b"turn on the kitchen lights")
        waited = threading.Thread(target=rt.recv, args=(600_000, (pull,)), daemon=True)
        waited.start()
        waited.join(60)  # ten minutes if the line did not wake it
        assert not waited.is_alive()
        assert pull.recv(zmq.NOBLOCK) == b"turn on the kitchen lights"  # left for the stage
        assert rt.recv(0, (pull,)) is None  # nothing more: an empty poll, not a message
    finally:
        rt.close()
        for sock in (asr, pull, push):
            sock.close(0)
        for sig, h in handlers.items():  # a worker's runtime takes over the signals
            signal.signal(sig, h)
