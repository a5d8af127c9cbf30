"""The IMU stage and its worker process: source -> tiny encoder -> ``motion`` messages."""

from __future__ import annotations

from stream.core.clock import now_ns
from stream.process.runtime import worker_main
from stream.process.stage import Output
from stream.stages.capture import CaptureStage
from tests.imu_encoder import motion_features
from tests.imu_source import CHUNK, RATE


class ImuStage(CaptureStage):
    modality = "imu"

    def poll(self) -> list[Output]:
        item = self.source.read()
        if item is None:
            self.done = True
            return []
        chunk, t = item
        cap = now_ns()
        motion = motion_features(chunk)
        self.ctx.gauges["rms"] = float(motion[0])
        t_end = t + int(CHUNK * 1e9 / RATE)
        return [Output("imu", t, t_end, {"motion": motion},
                       stages={"capture": cap, "encode_start": cap, "encode_end": now_ns()}, watermark=t_end)]


if __name__ == "__main__":
    worker_main(ImuStage)
