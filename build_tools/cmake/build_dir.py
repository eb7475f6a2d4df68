"""What a build directory is: its default name, whether cmake can load its cache, whether it may
be deleted, and how it is removed without ever leaving half of it (its configure stamp and what
its installs wrote: `build_tree.py`).

Removal first renames the directory aside (atomic on one filesystem), then deletes the renamed
copy. An interrupt leaves either the whole build dir or a `<name>.removing-*` sibling, which the
next configure or clean finishes deleting.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from build_tools.cmake.project import CACHE_FILE, read_cache
from build_tools.errors import BuildToolsError, ErrorKind
from build_tools.process.runner import Git

PREFIX = "cmake-build-"  # our presets' build dirs: <source>/cmake-build-<preset>
REMOVING = ".removing-"
GENERATOR_FILES = (("build.ninja", "CMakeFiles/rules.ninja"), ("Makefile",))


def default_name(preset: str) -> str:
    return PREFIX + preset


def has_generator_files(directory: Path) -> bool:
    """The files the build tool loads are all there (Ninja's pair, or a Makefile)."""
    return any(all((directory / f).is_file() for f in group) for group in GENERATOR_FILES)


# What a person keeps in a source tree: never inside a directory we delete.
SOURCE_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".cu", ".cuh", ".h", ".hh", ".hpp", ".hxx", ".inl")
SOURCE_NAMES = ("CMakeLists.txt",)


def _refuse(directory: Path, why: str, fix: str) -> BuildToolsError:
    return BuildToolsError(f"Refusing to delete {directory}: {why}.", fix, kind=ErrorKind.REFUSED)


def cache_damage(directory: Path) -> str:
    """Why cmake could not load the build dir's CMakeCache.txt again ("" when it can, or when
    there is none): a line that is no `NAME[:TYPE]=VALUE` entry and no comment (cmake stops at
    it: "Parse error in cache file"), or the two entries cmake always writes missing."""
    try:
        text = (directory / CACHE_FILE).read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"it cannot be read ({exc.strerror})"
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.strip()
        if entry and not entry.startswith(("#", "//")) and ("=" not in entry or "\0" in entry):
            return f"line {number} is no cache entry ({entry[:60]!r})"
    cache = read_cache(directory) or {}
    if not (cache.get("CMAKE_HOME_DIRECTORY") and cache.get("CMAKE_CACHEFILE_DIR")):
        return "it lacks CMAKE_HOME_DIRECTORY or CMAKE_CACHEFILE_DIR, which cmake always writes"
    return ""


def cache_readable(directory: Path) -> bool:
    """Whether the build dir's CMakeCache.txt is one cmake wrote and can load again."""
    return (directory / CACHE_FILE).is_file() and not cache_damage(directory)


def reset_cache(directory: Path) -> Optional[Path]:
    """Make cmake configure `directory` from a new cache, keeping every object: the cache is
    moved aside (returned: the backup) and the compiler-detection folders (CMakeFiles/<cmake
    version>/) are removed, so stale values and a changed compiler are found again. Unlike
    `cmake --fresh`, which empties CMakeFiles/ and so every target's objects too."""
    backup = None
    cache = directory / CACHE_FILE
    if cache.exists():
        backup = cache.with_name(f"{CACHE_FILE}.{time.strftime('%Y%m%dT%H%M%S')}.bak")
        os.replace(cache, backup)
    files = directory / "CMakeFiles"
    if files.is_dir():
        for child in files.iterdir():
            if child.is_dir() and re.fullmatch(r"\d+(\.\d+)+(-\w+)?", child.name):
                shutil.rmtree(child, ignore_errors=True)
    return backup


def check_deletable(directory: Path, source: Path, home: Path, git: Git = None) -> None:
    """Refuse to delete anything but a CMake build directory of this checkout: inside the
    source tree, configured by cmake from this source tree into itself (its CMakeCache.txt
    says both), and holding nothing git tracks nor any untracked source file."""
    if directory.is_symlink():
        raise _refuse(
            directory,
            f"it is a symlink (to {os.readlink(directory)})",
            "remove the link yourself, or point binaryDir at a real directory",
        )
    resolved, root = directory.resolve(), source.resolve()
    if resolved in {Path("/").resolve(), home.resolve(), root}:
        raise _refuse(
            directory,
            "it is the source tree, / or your home directory",
            "point the preset's binaryDir at a build directory, e.g. "
            "${sourceDir}/cmake-build-release",
        )
    if root not in resolved.parents:
        raise _refuse(
            directory,
            f"it is outside the source tree {root}",
            "delete it yourself if you are sure, or set binaryDir inside the checkout",
        )
    if not resolved.exists() or not any(resolved.iterdir()):
        return  # nothing in it to lose
    fix = "check the preset's binaryDir; delete the directory yourself if it is yours to remove"
    if not (resolved / CACHE_FILE).is_file():
        raise _refuse(directory, "it has no CMakeCache.txt, so it is not a build directory", fix)
    cache = read_cache(resolved) or {}
    home_dir, cache_dir = cache.get("CMAKE_HOME_DIRECTORY"), cache.get("CMAKE_CACHEFILE_DIR")
    if not home_dir or not cache_dir:
        raise _refuse(
            directory,
            "its CMakeCache.txt is not one cmake wrote (no CMAKE_HOME_DIRECTORY or "
            "CMAKE_CACHEFILE_DIR), so it is not known to be a build directory",
            fix,
        )
    if Path(home_dir).resolve() != root:
        raise _refuse(
            directory, f"it is the build directory of another source tree ({home_dir})", fix
        )
    if Path(cache_dir).resolve() != resolved:
        raise _refuse(
            directory,
            f"its CMakeCache.txt was written for {cache_dir} (a copied or moved build dir)",
            fix,
        )
    _check_nothing_of_git(directory, root, git, fix)


def _check_nothing_of_git(directory: Path, root: Path, git: Git, fix: str) -> None:
    """No file git tracks, and no untracked source file, lives under `directory`."""
    if git is None:
        return
    where = os.path.relpath(directory.resolve(), root)
    code, tracked = git(["-C", str(root), "ls-files", "-z", "--", where])
    if code != 0:
        return  # not a git work tree (an sdist): the cache checks above are what we have
    files = [f for f in tracked.split("\0") if f]
    if files:
        raise _refuse(directory, f"git tracks files in it ({', '.join(files[:3])})", fix)
    code, untracked = git(
        ["-C", str(root), "ls-files", "-z", "--others", "--exclude-standard", "--", where]
    )
    sources = [
        f
        for f in untracked.split("\0")
        if f and (f.endswith(SOURCE_SUFFIXES) or Path(f).name in SOURCE_NAMES)
    ]
    if code == 0 and sources:
        raise _refuse(
            directory,
            f"it holds source files git does not track or ignore ({', '.join(sources[:3])}): "
            "work of yours, or sources a build generated",
            "move your files out, or delete the directory yourself",
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
