"""Each run's private directory: its sockets, and the file that lets ``say`` find it.

Local runs talk over ``ipc://`` sockets in a directory only this user can open
(mode 0700, under ``$XDG_RUNTIME_DIR`` or ``/tmp/stream-assistant-UID``): no port
to collide on, so any number of assistants run side by side, and no other user
on the machine can read the streams, publish into them or send ``say`` lines.
The directory goes when the run ends.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from stream.errors import StreamError

DISCOVERY = "assistant.json"
OWNER = "owner.pid"  # written at once: a run killed before it announced itself is still known


def runtime_root() -> Path:
    """This user's private folder for runs (created 0700; refused if anyone else can enter it)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(xdg) / "stream-assistant" if xdg and os.access(xdg, os.W_OK) else \
        Path(tempfile.gettempdir()) / f"stream-assistant-{os.getuid()}"
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = base.lstat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077 or base.is_symlink():
        raise StreamError(f"{base}: not a private directory of this user (mode {st.st_mode & 0o777:o}); "
                          "remove it and start again")
    return base


class RunDir:
    """A fresh private directory for one run; ``endpoint(name)`` is a socket in it."""

    def __init__(self) -> None:
        root = runtime_root()
        remove_stale(root)
        self.path = Path(tempfile.mkdtemp(prefix="run-", dir=root))  # mkdtemp: mode 0700
        (self.path / OWNER).write_text(str(os.getpid()))

    def endpoint(self, name: str) -> str:
        return f"ipc://{self.path / name}"

    def announce(self, say_endpoint: str, curve_dir: str = "") -> None:
        """Write the discovery file ``say`` reads (whole, then renamed)."""
        tmp = self.path / (DISCOVERY + ".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "say": say_endpoint, "curve_dir": curve_dir}))
        os.replace(tmp, self.path / DISCOVERY)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(root: Path, unowned_s: float = 3600.0) -> None:
    """Folders of runs that were killed (no clean-up possible): their process is gone, or the
    folder says whose it is nowhere and is old."""
    for d in root.glob("run-*"):
        try:
            owner = int((d / OWNER).read_text())
        except (OSError, ValueError):
            owner = None
        try:
            stale = not _alive(owner) if owner is not None else time.time() - d.stat().st_mtime > unowned_s
        except OSError:
            stale = False
        if stale:
            shutil.rmtree(d, ignore_errors=True)


def running_assistants() -> list[dict]:
    """This user's running assistants, newest first: {"pid", "say", "dir"}."""
    found = []
    for f in runtime_root().glob(f"run-*/{DISCOVERY}"):
        try:
            info = json.loads(f.read_text())
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(pid):
            found.append({"pid": pid, "say": str(info.get("say", "")), "dir": str(f.parent),
                          "curve_dir": str(info.get("curve_dir", "")),
                          "mtime": f.stat().st_mtime})
    return sorted(found, key=lambda a: -a["mtime"])
