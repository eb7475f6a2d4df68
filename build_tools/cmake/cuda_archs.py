"""The project's own CUDA arch list (vLLM's CUDA_SUPPORTED_ARCHS) for a given nvcc, read from
its CMakeLists.txt: the `set(CUDA_SUPPORTED_ARCHS ...)` of the first `if`/`elseif` branch whose
`CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL X` holds, else of its `else()`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

_COMMAND = re.compile(r"\b(\w+)\s*\(")
_AT_LEAST = re.compile(r"CMAKE_CUDA_COMPILER_VERSION\s+VERSION_GREATER_EQUAL\s+([\d.]+)")
_LIST = re.compile(r'^\s*CUDA_SUPPORTED_ARCHS\s+"([^"]+)"')


def _commands(text: str) -> Iterator[tuple[str, str]]:
    """(name, arguments) of each CMake command, arguments spanning lines, comments dropped."""
    text = re.sub(r"#[^\n]*", "", text)
    for match in _COMMAND.finditer(text):
        depth, end = 1, match.end()
        while end < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        yield match.group(1).lower(), text[match.end() : end - 1]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def supported_archs(cmakelists: Path, nvcc: tuple[int, ...]) -> Optional[str]:
    """The list CMake would pick for `nvcc` (None when the project sets none)."""
    try:
        text = cmakelists.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    needs: list[Optional[tuple[int, ...]]] = [None]  # per open if(): the version it requires
    for name, args in _commands(text):
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
