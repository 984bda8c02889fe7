"""``python -m srlab ...``: see ``srlab.cli``."""

import sys

from srlab.cli import main

if __name__ == "__main__":
    sys.exit(main())
