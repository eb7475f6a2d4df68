"""Paths we hand to CMake and nvcc: refused up front when they would be executed or mis-split.

nvcc runs a shell over some of its paths (so `$(...)` or backticks in a source path execute),
and CMake splits lists on `;`. The suite itself never uses a shell; this guards the tools we run.
"""

from __future__ import annotations

from pathlib import Path

from build_tools.errors import BuildToolsError

UNSAFE = {
    "$": "a dollar sign",
    "`": "a backtick",
    ";": "a semicolon",
    '"': "a double quote",
    "'": "a single quote",
    "\n": "a newline",
    "\r": "a carriage return",
    "\\": "a backslash",
}


def check(path: Path, role: str) -> Path:
    """`path` itself, or BuildToolsError naming the character and why it is refused."""
    text = str(path)
    for char, name in UNSAFE.items():
        if char in text:
            raise BuildToolsError(
                f"The {role} path {text!r} contains {name}, which nvcc or CMake would execute "
                "or split; nothing was created.",
                f"move or link the {role} to a path of letters, digits, spaces and -_./+@",
            )
    return path
