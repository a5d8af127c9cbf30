"""What /proc says about our processes: children, liveness, memory (RSS and PSS) and CPU time.

PSS (proportional set size) divides each shared page among the processes that map it, so the
PSS of all processes adds up to what they really use together; RSS counts shared pages (torch's
libraries, say) once per process.
"""

from __future__ import annotations

import os
from pathlib import Path

TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name (which may hold spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> set[int]:
    """The live child processes of ``pid``."""
    out = set()
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and int(_stat(int(d.name))[1]) == pid:
                out.add(int(d.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def parent(pid: int) -> int:
    return int(_stat(pid)[1])


def descendants(pid: int) -> set[int]:
    """Children, their children, and so on."""
    out, todo = set(), [pid]
    while todo:
        for c in children(todo.pop()) - out:
            out.add(c)
            todo.append(c)
    return out


def worker_name(pid: int) -> str:
    """``video`` for a process running ``python -m workers.video`` ("" for anything else)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
    word = next((w for w in cmd.split() if w.startswith("workers.")), "")
    return word.removeprefix("workers.")


def workers(launcher: int) -> dict[int, str]:
    """A launcher's worker processes (pid -> name): its descendants running ``workers.NAME``,
    those forked by the fork server included, the fork server itself not."""
    return {d: n for d in descendants(launcher) if (n := worker_name(d))}


def alive(pid: int) -> bool:
    """Running, not a zombie."""
    try:
        return _stat(pid)[0] != "Z"
    except (OSError, IndexError):
        return False


def memory_mb(pid: int) -> dict[str, float]:
    """Resident and proportional memory (MB) of a live process."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            out[key.lower() + "_mb"] = round(int(rest.split()[0]) / 1024, 1)
    return out


def cpu_s(pid: int) -> float:
    """CPU time (user + system, seconds) the process has used so far."""
    f = _stat(pid)
    return (int(f[11]) + int(f[12])) * TICK_S  # utime, stime (fields 14 and 15 of stat)


def nice(pid: int) -> int:
    """The process's nice value (its CPU priority: higher gives way)."""
    return int(_stat(pid)[16])  # field 19 of stat
