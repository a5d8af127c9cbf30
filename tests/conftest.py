import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from stream.offline import media as library_media  # noqa: E402
from tests import media as test_media  # noqa: E402

COMMAND = "turn on the kitchen lights"


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """A spoken command WAV (espeak-ng), the carphone face video, a no-face video."""
    d = tmp_path_factory.mktemp("media")
    wav = d / "command.wav"
    speech_end = test_media.command_wav(wav, COMMAND, lead_s=0.6, tail_s=1.6)
    noface = d / "noface.mp4"
    library_media.write_video(noface, test_media.scene_without_face(176, 144, 120), 30.0)
    return {"wav": wav, "face": library_media.carphone_path(), "noface": noface,
            "speech_end": speech_end}
