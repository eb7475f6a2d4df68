"""The functions a C++/CUDA file defines at namespace scope, and the file as read.

A definition is ``name(params) [const|noexcept|override|-> T] {`` at namespace scope, after a
return type; comments, string contents and preprocessor lines are ignored. ``static``
functions and those in an anonymous namespace are internal: visible only in their own file.
Not seen: class and struct members, constructors, operators, ALL_CAPS names, functions a
macro defines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from build_tools.kernel_tests.cpp_text import (
    USING_NAMESPACE,
    Lines,
    components,
    match_bracket,
    split_cpp,
)
from build_tools.kernel_tests.file_cache import FileCache

_NOT_NAMES = frozenset(
    "if for while switch catch return sizeof decltype alignof alignas static_assert noexcept "
    "defined operator new delete throw __launch_bounds__ __attribute__ __declspec "
    "typeid static_cast dynamic_cast const_cast reinterpret_cast requires".split()
)
_NOT_BEFORE_NAME = frozenset(
    "return else new delete case throw co_return co_yield co_await goto sizeof typedef using "
    "operator do".split()
)
_TRAILING = re.compile(
    r"(?:\s*(?:const|volatile|noexcept|override|final|mutable|&&?|->\s*[\w:<>,\s*&]+))*\s*$"
)
_QUALIFIED_NAME = re.compile(r"((?:::\s*)?(?:\w+\s*::\s*)*)(~?\w+)\s*$")
_NAMESPACE_HEADER = re.compile(r"(?:^|[;}\s])(?:inline\s+)?namespace\s*((?:\w+\s*(?:::\s*)?)*)$")
_EXTERN_HEADER = re.compile(r"\bextern\s*\"\s*\"\s*$")
_CLASS_HEADER = re.compile(r"\b(?:class|struct|union|enum)\b")


@dataclass(frozen=True)
class Definition:
    """A C++ function defined at namespace scope."""

    name: str
    namespace: tuple[str, ...]  # enclosing namespaces; "" for an anonymous one
    qualifier: tuple[str, ...]  # written before the name at the definition: `ns::f`
    line: int
    body: tuple[int, int]  # offsets of its braces in the file's text
    internal: bool  # `static` or in an anonymous namespace: visible only in its file

    @property
    def full_name(self) -> tuple[str, ...]:
        return tuple(n for n in self.namespace if n) + self.qualifier + (self.name,)

    @property
    def scope(self) -> tuple[str, ...]:
        """The namespaces whose names its body sees unqualified, innermost last."""
        return tuple(n for n in self.namespace if n) + self.qualifier


Span = tuple[int, int, tuple[str, ...]]  # a namespace block: its braces and its names


@dataclass
class CppFile:
    """One C++/CUDA file, split (see `split_cpp`) and scanned once."""

    path: str
    code: str
    bare: str
    lines: Lines
    definitions: list[Definition]
    spans: list[Span]
    usings: tuple[tuple[str, ...], ...]  # its `using namespace` names
    macros: dict[str, str]  # name -> replacement text (string contents blanked)

    def namespace_at(self, offset: int) -> tuple[str, ...]:
        """The named namespaces enclosing `offset`, outermost first."""
        return tuple(
            n
            for start, end, names in sorted(self.spans)
            if start < offset < end
            for n in names
            if n
        )


def parse_cpp(path: str, text: str) -> CppFile:
    code, bare, macros = split_cpp(text)
    lines = Lines(text)
    usings = tuple(components(m.group(1)) for m in USING_NAMESPACE.finditer(bare))
    definitions, spans = _definitions(bare, lines)
    return CppFile(path, code, bare, lines, definitions, spans, usings, macros)


def find_definitions(text: str) -> list[Definition]:
    """Every function defined at namespace scope in C++/CUDA source `text`, in file order."""
    return parse_cpp("", text).definitions


class CppFiles:
    """The C++ files of one checkout, each read and parsed once (and kept in `state_dir`
    across runs, see file_cache.py)."""

    def __init__(self, root: Path, state_dir: Optional[Path] = None) -> None:
        self.root = root
        self.cache: FileCache[CppFile] = FileCache(
            root, state_dir / KEPT if state_dir else None, KEPT_VERSION
        )

    def get(self, path: str) -> Optional[CppFile]:
        """The file at `path` (relative to the checkout), None when it cannot be read."""
        return self.cache.get(path, _parse_bytes)

    def save(self) -> None:
        self.cache.save()


KEPT, KEPT_VERSION = "kernel-tests-cpp.pickle", 1


def _parse_bytes(data: bytes, path: str) -> CppFile:
    return parse_cpp(path, data.decode("utf-8", errors="replace"))


def _function_header(header: str) -> Optional[tuple[str, tuple[str, ...], bool]]:
    """(name, qualifier, static) when `header` (the text before a `{`) ends a function
    definition's declarator, else None."""
    trailing = _TRAILING.search(header)
    head = header[: trailing.start()] if trailing else header
    head = head.rstrip()
    if not head.endswith(")"):
        return None
    opening = match_bracket(head, len(head) - 1, backwards=True)
    if opening <= 0:
        return None
    before = head[:opening].rstrip()
    if before.endswith(">"):  # an explicit specialization: f<float>(...)
        lt = match_bracket(before, len(before) - 1, "<>", backwards=True)
        if lt <= 0:
            return None
        before = before[:lt].rstrip()
    m = _QUALIFIED_NAME.search(before)
    if m is None:
        return None
    name = m.group(2)
    if name in _NOT_NAMES or name.startswith("~") or re.fullmatch(r"[A-Z0-9_]+", name):
        return None
    prefix = before[: m.start()].rstrip()
    if not prefix or (
        prefix[-1] not in "*&>)]" and not (prefix[-1].isalnum() or prefix[-1] == "_")
    ):
        return None
    last_word = re.search(r"(\w+)$", prefix)
    if last_word and last_word.group(1) in _NOT_BEFORE_NAME:
        return None
    if re.search(r"(?:^|[^\w])(?:class|struct|union|enum)\s+\w+\s*[:{]?\s*$", prefix):
        return None
    qualifier = components(m.group(1))
    if "operator" in before[m.start() :]:
        return None
    static = re.search(r"\bstatic\b", prefix) is not None
    return name, qualifier, static


def _definitions(bare: str, lines: Lines) -> tuple[list[Definition], list[Span]]:
    """The functions defined at namespace scope, and the namespace blocks."""
    found: list[Definition] = []
    spans: list[Span] = []
    # Frames: ("ns", names) / ("extern", ()) / ("fn", pending) / ("class"|"block", ()).
    stack: list[tuple[str, tuple[str, ...], int]] = []
    pending: dict[int, tuple[str, tuple[str, ...], bool, tuple[str, ...]]] = {}
    boundary = 0
    for m in re.finditer(r"[{};]", bare):
        c, pos = m.group(0), m.start()
        if c == ";":
            boundary = pos + 1
            continue
        if c == "}":
            if stack:
                kind, names, opened = stack.pop()
                if kind == "ns":
                    spans.append((opened, pos, names))
                if kind == "fn" and opened in pending:
                    name, qualifier, static, namespace = pending.pop(opened)
                    found.append(
                        Definition(
                            name,
                            namespace,
                            qualifier,
                            lines.line(opened),
                            (opened, pos),
                            static or "" in namespace,
                        )
                    )
            boundary = pos + 1
            continue
        at_scope = all(kind in ("ns", "extern") for kind, _, _ in stack)
        header = bare[boundary:pos]
        boundary = pos + 1
        if not at_scope:
            stack.append(("block", (), pos))
            continue
        stripped = header.strip()
        ns = _NAMESPACE_HEADER.search(stripped)
        if ns is not None:
            names = components(ns.group(1)) or ("",)
            stack.append(("ns", names, pos))
            continue
        if _EXTERN_HEADER.search(stripped):
            stack.append(("extern", (), pos))
            continue
        if stripped.endswith("="):
            stack.append(("block", (), pos))
            continue
        fn = _function_header(stripped)
        if fn is not None:
            namespace = tuple(n for kind, names, _ in stack if kind == "ns" for n in names)
            pending[pos] = (fn[0], fn[1], fn[2], namespace)
            stack.append(("fn", (), pos))
            continue
        stack.append(("class" if _CLASS_HEADER.search(stripped) else "block", (), pos))
    return found, spans
