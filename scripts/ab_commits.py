"""Two commits' live latency on this machine, interleaved so neither gains from running second.

Each run is one paced pipeline run from files (``stream.offline.bench._file_run``: the bench's
six spoken commands, then typed lines); the runs go A, B, B, A per round (the first run of a
process is slower, with cold caches), each commit from its own ``git worktree`` with this
checkout's ``.venv``. Machines here are shared and noisy: compare only within one invocation.

    .venv/bin/python scripts/ab_commits.py OLD [NEW] [--rounds 2] [--typed 20]

NEW defaults to the working tree as it is (uncommitted changes included). Each commit is
measured by its own bench code: frame figures before 2026-12-06 evening read up to 20 ms high
(frames were read between the supervisor's polls), so compare those only between commits
after it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from stream.offline.bench import summary

REPO = Path(__file__).resolve().parent.parent
RUN = """
import json, sys
from stream.offline.bench import _file_run
if __name__ == "__main__":
    early = []
    speech, typed, frames = _file_run(int(sys.argv[1]), int(sys.argv[2]), None, early)
    print("RESULT", json.dumps({"speech": speech, "early": early, "typed": typed, "frames": frames}))
"""


def one_run(tree: Path, script: Path, commands: int, typed: int) -> dict:
    out = subprocess.run([str(REPO / ".venv/bin/python"), str(script), str(commands), str(typed)],
                         cwd=tree, capture_output=True, text=True, env={"PYTHONPATH": str(tree),
                                                                        "PATH": "/usr/bin:/bin"})
    if "RESULT" not in out.stdout:
        sys.exit(f"ab_commits: a run in {tree} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.split("RESULT", 1)[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old")
    ap.add_argument("new", nargs="?", help="a commit (default: the working tree)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--commands", type=int, default=6)
    ap.add_argument("--typed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        trees = {}
        for name, rev in (("old", args.old), ("new", args.new)):
            if rev is None:
                trees[name] = REPO
                continue
            trees[name] = Path(d) / name
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q",
                            str(trees[name]), rev], check=True)
        script = Path(d) / "run.py"
        script.write_text(RUN)
        got: dict[str, dict[str, list]] = {k: {"speech": [], "early": [], "typed": [], "frames": []}
                                           for k in trees}
        try:
            for name in ("old", "new", "new", "old") * args.rounds:
                r = one_run(trees[name], script, args.commands, args.typed)
                for k, v in r.items():
                    got[name][k] += v
                print(name, "speech end -> intent ms:", [round(x) for x in r["speech"]], file=sys.stderr)
        finally:
            for tree in trees.values():
                if tree != REPO:
                    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)])
    n = args.rounds * 2 * args.commands
    print(json.dumps({name: {
        "spoken_end_to_intent_ms": {**summary(g["speech"]), "recognised": f"{len(g['speech'])}/{n}",
                                    "answered_early": sum(g["early"])},
        "typed_to_prediction_ms": summary(g["typed"]),
        "frame_capture_to_features_ms": summary(g["frames"]),
    } for name, g in got.items()}, indent=2))


if __name__ == "__main__":
    main()
