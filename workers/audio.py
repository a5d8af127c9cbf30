"""The audio worker process: one :class:`~stream.stages.audio.AudioStage` run by the shared worker loop."""

from stream.process.runtime import worker_main
from stream.stages.audio import AudioStage

if __name__ == "__main__":
    worker_main(AudioStage)
