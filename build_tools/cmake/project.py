"""The one owner of CMake command lines, and the files a configured build dir holds for us to
read: CMakeCache.txt and compile_commands.json (targets and installs: codemodel.py)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional


def launcher_variable(language: str) -> str:
    return f"CMAKE_{language}_COMPILER_LAUNCHER"


# The cache variables that put a compiler cache in front of each language's compiler (the C++
# one first: the one a preset always sets when it uses a launcher).
LAUNCHERS = tuple(launcher_variable(lang) for lang in ("CXX", "C", "CUDA", "HIP"))
# Our presets may put the memory gate first: `python;-S;-E;<gate>;<options>;--;[cache]`.
GATE_NAME = "memory-gate.py"
GATE_END = "--"
# Programs that may serve a compile from a cache instead of compiling it.
COMPILE_CACHES = frozenset({"ccache", "sccache", "buildcache"})


def compile_cache(value: Optional[str]) -> Optional[str]:
    """The compiler cache a launcher value runs (None: none): the value's first item, or,
    when the memory gate comes first, the item after the gate's `--`."""
    items = [item for item in (value or "").split(";") if item]
    if gate_script(value) is not None:
        rest = items[items.index(GATE_END) + 1 :]
        return rest[0] if rest else None
    return items[0] if items else None


def gate_items(value: Optional[str]) -> tuple[str, ...]:
    """The items of a launcher value that run the memory gate, `--` included (none: ())."""
    if gate_script(value) is None:
        return ()
    items = (value or "").split(";")
    return tuple(items[: items.index(GATE_END) + 1])


def gate_script(value: Optional[str]) -> Optional[str]:
    """The memory gate a launcher value runs first (None: none)."""
    items = (value or "").split(";")
    if GATE_END not in items:
        return None
    head = items[: items.index(GATE_END)]
    return next((item for item in head if Path(item).name == GATE_NAME), None)


@dataclass(frozen=True)
class CMake:
    """argv for one cmake binary over one source tree (commands run from the source root)."""

    binary: Path
    source: Path

    def configure(self, preset: str) -> list[object]:
        return [self.binary, "--preset", preset]

    def build(self, preset: str, *targets: str) -> list[object]:
        """Build `targets` (the install target, which builds everything, when none)."""
        return [self.binary, "--build", "--preset", preset, "--target", *(targets or ["install"])]

    def install(self, build_dir: Path, component: str) -> list[object]:
        return [self.binary, "--install", build_dir, "--component", component]

    def list_presets(self) -> list[object]:
        return [self.binary, "--list-presets=all"]


CACHE_FILE = "CMakeCache.txt"
COMPILE_COMMANDS = "compile_commands.json"  # with CMAKE_EXPORT_COMPILE_COMMANDS=ON


def read_cache(build_dir: Path) -> Optional[dict[str, str]]:
    """The build dir's CMakeCache.txt, `NAME:TYPE=VALUE` -> {NAME: VALUE}; None without one."""
    try:
        text = (build_dir / CACHE_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith(("#", "//")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.split(":", 1)[0].strip('"')] = value
    return values


def make_program(build_dir: Path) -> Optional[str]:
    """The build tool the build dir was generated for (CMAKE_MAKE_PROGRAM: our presets make it
    ninja's absolute path), None when the cache does not say."""
    return (read_cache(build_dir) or {}).get("CMAKE_MAKE_PROGRAM") or None


def launchers(build_dir: Path) -> list[str]:
    """The compiler launchers the cache puts in front of the compilers (ccache, sccache):
    every word of every `CMAKE_<LANG>_COMPILER_LAUNCHER` (a CMake list)."""
    cache = read_cache(build_dir) or {}
    words = (w for name in LAUNCHERS for w in (cache.get(name) or "").split(";"))
    return list(dict.fromkeys(w for w in words if w))


def uncached_compiles(build_dir: Path) -> bool:
    """Whether no compiler cache can serve this build dir's compiles: its cache is readable,
    puts no compiler cache in front of a compiler and names no compiler that is one (a ccache
    symlink as CXX). Then every unit ninja runs is compiled for real."""
    cache = read_cache(build_dir)
    if not cache or any(compile_cache(cache.get(name)) for name in LAUNCHERS):
        return False
    compilers = [v for k, v in cache.items() if k.endswith("_COMPILER") and v]
    caches = [c for c in compilers if os.path.basename(os.path.realpath(c)) in COMPILE_CACHES]
    return bool(compilers) and not caches


def compile_commands(build_dir: Path) -> Optional[list[dict[str, Any]]]:
    """The build dir's compilation database (None when absent or unreadable)."""
    try:
        data = json.loads((build_dir / COMPILE_COMMANDS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else None
