"""The fusion worker process: one :class:`~stream.stages.fusion.FusionStage` run by the shared worker loop."""

from stream.process.runtime import worker_main
from stream.stages.fusion import FusionStage

if __name__ == "__main__":
    worker_main(FusionStage)
