"""The ops a changed C++/CUDA file registers or implements, through the C++ call graph.

An op belongs to a changed file when

* the file registers it (it is a binding file), or
* the C++ function its registration names is *defined* in the file (depth 0), or
* that function reaches a function defined in the file through at most ``max_call_depth``
  references (calls, kernel launches, ``&f``) in the bodies of functions of the same CMake
  target's sources (depth 1, 2, ...). A macro of the same file that a body invokes counts as
  part of the body. A header is in no target: it is matched against every target's sources.

Names match as whole words and namespaces are respected: ``&ns::f`` means a function whose
full name ends with ``ns::f``; an unqualified ``f`` one in the global namespace, in a
namespace enclosing the reference, or in one the file opens with ``using namespace``.
Internal functions only match in their own file, and a file's own function hides a
same-named one of another file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Optional

from build_tools.kernel_tests.cpp_definitions import CppFile, CppFiles, Definition
from build_tools.kernel_tests.cpp_text import components, qualified_parts
from build_tools.kernel_tests.registrations import (
    Registration,
    SourceTargets,
    registration_order,
    registrations_in,
    targets_of,
)
from build_tools.kernel_tests.results import Op, OpSource

DEFAULT_MAX_CALL_DEPTH = 3

_QUALIFIER_BEFORE = re.compile(r"((?:::\s*)?(?:\w+\s*::\s*)*)$")

_Frontier = tuple[CppFile, Definition, tuple[str, ...]]  # a function, and how it was reached


def ops_of_changed_file(
    root: Path,
    changed: str,
    source_targets: SourceTargets,
    registrations: Optional[Sequence[Registration]] = None,
    *,
    max_call_depth: int = DEFAULT_MAX_CALL_DEPTH,
    extension_names: Optional[Mapping[str, str]] = None,
) -> list[OpSource]:
    """The ops `changed` registers or implements (see the module's docstring), each once with
    its shortest explanation. `registrations` defaults to `collect_registrations(...)`."""
    files = CppFiles(root)
    if registrations is None:
        registrations = registrations_in(files, source_targets, extension_names)
    return ops_of(files, changed, source_targets, registrations, max_call_depth)


def ops_of(
    files: CppFiles,
    changed: str,
    source_targets: SourceTargets,
    registrations: Sequence[Registration],
    max_call_depth: int,
) -> list[OpSource]:
    """`ops_of_changed_file` over files already read."""
    best: dict[Op, OpSource] = {}

    def note(op: Op, depth: int, how: str, chain: tuple[str, ...] = ()) -> None:
        source = OpSource(changed, op, depth, how, chain)
        old = best.get(op)
        if old is None or source < old:
            best[op] = source

    for reg in registrations:
        if reg.binding_file == changed:
            note(reg.op, 0, f"registered here (line {reg.line})")
    file = files.get(changed)
    if file is None:
        return sorted(best.values())
    candidates, sources = _in_reach(changed, source_targets, registrations)
    impls: dict[str, list[Registration]] = {}
    for reg in candidates:
        if reg.function:
            impls.setdefault(components(reg.function)[-1], []).append(reg)

    def registered(definition: Definition, path: str) -> list[Registration]:
        """The registrations naming `definition` (of file `path`) as their function."""
        return [
            reg
            for reg in impls.get(definition.name, [])
            if _impl_matches(reg, definition, reg.binding_file == path)
        ]

    # Depth 0: the function an impl names is defined in the changed file.
    for d in file.definitions:
        for reg in registered(d, changed):
            name, at = "::".join(d.full_name), f"{reg.binding_file}:{reg.line}"
            note(reg.op, 0, f"{name} is defined here (line {d.line}) and registered in {at}")
    # Depth n: a function of the target's sources refers to a function of depth n - 1.
    frontier: list[_Frontier] = [(file, d, (_where(d, changed),)) for d in file.definitions]
    for depth, (caller_file, caller, chain) in _reaching(files, sources, frontier, max_call_depth):
        for reg in registered(caller, caller_file.path):
            at, reached = f"{reg.binding_file}:{reg.line}", " -> ".join(chain[1:])
            note(reg.op, depth, f"{chain[0]}, registered in {at}, reaches {reached}", chain)
    return sorted(best.values())


def _in_reach(
    changed: str, source_targets: SourceTargets, registrations: Sequence[Registration]
) -> tuple[list[Registration], list[str]]:
    """The registrations and the sources of the targets compiling `changed`; of every target
    for a header, or a file no target lists (every target may include it)."""
    targets = set(targets_of(source_targets.get(changed, ())))
    if not targets:
        return sorted(registrations, key=registration_order), sorted(source_targets)

    def shares_a_target(path: str) -> bool:
        return not targets.isdisjoint(targets_of(source_targets.get(path, ())))

    regs = {r for r in registrations if shares_a_target(r.binding_file)}
    sources = sorted(s for s in source_targets if shares_a_target(s))
    return sorted(regs, key=registration_order), sources


def _where(definition: Definition, path: str) -> str:
    return f"{'::'.join(definition.full_name)} ({path}:{definition.line})"


def _reaching(
    files: CppFiles, sources: Sequence[str], frontier: list[_Frontier], max_call_depth: int
) -> Iterator[tuple[int, _Frontier]]:
    """(depth, (file, function, chain)) for each function of `sources` that reaches one of
    `frontier` through `depth` references (at most `max_call_depth`), once, nearest first;
    `chain` is the functions passed through, outermost first."""
    seen = {(f.path, d.body) for f, d, _ in frontier}
    for depth in range(1, max_call_depth + 1):
        if not frontier:
            break
        by_name: dict[str, list[_Frontier]] = {}
        for entry in frontier:
            by_name.setdefault(entry[1].name, []).append(entry)
        pattern = _names_pattern(by_name)
        next_frontier: list[_Frontier] = []
        for source in sources:
            caller_file = files.get(source)
            if caller_file is None or not (
                pattern.search(caller_file.bare)
                or any(pattern.search(m) for m in caller_file.macros.values())
            ):
                continue
            for caller in caller_file.definitions:
                key = (caller_file.path, caller.body)
                if key in seen:
                    continue
                hit = _first_ref(
                    _expanded_body(caller_file, caller), pattern, by_name, caller_file, caller
                )
                if hit is None:
                    continue
                seen.add(key)
                reached = (caller_file, caller, (_where(caller, source), *hit[2]))
                next_frontier.append(reached)
                yield depth, reached
        frontier = next_frontier


def _refers_to(
    qualifier: tuple[str, ...],
    definition: Definition,
    scope: tuple[str, ...],
    usings: Iterable[tuple[str, ...]],
) -> bool:
    """Whether a reference written `qualifier::name` (name equal to the definition's), made
    from namespace `scope` in a file with `usings`, can mean `definition`."""
    full = definition.full_name
    if qualifier:
        if qualifier[0] == "":  # ::ns::f
            return full == (*qualifier[1:], definition.name)
        wanted = (*qualifier, definition.name)
        return full[-len(wanted) :] == wanted
    home = full[:-1]
    if not home:
        return True
    if scope[: len(home)] == home:
        return True
    return any(home == u for u in usings)


def _impl_matches(reg: Registration, definition: Definition, same_file: bool) -> bool:
    if reg.function is None or (definition.internal and not same_file):
        return False
    written = qualified_parts(reg.function)
    if written[-1:] != (definition.name,):
        return False
    usings = [components(u) for u in reg.usings]
    return _refers_to(written[:-1], definition, reg.scope, usings)


def _names_pattern(names: Iterable[str]) -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(names)) + r")\b")


def _word_refs(body: str, pattern: re.Pattern[str]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(name, qualifier) of every reference `pattern` (whole words) finds in `body`, except a
    member access (`x.f`, `x->f`, `T<U>::f`) or a scope (`f::`). A qualifier written `::a::`
    is ("", "a")."""
    for m in pattern.finditer(body):
        if re.match(r"\s*::", body[m.end() : m.end() + 8]):
            continue
        window = body[max(0, m.start() - 240) : m.start()]
        q = _QUALIFIER_BEFORE.search(window)
        written = q.group(1).strip() if q else ""
        before = window[: q.start()].rstrip() if q else window.rstrip()
        if before.endswith((".", "->")) or (written.startswith("::") and before.endswith(">")):
            continue
        yield m.group(1), qualified_parts(written)


def _expanded_body(file: CppFile, definition: Definition) -> str:
    """A function's body with the macros of its file that it invokes appended (recursively)."""
    start, end = definition.body
    body = file.bare[start : end + 1]
    if not file.macros:
        return body
    parts, seen, todo = [body], set(), [body]
    pattern = _names_pattern(file.macros)
    while todo:
        text = todo.pop()
        for m in pattern.finditer(text):
            name = m.group(1)
            if name not in seen:
                seen.add(name)
                parts.append(file.macros[name])
                todo.append(file.macros[name])
    return "\n".join(parts)


def _first_ref(
    body: str,
    pattern: re.Pattern[str],
    by_name: Mapping[str, Sequence[_Frontier]],
    caller_file: CppFile,
    caller: Definition,
) -> Optional[_Frontier]:
    """The first frontier function `body` (of `caller`) refers to, if any. A function of the
    caller's own file with the same full name hides one of another file."""
    own = {d.full_name for d in caller_file.definitions}
    for name, qualifier in _word_refs(body, pattern):
        for entry in by_name[name]:
            callee_file, callee, _chain = entry
            if callee_file.path != caller_file.path and (
                callee.internal or callee.full_name in own
            ):
                continue
            if _refers_to(qualifier, callee, caller.scope, caller_file.usings):
                return entry
    return None
