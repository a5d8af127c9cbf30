"""Real, redistributable media that only the tests use (the library's are in stream.offline.media)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

from stream.offline.media import espeak, package_dir, voice_end_s


def lfw_subset() -> np.ndarray:
    """200 grey 25x25 images: the first 100 faces, the last 100 not."""
    return np.load(package_dir("skimage") / "data" / "lfw_subset.npy")


def scene_without_face(width: int = 320, height: int = 240, n: int = 60) -> list[np.ndarray]:
    """A slow pan over a photo with no face (scikit-image's coffee cup)."""
    img = cv2.imread(str(package_dir("skimage") / "data" / "coffee.png"))
    if img is None:
        raise FileNotFoundError("skimage coffee.png missing")
    img = cv2.resize(img, (width * 2, height * 2))
    out = []
    for i in range(n):
        x = int((width) * i / max(n - 1, 1))
        out.append(img[height // 2:height // 2 + height, x:x + width].copy())
    return out


def command_wav(path: Path | str, text: str, lead_s: float = 0.5, tail_s: float = 1.5,
                **voice) -> float:
    """Write lead silence + spoken ``text`` + tail silence; returns when the voice ends, in
    seconds: the last sample above 1 % of the peak (espeak pads its output with ~0.35 s of
    silence, which is not speech: an assistant answering within it answers after the words)."""
    x, sr = espeak(text, **voice)
    lead, tail = np.zeros(int(lead_s * sr), np.float32), np.zeros(int(tail_s * sr), np.float32)
    sf.write(str(path), np.concatenate([lead, x, tail]), sr)
    return lead_s + voice_end_s(x, sr)


@contextlib.contextmanager
def ffmpeg_mjpeg_camera(video: Path | str) -> Iterator[str]:
    """A network camera as users meet one: the ffmpeg CLI serving ``video`` in a loop as HTTP
    MJPEG on a free loopback port, in real time. Yields its URL. ffmpeg's server takes one
    client, then ends."""
    import imageio_ffmpeg

    with socket.socket() as s:  # a free port (the tiny race with another process is harmless)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/cam.mjpg"
    proc = subprocess.Popen([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
                             "-re", "-stream_loop", "-1", "-i", str(video), "-c:v", "mjpeg",
                             "-q:v", "5", "-f", "mpjpeg", "-listen", "1", url],
                            stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not _listening(port) and time.monotonic() < deadline:  # (a probe would be
            time.sleep(0.05)                                   # its one client)
        yield url
    finally:
        proc.kill()
        proc.wait()


def _listening(port: int) -> bool:
    """Whether something listens on this TCP port (read from /proc, without connecting)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(r.split()[1].endswith(f":{port:04X}") and r.split()[3] == "0A" for r in rows)


SYSTEM_PYTHON = "/usr/bin/python3"  # has Debian's GObject bindings (python3-gi); the venv has not


RTSP_ELEMENTS = ("multifilesrc", "jpegdec", "jpegenc", "rtpjpegpay")  # all in plugins-good


def rtsp_available() -> bool:
    """Whether GStreamer's RTSP server and the elements tests/rtsp_camera.py uses are here
    (setup.sh installs them)."""
    probe = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
             "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
             f"assert all(Gst.ElementFactory.find(e) for e in {RTSP_ELEMENTS!r})")
    return Path(SYSTEM_PYTHON).is_file() and subprocess.run(
        [SYSTEM_PYTHON, "-c", probe], capture_output=True).returncode == 0


@contextlib.contextmanager
def rtsp_camera(video: Path | str, auth: str = "", fps: float = 15.0) -> Iterator[str]:
    """An IP camera on loopback: ``video``'s frames as RTP/JPEG from GStreamer's RTSP server
    (``tests/rtsp_camera.py``), in a loop, behind basic auth if ``auth`` ("user:password").
    Yields the URL without the credentials (``rtsp://127.0.0.1:PORT/cam``)."""
    import tempfile

    import cv2

    from stream.offline import media

    with tempfile.TemporaryDirectory() as d:
        for i, f in enumerate(media.read_video(video)):
            cv2.imwrite(f"{d}/{i:05d}.jpg", f)
        proc = subprocess.Popen([SYSTEM_PYTHON, str(Path(__file__).with_name("rtsp_camera.py")), d,
                                 str(fps), *([auth] if auth else [])],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
        try:
            import select

            if not select.select([proc.stdout], [], [], 30)[0]:
                raise RuntimeError("the RTSP camera did not start within 30 s")
            port = int(proc.stdout.readline())
            yield f"rtsp://127.0.0.1:{port}/cam"
        finally:
            proc.kill()
            proc.wait()
