"""Starts, watches and stops the worker processes; collects what they publish.

One OS process per worker (``python -m workers.NAME SPEC``). The supervisor
waits until every worker has heard all its inputs (heartbeats through the
real sockets), then broadcasts ``start`` with the session's time origin, so
nothing is lost to a slow joiner. A worker that exits or falls silent is
restarted with backoff; a worker that fails while starting ends the run with
its own one-line error. ``stop`` ends everything within a few seconds.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import zmq

from stream.config import Config
from stream.core.clock import now_ns
from stream.core.keys import BusKeys, authenticate, bus_keys, create_keys, stop_authenticators
from stream.core.message import Control, Message, Topic
from stream.core.transport import Publisher, Subscriber, apply_curve, is_loopback
from stream.errors import StreamError
from stream.modalities.registry import WorkerDecl, modalities
from stream.process.forked import ForkedProcess
from stream.process.forked import warm_up as forkserver_warm_up
from stream.process.hosts import HostServer
from stream.process.rundir import RunDir
from stream.process.runtime import Spec
from stream.process.stage import RunOptions

REPO = Path(__file__).resolve().parents[2]
STEADY_S = 60.0  # a worker up this long has recovered: its failures in a row start again at 0


class StartupError(StreamError, RuntimeError):
    """A worker failed before the run started; the message is its own one-line error."""


def plan(cfg: Config, sources: dict[str, str]) -> tuple[list[str], list[WorkerDecl]]:
    """The modalities a run has (a source, or always on) and its workers, fusion last."""
    mods = [m for m in modalities(cfg) if m.always_on or sources.get(m.name, "none") != "none"]
    decls = [w for m in mods for w in m.workers(cfg)]
    streams = [m.name for m in mods]
    decls.append(WorkerDecl("fusion", "workers.fusion", tuple(streams)))
    present = {w.name for w in decls}
    return streams, [replace(w, inputs=tuple(i for i in w.inputs if i in present)) for w in decls]


def free_port(host: str = "127.0.0.1") -> int:
    """A random port nobody listens on, below Linux's ephemeral range (32768-60999): a port the
    kernel picked could be handed to an outgoing connection before our worker binds it (seen in
    CI: "Address already in use")."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, 32768)
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise StreamError(f"{host}: no free TCP port between 20000 and 32767")


class RemoteProcess:
    """Stands in for the process of a worker another host runs: nothing here can start, stop or
    wait for it; it joins by itself, and the run stops it with the ``stop`` control message."""

    pid = None
    returncode = None

    def poll(self) -> None:
        return None

    def terminate(self) -> None:
        pass

    kill = terminate

    def wait(self, timeout: float | None = None) -> None:
        return None


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen | ForkedProcess | RemoteProcess
    log: Path
    restarts: int = 0  # in this run (the dashboard shows it)
    in_row: int = 0  # failures since it last ran steadily (run.max_restarts bounds these)
    told_end: bool = False
    spawned: float = field(default_factory=time.monotonic)
    last_hb: float = field(default_factory=time.monotonic)
    heard: bool = False  # this process (not its dead predecessor) has heartbeated
    hb: dict[str, Any] = field(default_factory=dict)
    next_restart: float = 0.0


def last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def exit_cause(returncode: int, log: Path) -> str:
    """Why a worker ended: the signal that killed it, or its exit code and last line
    (the worker's own one-line error, or an exception's last line)."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    last = last_line(log)
    return f"exited with code {returncode}" + (f": {last}" if last else "")


class Supervisor:
    def __init__(self, cfg: Config, options: RunOptions,
                 on_prediction: Callable[[dict], None] | None = None,
                 on_transcript: Callable[[Message], None] | None = None) -> None:
        self.cfg = cfg
        self.options = options
        self.on_prediction = on_prediction or (lambda p: None)
        self.on_transcript = on_transcript or (lambda m: None)
        self.streams, decls = plan(cfg, options.sources)
        self.workers = {w.name: w for w in decls}
        self.names = list(self.workers)
        self.rundir = RunDir()  # private: ipc sockets, the `say` discovery file
        self.remote = check_remote(cfg, self.names)  # before any keys are made up for the run
        if cfg.net.transport == "tcp" and not cfg.net.curve_dir and is_loopback(f"tcp://{cfg.net.host}:1"):
            # Loopback TCP is open to every local user: keys of its own for this run. (Another
            # host needs keys from a file: without them, binding there is refused.)
            keys_dir = create_keys(self.rundir.path / "keys")
            self.cfg = cfg = replace(cfg, net=replace(cfg.net, curve_dir=str(keys_dir)))
        self.keys = bus_keys(cfg.net.curve_dir)
        self.endpoints = self._endpoints(cfg)
        self.hosts: HostServer | None = None  # remote workers join (and have their clocks kept) here
        self.ctx = zmq.Context.instance()
        self.last_t: float | None = None  # the newest prediction's t: a restarted fusion resumes after it
        self.watermarks: dict[str, int] = {}  # per worker, the newest its heartbeats promised
        self.stale_predictions = 0  # predictions older than the newest one (never passed on)
        self.procs: dict[str, Proc] = {}
        self.control: Publisher | None = None
        self.sub: Subscriber | None = None
        self.origin_ns: int | None = None
        self.finished = False
        self.ending = False  # end() was called: a worker restarted after it is told at once
        self.health: dict[str, dict[str, Any]] = {}
        self.events: list[str] = []  # restarts and errors, for the dashboard
        self.lost: set[str] = set()  # workers given up after max_restarts
        self.state_changes: list[tuple[float, str, str]] = []  # (monotonic s, worker, state)
        self.auth_denied: Counter[str] = Counter()  # peers refused by the CURVE handshake
        self.denied_told = 0

    def _endpoints(self, cfg: Config) -> dict[str, str]:
        """Every worker's PUB socket, the control socket and `say`'s: ipc in the run's private
        directory, or TCP (for workers on other hosts; the transport then wants CURVE keys)."""
        names = [*self.names, "control", "say"]
        if cfg.net.transport == "ipc":
            return {n: self.rundir.endpoint(n) for n in names}
        host = cfg.net.host
        port = (lambda i: cfg.net.base_port + i) if cfg.net.base_port else (lambda i: free_port(host))
        eps = {n: f"tcp://{host}:{port(i)}" for i, n in enumerate(names)}
        if cfg.net.remote:  # those workers bind on their own hosts, and join here
            eps.update(cfg.net.remote)
            eps["hosts"] = f"tcp://{host}:{cfg.net.join_port or free_port(host)}"
        return eps

    # -- processes ---------------------------------------------------------
    def _spec(self, name: str, restart: bool = False) -> Spec:
        opts = replace(self.options, streams=self.streams, workers=self.names)
        if name == "fusion" and self.last_t is not None:  # a restart: resume, never repeat
            opts = replace(opts, start_s=max(opts.start_s, self.last_t))
        elif restart and self.origin_ns is not None:  # after what its predecessor published
            done = max(self.watermarks.get(name, -1), self.origin_ns) - self.origin_ns
            opts = replace(opts, resume_after_s=max(opts.start_s, done / 1e9))
        return Spec(name, self.cfg.to_dict(), self.endpoints, opts, list(self.workers[name].inputs),
                    -1 if name in self.remote else os.getpid())

    def _remote_spec(self, name: str) -> tuple[str, str]:
        """What a remote worker gets when it joins (a rejoin mid-run resumes like a restart)."""
        return self._spec(name, restart=self.origin_ns is not None).dumps(), self.workers[name].module

    def _forked(self, name: str) -> bool:
        """Started from the fork server (torch imported once, shared), not afresh."""
        return self.workers[name].torch and self.cfg.run.fork_workers and name not in self.remote

    def _spawn(self, name: str, restarts: int = 0, in_row: int = 0) -> None:
        log = self.rundir.path / f"{name}.log"  # logs and specs go with the run at its end
        if name in self.remote:
            self.procs[name] = Proc(name, RemoteProcess(), log)
            return
        f = open(log, "ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # The spec goes in a file: a replay's scripted text can outgrow the argument list.
        spec = self.rundir.path / f"{name}.spec.json"
        spec.write_text(self._spec(name, restart=restarts > 0).dumps())
        decl = self.workers[name]
        popen: subprocess.Popen | ForkedProcess
        if self._forked(name):
            popen = ForkedProcess(decl.module, [f"@{spec}"], log, env, REPO)
        else:
            popen = subprocess.Popen([sys.executable, "-m", decl.module, f"@{spec}"],
                                     cwd=REPO, stdout=f, stderr=subprocess.STDOUT, env=env)
        f.close()
        if self.workers[name].nice:
            try:  # as it starts; raising one's own processes' nice needs no privilege
                os.setpriority(os.PRIO_PROCESS, popen.pid, os.getpriority(os.PRIO_PROCESS, 0)
                               + self.workers[name].nice)
            except OSError:
                pass  # it is already gone: the supervisor sees it exit
        self.procs[name] = Proc(name, popen, log, restarts, in_row)

    def start(self, timeout_s: float = 180.0) -> int:
        """Spawn everything and hand out the time origin; returns origin_ns."""
        forked = [n for n in self.names if self._forked(n)]
        if forked:
            forkserver_warm_up()
        server, client = (self.keys.for_server(), self.keys.for_client()) if self.keys else (None, None)
        if self.keys is not None:
            authenticate(self.ctx, self.keys, self.auth_denied)
        self.control = Publisher(self.ctx, self.endpoints["control"], curve=server)
        self.sub = Subscriber(self.ctx, [self.endpoints[n] for n in self.names],
                              [Topic.HEARTBEAT, Topic.PREDICTION, Topic.TRANSCRIPT], hwm=0, curve=client)
        if self.remote:
            self._serve_hosts(server)
        for n in sorted(self.names, key=lambda n: n in forked):  # the others do not wait for
            self._spawn(n)                                     # the fork server's imports
        deadline = time.monotonic() + timeout_s
        while True:
            self._pump(0.05)
            self._check_startup()
            if all(self._ready(n) for n in self.names):
                break
            if time.monotonic() > deadline:
                slow = [n for n in self.names if not self._ready(n)]
                last = "; ".join(f"{n}: {self._why_not_up(n)}" for n in slow)
                raise StartupError(f"workers did not come up in {timeout_s:.0f} s ({last})")
        self.rundir.announce(self.endpoints["say"], self.cfg.net.curve_dir)  # `say` can find us now
        self.origin_ns = now_ns() + 50_000_000
        # Past this point a worker that dies is restarted by poll(), like any other time:
        # the first predictions may already be out (and a user may already kill one).
        while not all(self.procs[n].hb.get("started") or self.procs[n].popen.poll() is not None
                      for n in self.names):
            self._send(Control.START, origin_ns=self.origin_ns)
            self._pump(0.05)
        return self.origin_ns

    def _ready(self, name: str) -> bool:
        hb = self.procs[name].hb
        want = set(self.workers[name].inputs)
        synced = name not in self.remote or (self.hosts is not None and self.hosts.synced(name))
        return bool(hb) and want <= set(hb.get("inputs", [])) and synced

    def _why_not_up(self, name: str) -> str:
        if name not in self.remote:
            return last_line(self.procs[name].log) or "no output"
        if self.procs[name].hb:
            return "joined, but its clock is not estimated yet"
        return f"remote, never joined (on its host: launch.py worker {name} --join {self.endpoints['hosts']})"

    def _serve_hosts(self, server) -> None:
        """Listen for the remote workers: they join, get their spec and have their clocks kept."""
        self.hosts = HostServer(self.ctx, self.endpoints["hosts"], server, self._remote_spec,
                                set(self.remote))
        self.hosts.start()
        self.hosts.bound.wait(10)
        if self.hosts.error:
            raise StartupError(self.hosts.error)
        print(f"remote workers ({', '.join(sorted(self.remote))}) join at {self.endpoints['hosts']}",
              file=sys.stderr, flush=True)

    def _check_startup(self) -> None:
        for p in self.procs.values():
            if p.popen.poll() is not None:
                why = last_line(p.log) or f"exited with code {p.popen.returncode}"
                raise StartupError(why if why.startswith(f"{p.name}:") else f"{p.name}: {why}")

    def _send(self, cmd: str, to: str = "*", **kw: Any) -> None:
        assert self.control is not None
        self.control.send(Message("control", 0, 0, 0, 0, meta={"cmd": cmd, "to": to, **kw},
                                  topic=Topic.CONTROL))

    # -- running -----------------------------------------------------------
    def _pump(self, timeout_s: float) -> None:
        assert self.sub is not None
        end = time.monotonic() + timeout_s
        while True:
            left = int(max(0.0, end - time.monotonic()) * 1000)
            m = self.sub.recv(left)
            if m is None:
                return
            if m.topic == Topic.HEARTBEAT and m.stream in self.procs:
                p = self.procs[m.stream]
                p.last_hb, p.hb = time.monotonic(), m.meta
                self.watermarks[m.stream] = max(self.watermarks.get(m.stream, -1), m.watermark)
                own = p.popen.pid is None or m.meta.get("pid") == p.popen.pid  # (remote: whichever joined)
                p.heard = p.heard or own
                if own:  # not a dead predecessor's last words
                    state = "ok" if m.meta.get("started") else "starting"
                    if self.health.get(m.stream, {}).get("state") != state:
                        self.state_changes.append((time.monotonic(), m.stream, state))
                    self.health[m.stream] = {**m.meta, "restarts": p.restarts, "state": state,
                                             **self._clock(m.stream)}
            elif m.topic == Topic.PREDICTION:
                if m.meta.get("eos"):
                    self.finished = True
                elif self.last_t is not None and m.meta["t"] < self.last_t:
                    if not self.stale_predictions:  # once, in order: whatever a restart does
                        self.events.append("fusion: dropping predictions older than the newest")
                    self.stale_predictions += 1
                else:
                    self.last_t = m.meta["t"]
                    self.on_prediction(m.meta)
            elif m.topic == Topic.TRANSCRIPT:
                self.on_transcript(m)

    def poll(self, timeout_s: float = 0.05) -> None:
        """Receive for a while, then restart whatever died or went silent."""
        self._pump(timeout_s)
        if self.auth_denied["auth_denied"] > self.denied_told:  # someone without the keys knocked
            self.denied_told = self.auth_denied["auth_denied"]
            self.events.append(f"refused {self.denied_told} connection(s) without authorized keys")
        now = time.monotonic()
        run = self.cfg.run
        for name, p in list(self.procs.items()):
            if name in self.lost:
                continue
            dead = p.popen.poll() is not None
            # Silence counts once this process has spoken; before that it may be loading models.
            silent = now - p.last_hb > run.silent_restart_s if p.heard else now - p.spawned > run.startup_s
            if not (dead or silent):
                if p.hb.get("started") is False and self.origin_ns is not None:
                    self._send(Control.START, to=name, origin_ns=self.origin_ns)
                elif self.ending and p.heard and p.hb.get("started") and not p.told_end:
                    self._send(Control.END, to=name)  # restarted after the end was called
                    p.told_end = True
                continue
            if name in self.remote:  # nothing here can restart it: it joins again by itself
                if p.heard and self.health.get(name, {}).get("state") != "away":
                    self._state(name, "away")
                    self.events.append(f"{name}: remote worker silent for {run.silent_restart_s:.0f} s; "
                                       "waiting for it to join again")
                    p.told_end = False
                continue
            if p.next_restart == 0.0:
                self._failed(p, now, dead)
            elif now >= p.next_restart:
                p.popen.wait()
                self._spawn(name, p.restarts + 1, p.in_row + 1)
                self._state(name, "starting")

    def _failed(self, p: Proc, now: float, dead: bool) -> None:
        """A worker died or fell silent: restart it with backoff, or give it up."""
        run = self.cfg.run
        why = exit_cause(p.popen.returncode, p.log) if dead else \
            (f"silent for {run.silent_restart_s:.0f} s" if p.heard else f"not up after {run.startup_s:.0f} s")
        if not dead:
            p.popen.kill()
        if p.heard and now - p.spawned >= STEADY_S:
            p.in_row = 0  # it had been running fine: a new failure, not the same one again
        if p.in_row >= run.max_restarts:
            self.lost.add(p.name)
            self._state(p.name, "lost")
            self.events.append(f"{p.name}: {why}; gave up after {p.in_row} restarts in a row")
            self._send(Control.LOST, stream=p.name)  # its consumers stop waiting for it
            return
        self.events.append(f"{p.name}: {why}; restarting")
        self._state(p.name, "down")
        p.next_restart = now + min(2 ** p.in_row, 10)

    def _state(self, name: str, state: str) -> None:
        """What the dashboard shows for a worker: ok, starting, down (restarting) or lost."""
        self.health.setdefault(name, {})["state"] = state
        self.state_changes.append((time.monotonic(), name, state))

    def _clock(self, name: str) -> dict[str, Any]:
        """A remote worker's clock as the dashboard shows it (offset, round trip, uncertainty)."""
        e = self.hosts.estimate(name) if self.hosts is not None and name in self.remote else None
        return {"clock": e.summary()} if e is not None else {}

    def end(self) -> None:
        """Sources stop and send end-of-stream; fusion drains its windows."""
        self.ending = True
        for p in self.procs.values():
            p.told_end = True
        self._send(Control.END)

    def send_text(self, text: str) -> None:
        send_say(self.endpoints["say"], text, self.keys)

    def stop(self, grace_s: float = 2.0) -> None:
        if self.control is not None:
            self._send(Control.STOP)
        for p in self.procs.values():
            if p.popen.poll() is None:
                p.popen.terminate()
        deadline = time.monotonic() + grace_s
        for p in self.procs.values():
            try:
                p.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.popen.kill()
                p.popen.wait()
                if self.origin_ns is not None:  # a failed start-up kills loaders: no news
                    print(f"warning: {p.name} did not stop within {grace_s:.0f} s; killed",
                          file=sys.stderr)
        for s in (self.sub, self.control):
            if s is not None:
                s.close()
        if self.hosts is not None:
            self.hosts.stop()
        stop_authenticators()
        self.rundir.remove()


def check_remote(cfg: Config, names: list[str]) -> dict[str, str]:
    """``net.remote``: worker -> the endpoint it publishes on, on its own host. Only capture
    workers can be remote (next to their devices; recognition, text and fusion stay on the
    host the others join), only on TCP, and only with keys from files (the other host needs
    the same ones)."""
    remote = dict(cfg.net.remote)
    capture = [n for n in names if any(m.source is not None and m.workers(cfg)[0].name == n
                                       for m in modalities(cfg))]
    for name, ep in remote.items():
        if name not in capture:
            raise StreamError(f"field 'net.remote': {name!r} is not a capture worker of this run "
                              f"(those that can run elsewhere: {', '.join(capture) or 'none'})")
        if not ep.startswith("tcp://"):
            raise StreamError(f"field 'net.remote.{name}': expected tcp://HOST:PORT, got {ep!r}")
    if remote and (cfg.net.transport != "tcp" or not cfg.net.curve_dir):
        raise StreamError("field 'net.remote' needs net.transport = \"tcp\" and net.curve_dir "
                          "(keys made with `launch.py keys DIR`, copied to the other hosts)")
    return remote


def send_say(endpoint: str, text: str, keys: BusKeys | None = None, timeout_ms: int = 1000) -> bool:
    """Push one typed line to a running assistant's text worker (with the bus's client keys
    on TCP)."""
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.PUSH)
    apply_curve(s, keys.for_client() if keys else None, server=False)
    s.linger = timeout_ms
    s.sndtimeo = timeout_ms
    s.immediate = True  # fail instead of queueing when nobody listens
    s.connect(endpoint)
    try:
        s.send(json.dumps({"text": text}).encode())
        return True
    except zmq.Again:
        return False
    finally:
        s.close()
