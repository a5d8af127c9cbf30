"""Corpus encoding on Ray against one session after another, on this machine:
``python -m stream.offline.batch_bench CORPUS_DIR [N] [WORKERS]``.

Copies the first N spoken sessions of a corpus (without their feature caches) twice, encodes
one copy sequentially (``--workers 1``, today's path) and the other as Ray tasks, then checks
that every feature file is byte-identical and prints both wall times and their ratio.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

from stream import config as config_mod
from stream.app.batch import BatchOptions
from stream.app.evaluation import encode_sessions
from stream.session.format import Session


def digests(root: Path) -> dict[str, str]:
    """Every feature file of a session (JSON metadata and tensors) by content."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "features").rglob("*")) if p.is_file()}


def main() -> int:
    corpus = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    picks = sorted(p.parent for p in corpus.glob("*/spoken_*/manifest.json"))[:n]
    if len(picks) < n:
        print(f"error: {corpus}: fewer than {n} spoken sessions", file=sys.stderr)
        return 2
    cfg = config_mod.load("live")
    with tempfile.TemporaryDirectory() as d:
        runs = {}
        for label, opts in (("sequential", BatchOptions(workers=1)), ("ray", BatchOptions(workers=workers))):
            copies = []
            for p in picks:
                dst = Path(d) / label / f"{p.parent.name}_{p.name}"
                shutil.copytree(p, dst, ignore=shutil.ignore_patterns("features"))
                copies.append(Session(str(dst)))
            t0 = time.monotonic()
            encode_sessions(copies, cfg, opts)
            runs[label] = (time.monotonic() - t0, [digests(s.root) for s in copies])
        (t_seq, d_seq), (t_ray, d_ray) = runs["sequential"], runs["ray"]
        same = d_seq == d_ray and all(d_seq)
        for a, b, p in zip(d_seq, d_ray, picks, strict=True):
            for f in sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k)):
                print(f"differs: {p.parent.name}/{p.name}/{f}")
        media = sum(Session(str(p)).duration_s for p in picks)
        print(f"{n} sessions, {media:.0f} s of media: sequential {t_seq:.1f} s, ray {t_ray:.1f} s "
              f"({t_seq / t_ray:.2f}x); feature files identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
