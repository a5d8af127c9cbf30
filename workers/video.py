"""The video worker process: one :class:`~stream.stages.video.VideoStage` run by the shared worker loop."""

from stream.process.runtime import worker_main
from stream.stages.video import VideoStage

if __name__ == "__main__":
    worker_main(VideoStage)
