"""`python -m benchmarks.loop`: the edit -> rebuild loop benchmark (see benchmarks/loop/)."""

import sys

from benchmarks.loop.cli import main

sys.exit(main())
