"""Run by tests/process/test_forked.py as ``python -m tests.process.forked_target CODE [SLEEP]``."""

import os
import sys
import time

if __name__ == "__main__":
    print(f"argv {sys.argv[1:]} env {os.environ.get('FORKED_TEST', '')} cwd {os.getcwd()}")
    print("to stderr", file=sys.stderr)
    time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
    sys.exit(int(sys.argv[1]))
