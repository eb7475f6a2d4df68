"""CUDA arch lists: TORCH_CUDA_ARCH_LIST's items and sm numbers, and the project's own list
(vLLM's CUDA_SUPPORTED_ARCHS) for a given nvcc, read from its CMakeLists.txt: the
`set(CUDA_SUPPORTED_ARCHS ...)` of the first `if`/`elseif` branch whose
`CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL X` holds, else of its `else()`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from build_tools.cmake.listfile import commands

_AT_LEAST = re.compile(r"CMAKE_CUDA_COMPILER_VERSION\s+VERSION_GREATER_EQUAL\s+([\d.]+)")
_LIST = re.compile(r'^\s*CUDA_SUPPORTED_ARCHS\s+"([^"]+)"')


def items(arch_list: str) -> list[str]:
    """TORCH_CUDA_ARCH_LIST's entries ("8.0 9.0+PTX", "9.0a;10.0"), as written."""
    return [item for item in re.split(r"[;\s]+", arch_list) if item]


def sm_numbers(arch_list: str) -> set[int]:
    """TORCH_CUDA_ARCH_LIST as sm numbers: "8.0 9.0a;10.0+PTX" -> {80, 90, 100}."""
    found = set()
    for item in items(arch_list):
        match = re.match(r"(\d+)\.(\d+)", item)
        if match:
            found.add(int(match.group(1)) * 10 + int(match.group(2)))
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
