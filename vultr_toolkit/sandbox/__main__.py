"""``python -m vultr_toolkit.sandbox [options]`` — the same as ``vultr-toolkit sandbox [options]``."""

from __future__ import annotations

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["sandbox", *sys.argv[1:]]))
