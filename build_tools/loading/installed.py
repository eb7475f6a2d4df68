"""Which extensions a checkout has installed (what vLLM would load), and the record of those
that loaded last time: a library whose content is the one that loaded, in the same
environment, is not loaded again (a build that did not touch it, or a clean-build whose cache
hits linked the same bytes)."""

from __future__ import annotations

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


def _stamp(path: Path) -> list[object]:
    """What the record keeps of a library: its stat (the quick answer) and its content digest
    (the answer when the stat differs: a clean-build installs the same bytes anew)."""
    info = path.stat()
    return [info.st_size, info.st_mtime_ns, info.st_ino, file_sha256(path)]


def _same(kept: object, path: Path) -> bool:
    if not isinstance(kept, list) or len(kept) != 4:
        return False
    info = path.stat()
    if kept[:3] == [info.st_size, info.st_mtime_ns, info.st_ino]:
        return True
    return bool(kept[0] == info.st_size and kept[3] == file_sha256(path))


def unchanged(tree: SourceTree, paths: Sequence[Path], environment: str) -> list[Path]:
    """Those of `paths` that loaded last time, with the same content, in the same
    `environment`."""
    try:
        data = json.loads((tree.state_dir / RECORD).read_text(encoding="utf-8"))
        passed = data["passed"] if data.get("environment") == environment else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    found = []
    for path in paths:
        try:
            if _same(passed.get(str(path)), path):
                found.append(path)
        except OSError:
            continue
    return found


def remember(tree: SourceTree, passed: Iterable[Path], environment: str) -> None:
    """Record the libraries that loaded (or resolved statically) in `environment`."""
    stamps = {}
    for path in passed:
        try:
            stamps[str(path)] = _stamp(path)
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
