"""Configure off the critical path: what a fresh configure would compute again, reused only where
it is keyed by its real inputs, and proven equal afterwards.

Two parts, kept in the configure cache (a folder of the user's, shared by every checkout and
worktree; setting `configure_cache`):

- The answers to `python -c EXPR` (python_answers.py): our presets give CMake a small script as
  the interpreter (`VLLM_PYTHON_EXECUTABLE`), which answers vLLM's torch questions from the
  cache. `install_python` writes it.
- Compiler identification: CMake keeps what it found of the system and of each compiler in
  `CMakeFiles/<version>/CMakeSystem.cmake` and `CMake<LANG>Compiler.cmake`, and the tools it
  found in `CMAKE_*` cache entries; a build dir that has them skips identification and the
  compilers' test builds (seconds for nvcc). After a fresh configure, `record` keeps them with
  the configure's inputs: the cmake binary, the preset's values, the environment, the host and
  its GPUs, the contents of every file of the project and outside it that the configure read
  (the File API's cmakeFiles reply) and of the tools the compiler files name. A new build dir
  whose inputs are all the same (`find`) is seeded with them (`seed`); after that configure,
  `check` compares its build.ninja, compile_commands.json and CMakeCache.txt with the recorded
  ones (paths of the source and build dirs aside): any difference, and configure runs afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from build_tools.cmake import python_answers

FORMAT = 1
COMPILERS = "compilers"
ANSWERS = "python-answers"
WRAPPER = "python"  # in the state dir: the interpreter our presets give CMake
SCRIPT = "python_answers.py"
PLATFORM_FILES = re.compile(r"^CMake(System|[A-Za-z]+Compiler)\.cmake$")
CHECKED = ("build.ninja", "compile_commands.json", "CMakeCache.txt")
# Cache entries compiler identification writes: the tools it found (FILEPATH), each
# language's compiler and default architectures (vLLM's CUDA targets fail without them), uname,
# the executable format, and the mark that the platform files are the cache's own (CMake
# deletes CMakeFiles/<version> of a build dir without it).
_ENTRY = re.compile(r"^([^:#/][^:]*):([A-Z]+)=(.*)$")
_IDENTIFIED = re.compile(
    r"^CMAKE_(?:[A-Za-z]+_COMPILER|[A-Za-z]+_ARCHITECTURES|UNAME|EXECUTABLE_FORMAT"
    r"|PLATFORM_INFO_INITIALIZED)$"
)
_TOOL = re.compile(r'^set\(CMAKE_[A-Z_]+ "(/[^"]+)"\)$', re.MULTILINE)


def default_root(environ: Mapping[str, str]) -> Path:
    home = Path(environ.get("HOME") or "~").expanduser()
    return Path(environ.get("XDG_CACHE_HOME") or home / ".cache") / "vllm-build-tools" / "configure"


def _sha(path: Path) -> str:
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except OSError:
        return "missing"


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


# ------------------------------------------------------------------------ the interpreter


def install_python(state_dir: Path, python: Path, root: Path) -> Path:
    """The interpreter our presets give CMake, written into the state dir (again only when it
    would change): `-c EXPR` goes to python_answers.py, anything else to `python` unchanged."""
    state_dir.mkdir(parents=True, exist_ok=True)
    script = state_dir / SCRIPT
    _write_if_changed(script, Path(python_answers.__file__).read_text(encoding="utf-8"))
    quote = _sh_quote
    wrapper = state_dir / WRAPPER
    text = (
        "#!/bin/sh\n"
        "# Written by vllm-build-tools: the Python our presets give CMake. `-c EXPR` is\n"
        "# answered from the configure cache (python_answers.py beside this file says how);\n"
        "# anything else runs the venv's Python unchanged.\n"
        'if [ "$#" -eq 2 ] && [ "$1" = "-c" ]; then\n'
        f"  exec {quote(str(python))} -S -E {quote(str(script))} "
        f'{quote(str(root / ANSWERS))} {quote(str(python))} "$2"\n'
        "fi\n"
        f'exec {quote(str(python))} "$@"\n'
    )
    _write_if_changed(wrapper, text)
    mode = wrapper.stat().st_mode
    if not mode & stat.S_IXUSR:
        wrapper.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return wrapper


def wrapped_python(wrapper: Path) -> Optional[Path]:
    """The interpreter a wrapper of ours runs (None: `wrapper` is not one)."""
    try:
        text = wrapper.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if "Written by vllm-build-tools" not in text:
        return None
    last = text.strip().splitlines()[-1]
    match = re.match(r"""^exec '((?:[^']|'\\'')*)' "\$@"$""", last)
    return Path(match.group(1).replace("'\\''", "'")) if match else None


def interpreter_of(value: str) -> Path:
    """The Python a preset's VLLM_PYTHON_EXECUTABLE runs: the one our script wraps, else
    the value itself."""
    return wrapped_python(Path(value)) or Path(value)


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _write_if_changed(path: Path, text: str) -> None:
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


# ------------------------------------------------------------------ compiler identification


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
        gpus = sorted(_read(p / "information") for p in base.iterdir())
    uname = platform.uname()
    text = json.dumps(
        [
            FORMAT,
            str(cmake.resolve()),
            _sha(cmake.resolve()),
            values,
            env,
            [uname.system, uname.release, uname.machine],
            _read(Path("/proc/driver/nvidia/version")),
            gpus,
        ],
        sort_keys=True,
    )
    return hashlib.sha256(text.replace(str(source), "<SOURCE>").encode()).hexdigest()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _key(path: str, where: Where) -> Optional[str]:
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


def _path(key: str, where: Where) -> Path:
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
        text = _normalized(_read(where.build / name), where)
        if name == "CMakeCache.txt":  # modules' private entries ("_...") hash paths
            entries = sorted(
                (m.group(1), m.group(3))
                for m in map(_ENTRY.match, text.splitlines())
                if m and not m.group(1).startswith("_")
            )
            text = json.dumps(entries)
        found[name] = hashlib.sha256(text.encode()).hexdigest()
    return found


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
    lines = _read(where.build / "CMakeCache.txt").splitlines()
    entries = _identified(lines)
    read = {k: _sha(_path(k, where)) for k in filter(None, (_key(p, where) for p in inputs))}
    tools = sorted({m for text in files.values() for m in _TOOL.findall(text)})
    tools = [t for t in tools if os.path.isfile(t)]
    data = {
        "format": FORMAT,
        "version": platform_dir.name,
        "files": files,
        "regenerate": _regenerate_inputs(_read(where.build / "build.ninja"), where),
        "cache": entries,
        "read": read,
        "tools": {t: _sha(Path(t)) for t in tools},
        "digests": digests(where),
    }
    name = _hash([read, data["tools"]])[:24]
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
        match = _ENTRY.match(line)
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
        match = _ENTRY.match(line)
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
        read, tools = data.get("read") or {}, data.get("tools") or {}
        if all(_sha(_path(k, where)) == v for k, v in read.items()) and all(
            _sha(Path(t)) == v for t, v in tools.items()
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
    return [k for k in (_key(p, where) for p in paths if os.path.isabs(p)) if k]


def seed(found: Found, where: Where) -> None:
    """Give a new build dir the recorded compiler identification, with what a fresh configure
    leaves behind that a configure skipping identification does not: each language's
    MSVC_<LANG>_ARCHITECTURE_ID defined (CMake's Ninja generator then writes the PDB variables a
    fresh configure writes), and the CMake modules identification read as inputs of
    build.ninja."""
    build = where.build
    platform_dir = build / "CMakeFiles" / str(found.data["version"])
    platform_dir.mkdir(parents=True, exist_ok=True)
    regenerate = [str(_path(str(k), where)) for k in found.data.get("regenerate") or ()]
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


def fresh(build: Path) -> bool:
    """A build dir nothing was configured in yet: missing, or holding only the File API query."""
    try:
        return all(p.name == ".cmake" for p in build.iterdir())
    except FileNotFoundError:
        return True
    except OSError:
        return False
