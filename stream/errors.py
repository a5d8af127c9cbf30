"""One base for the project's errors: each is one line a user can act on.

The command line prints ``error: <message>`` and exits 2 for any of them; a
traceback is a bug.
"""

from __future__ import annotations

from typing import NoReturn


class StreamError(Exception):
    """Anything the user can fix: bad input, a missing device, model or file."""


class UsageError(StreamError):
    """A bad command line."""


class SessionError(StreamError, ValueError):
    """A session (or a file meant for one) that cannot be read; the message names the file."""


def fail(msg: str) -> NoReturn:
    raise UsageError(msg)
