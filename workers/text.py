"""The text worker process: one :class:`~stream.stages.text.TextStage` run by the shared worker loop."""

from stream.process.runtime import worker_main
from stream.stages.text import TextStage

if __name__ == "__main__":
    worker_main(TextStage)
