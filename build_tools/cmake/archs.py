"""CUDA arch lists: TORCH_CUDA_ARCH_LIST's items and sm numbers, and the project's own list
(vLLM's CUDA_SUPPORTED_ARCHS) for a given nvcc, read from its CMakeLists.txt: the
`set(CUDA_SUPPORTED_ARCHS ...)` of the first `if`/`elseif` branch whose
`CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL X` holds, else of its `else()`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Optional

from build_tools.cmake.listfile import commands

_AT_LEAST = re.compile(r"CMAKE_CUDA_COMPILER_VERSION\s+VERSION_GREATER_EQUAL\s+([\d.]+)")
_LIST = re.compile(r'^\s*CUDA_SUPPORTED_ARCHS\s+"([^"]+)"')


def items(arch_list: str) -> list[str]:
    """TORCH_CUDA_ARCH_LIST's entries ("8.0 9.0+PTX", "9.0a;10.0"), as written."""
    return [item for item in re.split(r"[;\s]+", arch_list) if item]


_ITEM = re.compile(r"(\d+)\.(\d+)[af]?(\+PTX)?")


def problems(arch_list: str, supported: tuple[str, ...]) -> list[str]:
    """What is wrong with a TORCH_CUDA_ARCH_LIST for an nvcc that builds `supported` ("8.0",
    ...; empty: not known, only the syntax is checked): [] when nothing is."""
    found = []
    entries = items(arch_list)
    if not entries:
        return ["it names no arch"]
    for item in entries:
        match = _ITEM.fullmatch(item)
        if match is None:
            found.append(f"{item!r} is not X.Y, X.Ya, X.Yf or X.Y+PTX")
        elif supported and f"{int(match.group(1))}.{match.group(2)}" not in supported:
            found.append(f"{item} is not an arch this nvcc builds")
    return found


_SM = re.compile(r"\b(?:sm|compute)_(\d+)[af]?\b")


def compiled(entries: Iterable[Mapping[str, Any]]) -> set[int]:
    """The sm numbers the CUDA units of a compilation database compile for."""
    found: set[int] = set()
    for entry in entries:
        if str(entry.get("file", "")).endswith(".cu"):
            command = entry.get("command") or " ".join(entry.get("arguments") or [])
            found.update(int(n) for n in _SM.findall(str(command)))
    return found


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def supported_archs(cmakelists: Path, nvcc: tuple[int, ...]) -> Optional[str]:
    """The list CMake would pick for `nvcc` (None when the project sets none)."""
    try:
        text = cmakelists.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    needs: list[Optional[tuple[int, ...]]] = [None]  # per open if(): the version it requires
    for name, args in commands(text):
        if name == "if":
            at_least = _AT_LEAST.search(args)
            needs.append(_version(at_least.group(1)) if at_least else None)
        elif name == "elseif":
            at_least = _AT_LEAST.search(args)
            needs[-1] = _version(at_least.group(1)) if at_least else None
        elif name == "else":
            needs[-1] = None
        elif name == "endif" and len(needs) > 1:
            needs.pop()
        elif name == "set" and (found := _LIST.match(args)):
            if needs[-1] is None or nvcc >= needs[-1]:
                return found.group(1)
    return None
