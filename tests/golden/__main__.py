"""Compare the golden rehearsal with tests/golden/, or rewrite the goldens with --update."""

import sys

from tests.golden import main

# Guarded: exports built in a separate process import this module again.
if __name__ == "__main__":
    sys.exit(main())
