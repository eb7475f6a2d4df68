"""Compiler identification, reused: CMake keeps what it found of the system and of each compiler
in `CMakeFiles/<version>/CMakeSystem.cmake` and `CMake<LANG>Compiler.cmake`, and the tools it
found in `CMAKE_*` cache entries; a build dir that has them skips identification and the
compilers' test builds (seconds for nvcc). After a fresh configure, `record` keeps them with the
configure's inputs: its context (configure_cache.context), the contents of every file of the
project and outside it that the configure read (the File API's cmakeFiles reply) and of the
tools the compiler files name. A new build dir whose inputs are all the same (`find`) is seeded
with them (`seed`); after that configure, `check` compares its generated files with the recorded
ones (configure_cache.digests): any difference, and configure runs afresh."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from build_tools.cmake.configure_cache import (
    CHECKED,
    ENTRY,
    FORMAT,
    Where,
    digests,
    key_of,
    path_of,
    read,
    sha,
    stable_hash,
)

COMPILERS = "compilers"  # in the configure cache
PLATFORM_FILES = re.compile(r"^CMake(System|[A-Za-z]+Compiler)\.cmake$")
# Cache entries compiler identification writes: the tools it found (FILEPATH), each
# language's compiler and default architectures (vLLM's CUDA targets fail without them), uname,
# the executable format, and the mark that the platform files are the cache's own (CMake
# deletes CMakeFiles/<version> of a build dir without it).
_IDENTIFIED = re.compile(
    r"^CMAKE_(?:[A-Za-z]+_COMPILER|[A-Za-z]+_ARCHITECTURES|UNAME|EXECUTABLE_FORMAT"
    r"|PLATFORM_INFO_INITIALIZED)$"
)
_TOOL = re.compile(r'^set\(CMAKE_[A-Z_]+ "(/[^"]+)"\)$', re.MULTILINE)


def _platform_dir(build: Path) -> Optional[Path]:
    found = [p for p in (build / "CMakeFiles").glob("[0-9]*.[0-9]*") if p.is_dir()]
    return max(found) if found else None


def record(root: Path, where: Where, inputs: Sequence[str]) -> Optional[Path]:
    """After a fresh configure of `where.build`: keep its compiler identification, keyed by
    `inputs` (the files it read, the File API's list) and the tools the compiler files name."""
    platform_dir = _platform_dir(where.build)
    if platform_dir is None:
        return None
    files = {
        p.name: p.read_text(encoding="utf-8")
        for p in platform_dir.iterdir()
        if PLATFORM_FILES.match(p.name)
    }
    lines = read(where.build / "CMakeCache.txt").splitlines()
    entries = _identified(lines)
    inputs_read = {
        k: sha(path_of(k, where)) for k in filter(None, (key_of(p, where) for p in inputs))
    }
    tools = sorted({m for text in files.values() for m in _TOOL.findall(text)})
    tools = [t for t in tools if os.path.isfile(t)]
    data = {
        "format": FORMAT,
        "version": platform_dir.name,
        "files": files,
        "regenerate": _regenerate_inputs(read(where.build / "build.ninja"), where),
        "cache": entries,
        "read": inputs_read,
        "tools": {t: sha(Path(t)) for t in tools},
        "digests": digests(where),
    }
    name = stable_hash([inputs_read, data["tools"]])[:24]
    path = root / COMPILERS / where.context[:24] / f"{name}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        return None
    return path


def _identified(lines: Sequence[str]) -> list[str]:
    """The cache's entries compiler identification wrote, each with its comment lines."""
    names = set()
    for line in lines:
        match = ENTRY.match(line)
        if match and (
            _IDENTIFIED.match(match.group(1))
            or (match.group(2) == "FILEPATH" and match.group(1).startswith("CMAKE_"))
        ):
            names.add(match.group(1))
    kept: list[str] = []
    comments: list[str] = []
    for line in lines:
        if line.startswith("//"):
            comments.append(line)
            continue
        match = ENTRY.match(line)
        name = match.group(1) if match else ""
        if name in names or name.removesuffix("-ADVANCED") in names:
            kept += [*comments, line, ""]
        comments = []
    return kept


@dataclass(frozen=True)
class Found:
    path: Path
    data: dict[str, Any]


def find(root: Path, where: Where) -> Optional[Found]:
    """The record whose inputs are all what they are now, if any."""
    folder = root / COMPILERS / where.context[:24]
    try:
        candidates = sorted(folder.glob("*.json"), key=lambda p: -p.stat().st_mtime)
    except OSError:
        return None
    for path in candidates:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            continue
        known, tools = data.get("read") or {}, data.get("tools") or {}
        if all(sha(path_of(k, where)) == v for k, v in known.items()) and all(
            sha(Path(t)) == v for t, v in tools.items()
        ):
            return Found(path, data)
    return None


def _regenerate_inputs(ninja: str, where: Where) -> list[str]:
    """The files a fresh configure made build.ninja depend on (CMake's own modules among them;
    those of the build dir left out): the modules identification reads are not read when it
    is skipped, so the seeded configure names them (`seed`) and regenerates on the same
    files."""
    match = re.search(r"^build build\.ninja [^\n]*?: RERUN_CMAKE \| ([^\n]*)$", ninja, re.MULTILINE)
    if not match:
        return []
    paths = [p.replace("\0", " ") for p in match.group(1).replace("$ ", "\0").split()]
    return [k for k in (key_of(p, where) for p in paths if os.path.isabs(p)) if k]


def seed(found: Found, where: Where) -> None:
    """Give a new build dir the recorded compiler identification, with what a fresh configure
    leaves behind that a configure skipping identification does not: each language's
    MSVC_<LANG>_ARCHITECTURE_ID defined (CMake's Ninja generator then writes the PDB variables a
    fresh configure writes), and the CMake modules identification read as inputs of
    build.ninja."""
    build = where.build
    platform_dir = build / "CMakeFiles" / str(found.data["version"])
    platform_dir.mkdir(parents=True, exist_ok=True)
    regenerate = [str(path_of(str(k), where)) for k in found.data.get("regenerate") or ()]
    for name, text in found.data["files"].items():
        match = PLATFORM_FILES.match(name)
        if not match:
            continue
        language = match.group(1)[: -len("Compiler")] if match.group(1) != "System" else ""
        if language and f"MSVC_{language}_ARCHITECTURE_ID" not in text:
            text += f'\nset(MSVC_{language}_ARCHITECTURE_ID "")\n'
        if not language and regenerate:
            listed = ";".join(p.replace(";", "\\;") for p in regenerate)
            text += (
                "\nset_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS\n"
                f'  "{_cmake_escape(listed)}")\n'
            )
        (platform_dir / name).write_text(text, encoding="utf-8")
    header = "# Seeded by vllm-build-tools with a recorded compiler identification.\n"
    (build / "CMakeCache.txt").write_text(
        header + "\n".join(found.data["cache"]) + "\n", encoding="utf-8"
    )


def _cmake_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")


def check(found: Found, where: Where) -> list[str]:
    """What differs between a seeded configure's generated files and the recorded ones."""
    now = digests(where)
    wanted = found.data.get("digests") or {}
    return [name for name in CHECKED if now.get(name) != wanted.get(name)]


def forget(found: Found) -> None:
    """A record that did not reproduce its configure is never used again."""
    try:
        found.path.unlink()
    except OSError:
        pass


def unseed(build: Path) -> None:
    """Take the seeded identification away again before configuring afresh (the build dir was
    new: what else it holds, the configure just wrote)."""
    (build / "CMakeCache.txt").unlink(missing_ok=True)
    shutil.rmtree(build / "CMakeFiles", ignore_errors=True)
