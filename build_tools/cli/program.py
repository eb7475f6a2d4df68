"""`vllm-build`: the same tasks as `invoke` (one collection), as a command of its own, usable
from any directory. Inside a checkout (the current directory or a parent holds a CMake project
with vLLM's build contract) `--source` defaults to it; elsewhere the configured source, else
the bundled example, as with `invoke`. Shell completion: `vllm-build --print-completion-script
bash` (or zsh, fish), which invoke's Program provides.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

from invoke.parser.argument import Argument
from invoke.program import Program
from invoke.vendor.lexicon import Lexicon

from build_tools.checkout.source_tree import enclosing_checkout
from build_tools.cli import front

NAME = "vllm-build"
DISTRIBUTION = "vllm-build-tools"
# invoke's core flags that mean something for our tasks; the rest (--dry, --echo, --pty,
# --prompt-for-sudo-password, ...) configure invoke's own `c.run`, which no task calls.
GLOBAL_FLAGS = ("help", "list", "version", "print-completion-script", "complete")


def version() -> str:
    """The suite's version, as its installed distribution records it."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (vllm-build-tools is not installed: pip install -e .)"


class BuildProgram(Program):
    """invoke's Program with only the global flags that apply to a build."""

    def core_args(self) -> list[Argument]:
        return [arg for arg in super().core_args() if arg.name in GLOBAL_FLAGS]

    @property
    def args(self) -> Any:
        """The flags given, and invoke's other core flags at their defaults (invoke reads
        them all after parsing; a person can no longer give them)."""
        given = super().args
        defaults = {a.name: a for a in super().core_args() if a.name not in given}
        merged = Lexicon(defaults)  # type: ignore[no-untyped-call]  # invoke gives no types
        # invoke's default turns bytecode off; keep it on (~20 ms a no-op build) unless asked.
        merged["write-pyc"].value = not os.environ.get("PYTHONDONTWRITEBYTECODE")
        merged.update(given)
        return merged


def main(argv: Optional[list[str]] = None) -> None:
    """The `vllm-build` console command."""
    from build_tools.cli.tasks import ns

    front.DOOR.program = NAME
    front.DOOR.here = enclosing_checkout(Path(os.getcwd()))
    BuildProgram(namespace=ns, name=NAME, binary=NAME, version=version()).run(argv)
