"""The scripts of the checkout's state dir our presets name, so that a raw `cmake --preset` runs
them too: the memory gate before each compile (process/gate.py) and the interpreter CMake asks
its `python -c` questions (cmake/cmake_python.py)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Optional

from build_tools.cmake import cmake_python
from build_tools.cmake.presets_gen import Gate
from build_tools.cmake.project import GATE_NAME
from build_tools.insight import memory
from build_tools.run import Run
from build_tools.safety import safe_paths


def memory_gate(ctx: Run) -> Optional[Gate]:
    """The memory gate our presets put before each compile (None: `memory_gate = false`).
    Its reservations are the machine's, per user: every build here competes for one memory."""
    if not ctx.settings.memory_gate:
        return None
    temp = Path(ctx.machine.environ.get("TMPDIR") or "/tmp")
    shared = safe_paths.check(temp / f"vllm-build-tools-{os.getuid()}" / "gate", "gate")
    store_of = functools.partial(memory.store, ctx.tree.state_dir)
    return Gate(ctx.tree.state_dir / GATE_NAME, store_of, shared)


def cmake_interpreter(ctx: Run, notes: list[str]) -> Optional[Path]:
    """The interpreter script the presets give CMake (cmake/cmake_python.py), where the state
    dir can hold it; else the venv's Python, said (the configure cache is never a reason a
    configure cannot run)."""
    if ctx.configure_cache is None:
        return None
    state = ctx.tree.state_dir
    blocking = next((p for p in (state, *state.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        notes.append(
            f"{blocking} is a file where a folder must be: configure asks Python itself, without "
            "the configure cache's answers (move the file aside to have them)"
        )
        return None
    return state / cmake_python.WRAPPER
