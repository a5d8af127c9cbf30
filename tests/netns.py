"""A second host on this machine: a network namespace joined by a veth pair, and a command
line that runs there with its own monotonic clock (a time namespace). Needs root; the tests
that use it skip with the reason otherwise. Only the project's own test addresses are used."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Host:
    ns: str
    here: str  # this (fusion) host's address on the link
    there: str  # the other host's
    clock_ahead_s: int  # its CLOCK_MONOTONIC minus ours, exactly
    delay_ms: float  # added to each direction of the link (0 where the kernel has no netem)

    def prefix(self) -> list[str]:
        """Run a command on the other host, with its own clock."""
        return ["ip", "netns", "exec", self.ns, "unshare", "--time", "--fork",
                "--monotonic", str(self.clock_ahead_s), "--boottime", str(self.clock_ahead_s)]


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=20)


def why_not() -> str | None:
    """Why a second host cannot be made here (None if it can)."""
    if os.geteuid() != 0:
        return "needs root (network and time namespaces)"
    if not (shutil.which("ip") and shutil.which("unshare")):
        return "needs iproute2 and util-linux (ip, unshare)"
    r = subprocess.run(["unshare", "--time", "--fork", "--monotonic", "5", "true"], capture_output=True)
    if r.returncode != 0:
        return f"time namespaces unavailable ({r.stderr.decode().strip()[:80]})"
    return None


@contextlib.contextmanager
def second_host(clock_ahead_s: int, delay_ms: float = 0.0) -> Iterator[Host]:
    """A namespace with a veth link to this one; ``delay_ms`` each way where netem exists."""
    n = os.getpid() % 250 + 1
    ns, here, there = f"strm-test-{os.getpid()}", f"10.233.{n}.1", f"10.233.{n}.2"
    a, b = f"sth{os.getpid() % 100000}", f"str{os.getpid() % 100000}"
    try:
        _run("ip", "netns", "add", ns)
        _run("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        _run("ip", "link", "set", b, "netns", ns)
        _run("ip", "addr", "add", f"{here}/30", "dev", a)
        _run("ip", "link", "set", a, "up")
        _run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{there}/30", "dev", b)
        _run("ip", "netns", "exec", ns, "ip", "link", "set", b, "up")
        _run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        applied = 0.0
        if delay_ms:
            try:
                _run("tc", "qdisc", "add", "dev", a, "root", "netem", "delay", f"{delay_ms}ms")
                _run("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", b, "root", "netem",
                     "delay", f"{delay_ms}ms")
                applied = delay_ms
            except subprocess.CalledProcessError:
                pass  # no sch_netem in this kernel: the link is as fast as it is
        yield Host(ns, here, there, clock_ahead_s, applied)
    finally:
        subprocess.run(["ip", "link", "del", a], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)

