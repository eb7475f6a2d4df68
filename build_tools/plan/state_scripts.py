"""The scripts of the checkout's state dir our presets name, so that a raw `cmake --preset` runs
them too: the memory gate before each compile (process/gate.py) and the interpreter CMake asks
its `python -c` questions (cmake/cmake_python.py)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

from build_tools.cmake import cmake_python
from build_tools.cmake.presets_gen import Gate
from build_tools.cmake.project import GATE_NAME
from build_tools.insight import memory
from build_tools.safety import safe_paths


def memory_gate(state: Path, environ: Mapping[str, str]) -> Gate:
    """The memory gate our presets put before each compile, its script in the `state` dir.
    Its reservations are the machine's, per user: every build here competes for one memory."""
    temp = Path(environ.get("TMPDIR") or "/tmp")
    shared = safe_paths.check(temp / f"vllm-build-tools-{os.getuid()}" / "gate", "gate")
    store_of = functools.partial(memory.store, state)
    return Gate(state / GATE_NAME, store_of, shared)


def cmake_interpreter(
    state: Path, configure_cache: Optional[Path], notes: list[str]
) -> Optional[Path]:
    """The interpreter script the presets give CMake (cmake/cmake_python.py), where the `state`
    dir can hold it and a `configure_cache` keeps its answers; else the venv's Python, said
    (the configure cache is never a reason a configure cannot run)."""
    if configure_cache is None:
        return None
    blocking = next((p for p in (state, *state.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        notes.append(
            f"{blocking} is a file where a folder must be: configure asks Python itself, without "
            "the configure cache's answers (move the file aside to have them)"
        )
        return None
    return state / cmake_python.WRAPPER
