"""Which extension target compiles which source, read from the CMake files as text, for a
checkout that is not configured yet (the CMake File API says it exactly once configured).

A command whose first argument is a name and which names `SOURCES` (vLLM's
`define_extension_target(_C ... SOURCES ${VLLM_EXT_SRC})`, the example's
`minivllm_extension(_C SOURCES a.cpp CUDA_SOURCES b.cu)`) defines a target; `${VAR}` is
expanded from every `set(VAR ...)` and `list(APPEND VAR ...)` of the files, whatever `if()`
they stand in (so a source may be listed for a target that a configure would leave out).
Sources generated or globbed at configure time are not seen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from build_tools.cmake.listfile import commands

SOURCE = re.compile(r"\.(cu|cpp|cc|cxx|c)$")
VARIABLE = re.compile(r"\$\{(\w+)\}")
WORD = re.compile(r'"([^"]*)"|(\S+)')
SOURCE_KEYWORDS = ("SOURCES", "CUDA_SOURCES", "HIP_SOURCES")


def _words(arguments: str) -> list[str]:
    return [m.group(1) if m.group(1) is not None else m.group(2) for m in WORD.finditer(arguments)]


def listed_sources(root: Path, files: Iterable[Path]) -> dict[str, list[str]]:
    """{source relative to `root`: the targets whose SOURCES list it}."""
    variables: dict[str, list[str]] = {}
    targets: list[tuple[str, list[str]]] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for name, arguments in commands(text):
            words = _words(arguments)
            if name == "set" and words:
                variables.setdefault(words[0], []).extend(words[1:])
            elif name == "list" and len(words) > 2 and words[0].upper() == "APPEND":
                variables.setdefault(words[1], []).extend(words[2:])
            elif words and any(w in SOURCE_KEYWORDS for w in words[1:]):
                targets.append((words[0], _sources_of(words)))
    found: dict[str, list[str]] = {}
    for target, listed in targets:
        for word in _expand(listed, variables, set()):
            source = VARIABLE.sub("", word).lstrip("/")
            if SOURCE.search(source) and (root / source).is_file():
                found.setdefault(source, [])
                if target not in found[source]:
                    found[source].append(target)
    return found


def _sources_of(words: list[str]) -> list[str]:
    """The words after a SOURCES keyword, up to the next keyword (an upper-case word)."""
    taken: list[str] = []
    inside = False
    for word in words[1:]:
        if word in SOURCE_KEYWORDS:
            inside = True
        elif word.isupper() and word.replace("_", "").isalpha():
            inside = False
        elif inside:
            taken.append(word)
    return taken


def _expand(words: Iterable[str], variables: dict[str, list[str]], seen: set[str]) -> list[str]:
    out: list[str] = []
    for word in words:
        for piece in word.split(";"):
            whole = VARIABLE.fullmatch(piece)
            if whole is None:
                out.append(piece)
            elif whole.group(1) not in seen:
                name = whole.group(1)
                out += _expand(variables.get(name, []), variables, seen | {name})
    return out
