"""CMake's language as far as we read it: the commands of a CMakeLists.txt or .cmake file.

One scanner for every reader (the arch list, FetchContent declarations): comments dropped,
arguments spanning lines, nested parentheses balanced. Not a CMake interpreter: variables are
not evaluated and control flow is the reader's business.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_COMMAND = re.compile(r"\b(\w+)\s*\(")


def commands(text: str) -> Iterator[tuple[str, str]]:
    """(name in lower case, raw arguments) of each command, in order. A command nested in
    another's arguments (a generator expression's word before a parenthesis) comes too."""
    text = re.sub(r"#[^\n]*", "", text)
    for match in _COMMAND.finditer(text):
        depth, end = 1, match.end()
        while end < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        yield match.group(1).lower(), text[match.end() : end - 1]
