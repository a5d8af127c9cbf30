"""A network camera on loopback: an HTTP MJPEG stream (what many IP cameras serve), from a video file."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2

BOUNDARY = "frame"


class MjpegCamera:
    """Serves ``video`` in a loop at its frame rate on ``http://127.0.0.1:PORT/cam.mjpg``,
    asking for HTTP basic credentials when ``auth`` ("user:password") is given."""

    def __init__(self, video: str | Path, auth: str | None = None, port: int = 0) -> None:
        cap = cv2.VideoCapture(str(video))
        self.fps = cap.get(cv2.CAP_PROP_FPS) or 15.0
        self.frames = []
        while True:
            ok, img = cap.read()
            if not ok:
                break
            self.frames.append(cv2.imencode(".jpg", img)[1].tobytes())
        cap.release()
        self.auth = auth
        self.clients = 0
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                import base64

                if camera.auth is not None:
                    want = "Basic " + base64.b64encode(camera.auth.encode()).decode()
                    if self.headers.get("Authorization") != want:
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Basic realm="cam"')
                        self.end_headers()
                        return
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.end_headers()
                camera.clients += 1
                i = 0
                try:
                    while not camera.stopped.is_set():
                        jpg = camera.frames[i % len(camera.frames)]
                        self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                         f"Content-Length: {len(jpg)}\r\n\r\n".encode() + jpg + b"\r\n")
                        i += 1
                        time.sleep(1 / camera.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.stopped = threading.Event()
        ThreadingHTTPServer.allow_reuse_address = True  # a camera back on its old port at once
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, credentials: str | None = None) -> str:
        who = f"{credentials}@" if credentials else ""
        return f"http://{who}127.0.0.1:{self.port}/cam.mjpg"

    def __enter__(self) -> MjpegCamera:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()
