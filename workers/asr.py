"""The asr worker process: one :class:`~stream.stages.asr.AsrStage` run by the shared worker loop."""

from stream.process.runtime import worker_main
from stream.stages.asr import AsrStage

if __name__ == "__main__":
    worker_main(AsrStage)
