"""invoke's door into vllm-build-tools: the task collection of build_tools/cli/tasks.py (the
`vllm-build` command serves the same one). `invoke --list` shows the tasks, `invoke --help
TASK` their flags.
"""

import os
import sys

# invoke turns bytecode caching off for the tasks file; let our own modules keep their .pyc
# (a no-op build saves ~20 ms) unless the user asked for none.
sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))

from build_tools.cli.tasks import ns  # noqa: E402

__all__ = ["ns"]
