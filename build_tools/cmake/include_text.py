"""Which units likely include a changed header, read from the checkout's own files as text: an
order for the dependency scans, never their answer.

A header plan scans a target's units until one includes the changed header (dep_scan.py, the
compiler's `-M`: exact, about 2-4 s a vLLM unit on 2 cores). Which unit to scan first decides
how many scans that takes: vLLM 0.34.0's `_C_stable_libtorch` has 87 units, and the one
including `csrc/cub_helpers.h` came 30th by folder. Read as text, the `#include` lines of the
checkout's files (each read once), resolved from the including file's folder and the unit's
search dirs, say which units reach a header through the checkout's own files: those are
scanned first. Includes under `#if`, through macros, or through files outside the checkout are
the compiler's business: a unit this reading misses is still scanned, later.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable

_INCLUDE = re.compile(rb'^[ \t]*#[ \t]*include(?:_next)?[ \t]*[<"]([^>"\n]+)[>"]', re.M)


class IncludeText:
    """The checkout's `#include` lines, read once per file, for `reaches`."""

    def __init__(self, root: str, outside: Iterable[str] = ()) -> None:
        self.root = os.path.normpath(root) + os.sep
        self.outside = tuple(os.path.normpath(o) + os.sep for o in outside)
        self._names: dict[str, list[str]] = {}

    def _ours(self, path: str) -> bool:
        return path.startswith(self.root) and not path.startswith(self.outside)

    def _included(self, path: str) -> list[str]:
        if path not in self._names:
            try:
                with open(path, "rb") as handle:
                    text = handle.read()
            except OSError:
                text = b""
            self._names[path] = [m.decode(errors="replace") for m in _INCLUDE.findall(text)]
        return self._names[path]

    def reaches(self, source: str, dirs: Iterable[str], wanted: Collection[str]) -> bool:
        """Whether `source` (absolute) reaches one of `wanted` (absolute) through `#include`
        lines of the checkout's files, searching `dirs` (absolute) after the including
        file's own folder."""
        folders = [os.path.normpath(d) for d in dirs]
        seen, todo = {source}, [source]
        while todo:
            path = todo.pop()
            if path in wanted:
                return True
            for name in self._included(path):
                for folder in (os.path.dirname(path), *folders):
                    found = os.path.normpath(os.path.join(folder, name))
                    if not os.path.isfile(found):
                        continue
                    if self._ours(found) and found not in seen:
                        seen.add(found)
                        todo.append(found)
                    break  # the first folder that has it, as the compiler takes it
        return False
