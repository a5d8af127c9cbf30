"""The front door: ``python launch.py COMMAND ...`` (the same as ``stream-assistant COMMAND``)."""

import sys

from stream.cli import main

if __name__ == "__main__":
    sys.exit(main())
