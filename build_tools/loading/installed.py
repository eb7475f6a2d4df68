"""Which extensions a checkout has installed (what vLLM would load), and the record of those
that loaded last time: a library whose content is the one that loaded, in the same
environment, is not loaded again (a build that did not touch it, or a clean-build whose cache
hits linked the same bytes)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional

from build_tools.checkout import base, provenance
from build_tools.checkout.source_tree import SourceTree
from build_tools.cmake.build_tree import BuildTree
from build_tools.digest import file_sha256
from build_tools.loading import elf

RECORD = "load-check.json"


def libraries(tree: SourceTree, build_dir: Path, prefix: Optional[Path]) -> list[Path]:
    """The installed extension libraries: under a staging prefix, what the build dir's installs
    wrote there; else those, every library provenance records, and every library in the
    package's folder (vLLM loads them whoever put them there)."""
    found: dict[Path, None] = {}
    root = (prefix or tree.root).resolve()
    for path in BuildTree(build_dir).installed_libraries():
        if path.is_file() and root in path.resolve().parents:
            found.setdefault(path.resolve())
    if prefix is None:
        for rel in provenance.load(tree):
            path = tree.root / rel
            if path.is_file():
                found.setdefault(path.resolve())
        for path in base.libraries(tree, links=True):
            found.setdefault(path.resolve())
    return sorted(found)


def module_name(path: Path, root: Path, library: Optional[elf.Library]) -> str:
    """The dotted module name vLLM imports it by, when it is a Python extension module
    (exports PyInit_<name>); "" for a plain shared library (loaded with ctypes)."""
    stem = path.name.split(".", 1)[0]
    if library is None or not library.exports(f"PyInit_{stem}"):
        return ""
    try:
        parts = path.resolve().relative_to(root.resolve()).parent.parts
    except ValueError:
        parts = ()
    return ".".join([*parts, stem])


def _stamp(path: Path, known: object = None) -> list[object]:
    """What the record keeps of a library: its stat (the quick answer) and its content digest
    (the answer when the stat differs: a clean-build installs the same bytes anew). A `known`
    stamp whose stat is the file's is kept as it is: its library is not read again."""
    info = path.stat()
    now: list[object] = [info.st_size, info.st_mtime_ns, info.st_ino]
    if isinstance(known, list) and len(known) == 4 and known[:3] == now:
        return known
    return [*now, _digest_at(str(path), info.st_size, info.st_mtime_ns, info.st_ino)]


@functools.lru_cache(maxsize=256)
def _digest_at(path: str, size: int, mtime_ns: int, ino: int) -> str:
    """A library's digest, read once per stat in a process (unchanged, then remember)."""
    return file_sha256(path)


def _same(kept: object, path: Path) -> bool:
    if not isinstance(kept, list) or len(kept) != 4:
        return False
    now = _stamp(path, kept)
    return now is kept or (now[0] == kept[0] and now[3] == kept[3])


def _passed(tree: SourceTree, environment: str) -> dict[str, object]:
    """The record's libraries that loaded in `environment` ({} where none or unreadable)."""
    try:
        data = json.loads((tree.state_dir / RECORD).read_text(encoding="utf-8"))
        passed = data["passed"] if data.get("environment") == environment else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    return passed if isinstance(passed, dict) else {}


def unchanged(tree: SourceTree, paths: Sequence[Path], environment: str) -> list[Path]:
    """Those of `paths` that loaded last time, with the same content, in the same
    `environment`."""
    passed = _passed(tree, environment)
    found = []
    for path in paths:
        try:
            if _same(passed.get(str(path)), path):
                found.append(path)
        except OSError:
            continue
    return found


def remember(tree: SourceTree, passed: Iterable[Path], environment: str) -> None:
    """Record the libraries that loaded (or resolved statically) in `environment` (those the
    record already has with their stat unchanged are not read again)."""
    known = _passed(tree, environment)
    stamps = {}
    for path in passed:
        try:
            stamps[str(path)] = _stamp(path, known.get(str(path)))
        except OSError:
            continue
    path = tree.state_dir / RECORD
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"environment": environment, "passed": stamps}, indent=1))
        os.replace(tmp, path)
    except OSError:
        pass  # the next build loads them again: slower, never wrong


def forget(tree: SourceTree) -> None:
    try:
        (tree.state_dir / RECORD).unlink()
    except OSError:
        pass
