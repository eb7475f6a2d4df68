"""What a build directory is: its default name, whether it is configured from a preset (our
stamp), whether it may be deleted, and how it is removed without ever leaving half of it.

Removal first renames the directory aside (atomic on one filesystem), then deletes the renamed
copy. An interrupt leaves either the whole build dir or a `<name>.removing-*` sibling, which the
next configure or clean finishes deleting.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from build_tools.cmake.project import CACHE_FILE
from build_tools.errors import BuildToolsError

PREFIX = "cmake-build-"  # our presets' build dirs: <source>/cmake-build-<preset>
REMOVING = ".removing-"
GENERATOR_FILES = (("build.ninja", "CMakeFiles/rules.ninja"), ("Makefile",))

STAMP = ".vllm-build-tools-configure.json"  # what the last configure of ours was from


def default_name(preset: str) -> str:
    return PREFIX + preset


def preset_digest(preset: Mapping[str, Any]) -> str:
    """What the stamp records of the resolved preset."""
    return hashlib.sha256(json.dumps(preset, sort_keys=True).encode()).hexdigest()


def read_stamp(directory: Path) -> Any:
    try:
        return json.loads((directory / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_stamp(directory: Path, stamp: Mapping[str, Any]) -> None:
    (directory / STAMP).write_text(json.dumps(stamp, sort_keys=True) + "\n", encoding="utf-8")


def has_generator_files(directory: Path) -> bool:
    """The files the build tool loads are all there (Ninja's pair, or a Makefile)."""
    return any(all((directory / f).is_file() for f in group) for group in GENERATOR_FILES)


def check_deletable(directory: Path, source: Path, home: Path) -> None:
    """Refuse to delete anything but a build directory inside the source tree."""
    if directory.is_symlink():
        raise BuildToolsError(
            f"Refusing to delete {directory}: it is a symlink (to {os.readlink(directory)}).",
            "remove the link yourself, or point binaryDir at a real directory",
        )
    resolved, root = directory.resolve(), source.resolve()
    if resolved in {Path("/").resolve(), home.resolve(), root}:
        raise BuildToolsError(
            f"Refusing to delete {directory}: it is the source tree, / or your home directory.",
            "point the preset's binaryDir at a build directory, e.g. "
            "${sourceDir}/cmake-build-release",
        )
    if root not in resolved.parents:
        raise BuildToolsError(
            f"Refusing to delete {directory}: it is outside the source tree {root}.",
            "delete it yourself if you are sure, or set binaryDir inside the checkout",
        )
    if resolved.exists() and any(resolved.iterdir()) and not (resolved / CACHE_FILE).is_file():
        raise BuildToolsError(
            f"Refusing to delete {directory}: it has no CMakeCache.txt, so it is not a build "
            "directory.",
            "check the preset's binaryDir; delete the directory yourself if it is yours to remove",
        )


def leftovers(directory: Path) -> list[Path]:
    """Renamed-aside copies of `directory` that an interrupted removal left behind."""
    parent = directory.parent
    if not parent.is_dir():
        return []
    prefix = directory.name + REMOVING
    return sorted(p for p in parent.iterdir() if p.name.startswith(prefix) and p.is_dir())


def finish_removals(directory: Path, say: Callable[[str], None]) -> None:
    for stale in leftovers(directory):
        say(f"finishing the removal of {stale.name} (an earlier clean was interrupted)")
        shutil.rmtree(stale, ignore_errors=True)


def remove(directory: Path) -> Path:
    """Rename `directory` aside atomically, then delete it; returns the aside name."""
    aside = directory.with_name(f"{directory.name}{REMOVING}{os.getpid()}-{time.time_ns()}")
    os.rename(directory, aside)
    shutil.rmtree(aside)
    return aside
