"""``python -m benchmarks.jobs``: see ``benchmarks/jobs/__init__.py``."""

import sys

from ._run import main

sys.exit(main(sys.argv[1:]))
