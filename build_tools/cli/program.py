"""`vllm-build`: the same tasks as `invoke` (one collection), as a command of its own, usable
from any directory. Inside a checkout (the current directory or a parent holds a CMake project
with vLLM's build contract) `--source` defaults to it; elsewhere the configured source, else
the bundled example, as with `invoke`. Shell completion: `vllm-build --print-completion-script
bash` (or zsh, fish), which invoke's Program provides.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from invoke.program import Program

from build_tools.checkout.source_tree import enclosing_checkout
from build_tools.cli import front

NAME = "vllm-build"


def main(argv: Optional[list[str]] = None) -> None:
    """The `vllm-build` console command."""
    from build_tools.cli.tasks import ns

    front.DOOR.program = NAME
    front.DOOR.here = enclosing_checkout(Path(os.getcwd()))
    Program(namespace=ns, name=NAME, binary=NAME).run(argv)
