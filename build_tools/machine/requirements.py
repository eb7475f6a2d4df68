"""Requirements files, read with `packaging`: names, pins, and a digest that follows `-r`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

INCLUDE = ("-r", "--requirement")


def _walk(path: Path, seen: set[Path]) -> Iterator[tuple[Path, str]]:
    """(file, line) of `path`, each `-r` include expanded where it stands, every file once."""
    if path in seen or not path.is_file():
        return
    seen.add(path)
    for line in path.read_text(encoding="utf-8").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) == 2 and words[0] in INCLUDE:
            yield from _walk(path.parent / words[1], seen)
        else:
            yield path, line


def requirements(path: Path) -> list[Requirement]:
    """Every requirement line of `path` and its includes (options and bad lines skipped)."""
    found = []
    for _, line in _walk(path, set()):
        # pip-compile's hashed lines end in a continuation: "name==1.0 \"
        line = line.split(" #", 1)[0].split("\t#", 1)[0].strip().rstrip("\\").strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            found.append(Requirement(line))
        except InvalidRequirement:
            continue
    return found


def names(path: Path) -> list[str]:
    """Distribution names a requirements file asks for, as written, includes followed."""
    return [req.name for req in requirements(path)]


def pins(path: Path) -> dict[str, str]:
    """`name==version` pins, by canonical name (markers are not evaluated: a pin is a pin)."""
    found: dict[str, str] = {}
    for req in requirements(path):
        exact = [s.version for s in req.specifier if s.operator in ("==", "===")]
        if exact:
            found[canonicalize_name(req.name)] = exact[0]
    return found


def digest(path: Path) -> str:
    """sha256 over the texts of `path` and everything it includes."""
    sha = hashlib.sha256()
    for _, line in _walk(path, set()):
        sha.update(f"{line}\n".encode())
    return sha.hexdigest()


def pin_of(path: Optional[Path], name: str) -> Optional[str]:
    return pins(path).get(canonicalize_name(name)) if path else None
