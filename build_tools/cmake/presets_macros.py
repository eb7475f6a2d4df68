"""CMake's macro expansion in presets (`${sourceDir}`, `$env{X}`, ...), as cmake 4.x does it."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

NAMESPACES = ("", "env", "penv", "vendor")


class MacroError(Exception):
    """cmake's "Invalid macro expansion": every preset fails to load."""


class Ignored(MacroError):
    """A `$vendor{}` macro: cmake gives up on that one preset ("Could not evaluate")."""


def expand(text: str, lookup: Callable[[str, str], str]) -> str:
    """cmake's ExpandMacros: `${name}`, `$env{name}`, ...; anything else is kept as it is."""
    out: list[str] = []
    space = name = ""
    state = "text"
    for c in text:
        if state == "text" and c == "$":
            state, space = "space", ""
        elif state == "text":
            out.append(c)
        elif state == "space" and c == "{" and space in NAMESPACES:
            state, name = "name", ""
        elif state == "space" and c == "{":
            state = "text"
            out.append(f"${space}{{")
        elif state == "space":
            space += c
            if not any(ns.startswith(space) for ns in NAMESPACES):
                state = "text"
                out.append(f"${space}")
        elif c == "}":
            state = "text"
            out.append(lookup(space, name))
        else:
            name += c
    if state == "name":
        raise MacroError(f"{text!r} has an unterminated macro")
    return "".join(out) + (f"${space}" if state == "space" else "")


def base(src: Path, version: int, name: str, file_dir: Path) -> Optional[str]:
    floor = {"hostSystemName": 3, "fileDir": 4, "pathListSep": 5}.get(name, 0)
    if version < floor:
        raise MacroError(f"${{{name}}} needs presets version {floor}, the file has {version}")
    return {
        "sourceDir": str(src),
        "sourceParentDir": str(src.parent),
        "sourceDirName": src.name,
        "dollar": "$",
        "hostSystemName": platform.system(),
        "pathListSep": os.pathsep,
        "fileDir": str(file_dir),
    }.get(name)


def immediate(text: Any, path: Path, version: int) -> Any:
    def lookup(space: str, name: str) -> str:
        if space or name != "fileDir":
            raise MacroError  # cmake defers the whole field
        return str(path.parent)

    if isinstance(text, str) and version >= 12:
        with contextlib.suppress(MacroError):
            return expand(text, lookup)
    return text
