"""Batch work on real sessions: feature encoding, eval and a training sweep as Ray tasks give
exactly what the sequential path gives; and so does eval on a two-node Ray cluster."""

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from stream import config as config_mod
from stream.app.batch import BatchOptions
from stream.app.evaluation import encode_sessions
from stream.intent.intent_set import names
from stream.offline.batch_bench import digests
from stream.process.supervisor import free_port
from stream.session.format import Session
from stream.session.importer import import_session
from tests.e2e.test_e2e import launch
from tests.session.test_session import write_jsonl

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def encoded(media, tmp_path_factory):
    """Two labelled sessions, encoded once one after another (seq/) and once on Ray (ray/)."""
    d = tmp_path_factory.mktemp("batch")
    labels = write_jsonl(d / "labels.jsonl", [
        {"start": 0.6, "end": round(media["speech_end"], 2), "intent": "HassTurnOn"}])
    text = write_jsonl(d / "text.jsonl", [{"t": 3.3, "text": "pause the music"}])
    for name, video in (("face", media["face"]), ("noface", media["noface"])):
        import_session(d / "orig" / name, video, media["wav"], text, labels, names())
    cfg = config_mod.load("live")
    out = {}
    for label, workers in (("seq", 1), ("ray", 2)):
        copies = []
        for name in ("face", "noface"):
            shutil.copytree(d / "orig" / name, d / label / name)
            copies.append(Session(str(d / label / name)))
        encode_sessions(copies, cfg, BatchOptions(workers=workers))
        out[label] = [str(s.root) for s in copies]
    return out


def report(*args: str) -> dict:
    r = launch("eval", *args, "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads(r.stdout)
    for s in rep["sessions"]:
        s.pop("pictures")
    return rep


def test_encoding_and_eval_on_ray_give_exactly_the_sequential_results(encoded, tmp_path):
    seq, ray = encoded["seq"], encoded["ray"]
    for a, b in zip(seq, ray, strict=True):
        assert digests(Path(a)) and digests(Path(a)) == digests(Path(b))  # byte for byte
    want = report(*seq, "--workers", "1", "--out", str(tmp_path / "a"))
    assert report(*ray, "--workers", "2", "--out", str(tmp_path / "b")) == want
    assert [s["session"] for s in want["sessions"]] == ["face", "noface"]


def test_a_training_sweep_on_ray_gives_the_sequential_checkpoints(encoded, tmp_path):
    runs = {}
    for label, workers in (("seq", "1"), ("ray", "2")):
        r = launch("train", *encoded["seq"], "--mode", "late", "--seed", "0", "1", "--epochs", "2",
                   "--out", str(tmp_path / label), "--workers", workers)
        assert r.returncode == 0, r.stderr[-2000:]
        runs[label] = json.loads((tmp_path / label / "sweep.json").read_text())
        for row in runs[label]:
            row.pop("train_seconds"), row.pop("out")
    assert runs["seq"] == runs["ray"] and [r["seed"] for r in runs["seq"]] == [0, 1]
    for name in ("late_s0.pt", "late_s1.pt"):
        a = torch.load(tmp_path / "seq" / name, weights_only=True)["state"]
        b = torch.load(tmp_path / "ray" / name, weights_only=True)["state"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_eval_on_a_two_node_cluster_gives_the_sequential_report(encoded, tmp_path):
    ray = str(Path(sys.executable).parent / "ray")
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token",
               RAY_AUTH_TOKEN=secrets.token_hex(32))
    port = free_port()
    nodes = [subprocess.Popen([ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                               "--num-cpus", "1", "--include-dashboard=false", "--disable-usage-stats",
                               "--block"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)]
    try:
        time.sleep(3)  # (a node that comes too early keeps retrying the head)
        nodes.append(subprocess.Popen([ray, "start", "--address", f"127.0.0.1:{port}", "--node-ip-address",
                                       "127.0.0.1", "--num-cpus", "1", "--block"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 120
        while "/2.0 CPU" not in subprocess.run([ray, "status", "--address", f"127.0.0.1:{port}"], env=env,
                                               capture_output=True, text=True).stdout:
            assert time.monotonic() < deadline, "the second node never joined"
            time.sleep(1)
        want = report(*encoded["seq"], "--workers", "1", "--out", str(tmp_path / "a"))
        r = subprocess.run([sys.executable, "launch.py", "eval", *encoded["seq"], "--json", "--out",
                            str(tmp_path / "b"), "--ray-address", f"127.0.0.1:{port}"],
                           cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        got = json.loads(r.stdout)
        for s in got["sessions"]:
            s.pop("pictures")
        assert got == want
    finally:
        for p in reversed(nodes):
            p.send_signal(signal.SIGTERM)
            p.wait(60)
