"""Configure off the critical path: what a fresh configure would compute again, reused only where
it is keyed by its real inputs, and proven equal afterwards. This module holds what both kinds
of reuse share: the configure cache's place (a folder of the user's, shared by every checkout
and worktree; setting `configure_cache`), a configure's context (the cmake binary, the preset's
values, the environment, the host and its GPUs), how a file is named in a record (relative to
the checkout where it lies in it), and the digests of the generated files a reused configure
must reproduce. The reuse itself: `cmake_python.py` (CMake's interpreter, whose `python -c`
answers `python_answers.py` keeps) and `compiler_id.py` (compiler identification, seeded into
a new build dir).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from build_tools.cmake import python_answers
from build_tools.digest import file_sha256

FORMAT = 1
CHECKED = ("build.ninja", "compile_commands.json", "CMakeCache.txt")
ENTRY = re.compile(r"^([^:#/][^:]*):([A-Z]+)=(.*)$")  # a CMakeCache.txt entry


def default_root(environ: Mapping[str, str]) -> Path:
    home = Path(environ.get("HOME") or "~").expanduser()
    return Path(environ.get("XDG_CACHE_HOME") or home / ".cache") / "vllm-build-tools" / "configure"


def root_of(setting: str, environ: Mapping[str, str], checkout: Path) -> Optional[Path]:
    """Where the `configure_cache` setting keeps configure's reusable answers (None: `none`;
    empty: under the user's cache dir; a relative path: in the checkout)."""
    if setting.lower() == "none":
        return None
    if not setting:
        return default_root(environ)
    path = Path(setting).expanduser()
    return path if path.is_absolute() else checkout / path


def sha(path: Path) -> str:
    try:
        return file_sha256(path)
    except OSError:
        return "missing"


def stable_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


# ------------------------------------------------------------------------ the interpreter


@dataclass(frozen=True)
class Where:
    """The configure a record is for: its source and build dirs, and the keyed context (the
    cmake binary and version, the preset's values, the environment, the host)."""

    source: Path
    build: Path
    context: str


def context(
    cmake: Path, source: Path, preset: Mapping[str, Any], environ: Mapping[str, str]
) -> str:
    """The digest of what a configure of `source` runs with, besides the files it reads (the
    checkout's own path left out: a second worktree of the same tree has the same context)."""
    env = python_answers.environment(dict(environ))
    values = {k: v for k, v in preset.items() if k not in ("vendor", "binaryDir", "name")}
    gpus = []
    base = Path("/proc/driver/nvidia/gpus")
    if base.is_dir():
        gpus = sorted(read(p / "information") for p in base.iterdir())
    uname = platform.uname()
    text = json.dumps(
        [
            FORMAT,
            str(cmake.resolve()),
            sha(cmake.resolve()),
            values,
            env,
            [uname.system, uname.release, uname.machine],
            read(Path("/proc/driver/nvidia/version")),
            gpus,
        ],
        sort_keys=True,
    )
    return hashlib.sha256(text.replace(str(source), "<SOURCE>").encode()).hexdigest()


def read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def key_of(path: str, where: Where) -> Optional[str]:
    """How a file is named in a record: relative to the source dir (`src:`), else absolute;
    None for one of the build dir (generated)."""
    resolved = Path(path) if os.path.isabs(path) else where.source / path
    for base, mark in ((where.build, None), (where.source, "src:")):
        try:
            relative = resolved.relative_to(base)
        except ValueError:
            continue
        return None if mark is None else mark + relative.as_posix()
    return str(resolved)


def path_of(key: str, where: Where) -> Path:
    return where.source / key[4:] if key.startswith("src:") else Path(key)


def _normalized(text: str, where: Where) -> str:
    """A generated file with the build and source dirs' paths replaced (a record of one build
    dir is compared with another's)."""
    for path, mark in ((where.build, "<BUILD>"), (where.source, "<SOURCE>")):
        for spelling in (str(path), ninja_escaped(str(path))):
            text = text.replace(spelling, mark)
    return text


def ninja_escaped(path: str) -> str:
    """A path as build.ninja spells it (`$ ` for a space, `$:` for a colon)."""
    return path.replace("$", "$$").replace(" ", "$ ").replace(":", "$:")


def digests(where: Where) -> dict[str, str]:
    """build.ninja and compile_commands.json as they are, CMakeCache.txt by its values (the
    type and help of an entry set on the command line follow whether identification ran; the
    modules' private entries, such as FindPython's digest of the interpreter's path, left out:
    another worktree's paths give them other values)."""
    found = {}
    for name in CHECKED:
        if not (where.build / name).is_file():
            continue
        text = _normalized(read(where.build / name), where)
        if name == "CMakeCache.txt":  # modules' private entries ("_...") hash paths
            entries = sorted(
                (m.group(1), m.group(3))
                for m in map(ENTRY.match, text.splitlines())
                if m and not m.group(1).startswith("_")
            )
            text = json.dumps(entries)
        found[name] = hashlib.sha256(text.encode()).hexdigest()
    return found


def fresh(build: Path) -> bool:
    """A build dir nothing was configured in yet: missing, or holding only the File API query."""
    try:
        return all(p.name == ".cmake" for p in build.iterdir())
    except FileNotFoundError:
        return True
    except OSError:
        return False
