"""Capture devices with one interface: ``connect / read / disconnect`` (after LeRobot's cameras).

Video sources yield ``(frame_bgr, t_ns)``, audio sources ``(chunk, t_start_ns)``
with ``t`` the event (capture) time on the monotonic clock. ``read`` is
lossless and blocks until the next item is due (files are paced by a
:class:`~stream.core.clock.Pacer`); it returns None at the end. Live capture
wraps a video source in :class:`~stream.sources.video.LatestFrame` (keep the
newest, count drops).
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from stream.errors import StreamError


class DeviceError(StreamError, RuntimeError):
    """A device or media file that cannot be used; the message names it."""


class DeviceAway(DeviceError):
    """A live device went away after it had worked; its source is reconnecting (nothing now)."""


@dataclass(frozen=True)
class SourceTiming:
    """How a source releases its items: pacing, seeking, looping."""

    speed: float | None = 1.0  # None: as fast as possible (replay --speed max)
    replay: bool = False  # every item, lossless (no newest-frame policy)
    start_s: float = 0.0
    end_s: float | None = None
    loop: bool = False


STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")


def is_stream_url(spec: str) -> bool:
    """A network camera: ``rtsp://``, ``http(s)://`` (MJPEG) ..."""
    return urlsplit(spec).scheme.lower() in STREAM_SCHEMES


def redact_url(spec: str) -> str:
    """The URL without its password: what may be printed or logged."""
    u = urlsplit(spec)
    if u.password is None:
        return spec
    host = u.hostname or ""
    netloc = f"{u.username}:***@{host}" + (f":{u.port}" if u.port else "")
    return urlunsplit(u._replace(netloc=netloc))


def is_file_spec(spec: str) -> bool:
    """A path (has a separator or an extension), not a device index or name, nor a URL."""
    return not is_stream_url(spec) and (os.path.sep in spec or bool(os.path.splitext(spec)[1]))


class Source(ABC):
    """``connect`` opens the device or file (before start, so failures surface at once);
    ``read`` returns the next item or None at the end."""

    origin_ns: int = 0
    fps: float = 0.0
    live_device: bool = False  # a camera or microphone: it may go away and come back

    def set_origin(self, origin_ns: int) -> None:
        """Session time zero, known only once the supervisor says start."""
        self.origin_ns = origin_ns
        pacer = getattr(self, "pacer", None)
        if pacer is not None:
            pacer.start_ns = origin_ns

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def read(self) -> tuple[Any, int] | None: ...

    def disconnect(self) -> None:
        pass


class Wrapped(Source):
    """A source around another: everything passes through unless overridden."""

    def __init__(self, inner: Source) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:  # the device's own extras (overflow counts, ...)
        return getattr(self.__dict__["inner"], name)

    @property
    def fps(self) -> float:  # type: ignore[override]
        return self.inner.fps

    def set_origin(self, origin_ns: int) -> None:
        self.inner.set_origin(origin_ns)

    def connect(self) -> None:
        self.inner.connect()

    def read(self) -> tuple[Any, int] | None:
        return self.inner.read()

    def disconnect(self) -> None:
        self.inner.disconnect()


class Resumed(Wrapped):
    """A restarted worker's source: reads past what its predecessor already published (and,
    paced, what is already overdue) instead of publishing it again or bursting through it."""

    def __init__(self, inner: Source, after_ns: int) -> None:
        super().__init__(inner)
        self.after_ns, self.skipped = after_ns, 0

    def read(self) -> tuple[Any, int] | None:
        while (item := self.inner.read()) is not None and item[1] < self.after_ns:
            self.skipped += 1
        return item


class Reconnecting(Wrapped):
    """A live device that may be unplugged: when a read fails, the device is closed and
    reopened with backoff (0.5, 1, then every 2 s), for as long as it takes, while ``read``
    raises :class:`DeviceAway` (the stage publishes nothing meanwhile; fusion shows the
    modality missing)."""

    BACKOFF_S = (0.5, 1.0, 2.0)  # then every 2 s: trying a local device or a URL is cheap

    def __init__(self, inner: Source) -> None:
        super().__init__(inner)
        self.away: str | None = None  # why, while the device is gone
        self.tries = 0
        self.next_try = 0.0
        self.reconnects = 0

    def _lost(self, why: str) -> None:
        try:
            self.inner.disconnect()
        except Exception:  # noqa: BLE001  (a device that is gone may fail to close: it is gone)
            pass
        self.away, self.tries = why, 0
        self.next_try = time.monotonic() + self.BACKOFF_S[0]

    def read(self) -> tuple[Any, int] | None:
        if self.away is not None:
            if time.monotonic() < self.next_try:
                time.sleep(min(0.1, self.next_try - time.monotonic()))
                raise DeviceAway(self.away)
            try:
                self.inner.connect()
            except DeviceError:
                self.tries += 1
                self.next_try = time.monotonic() + self.BACKOFF_S[min(self.tries, len(self.BACKOFF_S) - 1)]
                raise DeviceAway(self.away) from None
            self.away = None
            self.reconnects += 1
        try:
            return self.inner.read()
        except DeviceError as e:
            self._lost(str(e))
            raise DeviceAway(str(e)) from None

    def disconnect(self) -> None:
        if self.away is None:
            self.inner.disconnect()
