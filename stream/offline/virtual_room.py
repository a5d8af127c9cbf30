"""A virtual microphone: a private PulseAudio server whose null sink ("room") has a monitor that
PortAudio sees as the default input (through ALSA's pulse plugin). Sound played into the room
with ``play`` is what the microphone hears. The tests use it; run as a module it measures the
microphone path's clock over a while:

    .venv/bin/python -m stream.offline.virtual_room [SECONDS] [RATE]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


class VirtualRoom:
    def __init__(self, rate: int = 48000, channels: int = 2) -> None:
        if shutil.which("pulseaudio") is None:
            raise RuntimeError("pulseaudio is not installed (setup.sh installs it)")
        self.rate, self.channels = rate, channels
        self.dir = Path(tempfile.mkdtemp(prefix="room-"))
        os.chmod(self.dir, 0o700)
        self.server = f"unix:{self.dir}/native"
        log = open(self.dir / "pulse.log", "wb")
        self.proc = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
             "--disallow-exit",
             f"--load=module-native-protocol-unix socket={self.dir}/native auth-anonymous=1",
             f"--load=module-null-sink sink_name=room rate={rate} channels={channels}"],
            env={**os.environ, "XDG_RUNTIME_DIR": str(self.dir), "HOME": str(self.dir)},
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while self._pactl("info").returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pulseaudio did not start: {(self.dir / 'pulse.log').read_text()[-500:]}")
            time.sleep(0.1)
        self._pactl("set-default-source", "room.monitor")
        self.saved = os.environ.get("PULSE_SERVER")
        os.environ["PULSE_SERVER"] = self.server  # this process's PortAudio and every worker's
        _refresh_portaudio()

    def _pactl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", "-s", self.server, *args], capture_output=True, text=True)

    def unplug(self) -> None:
        """The microphone goes away (its source vanishes from the server)."""
        self._pactl("unload-module", "module-null-sink")

    def replug(self) -> None:
        self._pactl("load-module", "module-null-sink", "sink_name=room", f"rate={self.rate}",
                    f"channels={self.channels}")
        self._pactl("set-default-source", "room.monitor")

    def play(self, wav: str | Path) -> subprocess.Popen:
        """Play a sound file into the room (returns at once; wait on the result if needed)."""
        return subprocess.Popen(["paplay", "-s", self.server, "--device=room", str(wav)])

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.saved is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = self.saved
        _refresh_portaudio()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> VirtualRoom:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _refresh_portaudio() -> None:
    """PortAudio lists devices once, at initialisation: make it look again."""
    try:
        import sounddevice as sd
    except OSError:
        return
    sd._terminate()
    sd._initialize()


def mic_clock(seconds: float = 60.0, rate: int = 48000) -> dict:
    """Chunk spacing, ADC-clock jitter and drift against the sample count, overflows."""
    import numpy as np

    from stream.sources.audio import MicSource

    with VirtualRoom(rate, 2):
        mic = MicSource("default", 1536, rate=rate)
        mic.connect()
        try:
            ts = [mic.read()[1] for _ in range(int(seconds * 16000 / 1536))]
        finally:
            mic.disconnect()
    dev = np.array(mic.deviation_ns, dtype=np.float64) / 1e6  # ms, per PortAudio block
    dev = dev[len(dev) // 10:]  # past the stream's start (see MicSource._settle)
    k = np.arange(len(dev))
    slope = np.polyfit(k, dev, 1)[0] if len(dev) > 2 else 0.0  # ms per block
    blocks_per_min = 60 * rate / round(1536 * rate / 16000)
    jitter = dev - np.polyval(np.polyfit(k, dev, 1), k) if len(dev) > 2 else dev
    spacing = np.diff(ts) / 1e6
    return {"seconds": seconds, "rate": rate, "chunks": len(ts),
            "spacing_ms": sorted({round(float(x), 3) for x in spacing}),
            "adc_jitter_ms_p50": round(float(np.median(np.abs(jitter))), 3),
            "adc_jitter_ms_p99": round(float(np.percentile(np.abs(jitter), 99)), 3),
            "adc_drift_ms_per_min": round(float(slope * blocks_per_min), 3),
            "overflows": mic.overflows, "resyncs": mic.resyncs, "settle_shifts": mic.shifts}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(mic_clock(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0,
                               int(sys.argv[2]) if len(sys.argv) > 2 else 48000), indent=1))
