"""The ops a checkout's C++ sources register, and the C++ function each registration names.

vLLM registers its ops in binding blocks: ``TORCH_LIBRARY[_EXPAND](ns, m) { m.def("name(...)
-> ()"); m.impl("name", torch::kCUDA, &function); }``, ``TORCH_LIBRARY_IMPL[_EXPAND](ns, CUDA,
m)``, ``TORCH_LIBRARY_FRAGMENT``, the stable ABI's ``STABLE_TORCH_LIBRARY[_IMPL|_FRAGMENT]``
(``m.impl("name", TORCH_BOX(&function))``) and ``m.def("name", &function)``; a plain CPython
extension such as the bundled example registers its functions in ``PyMethodDef`` tables
(``{"name", ns::function, METH_VARARGS, ...}``), pybind11 in ``PYBIND11_MODULE``. The
namespace argument is evaluated with ``TORCH_EXTENSION_NAME`` = the CMake target's name (vLLM's
``define_extension_target`` passes ``-DTORCH_EXTENSION_NAME=<target>``) and ``CONCAT(a, b)`` =
``ab``: ``CONCAT(TORCH_EXTENSION_NAME, _cache_ops)`` in target ``_C`` is ``_C_cache_ops``; a
literal (``STABLE_TORCH_LIBRARY_FRAGMENT(_C, ops)``) is itself. A ``PyMethodDef`` table's ops
are in the module its ``PyModuleDef`` names.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from build_tools.kernel_tests.cpp_definitions import CppFile, CppFiles, parse_cpp
from build_tools.kernel_tests.cpp_text import match_bracket, split_args
from build_tools.kernel_tests.results import Op

SourceTargets = Mapping[str, Union[str, Collection[str]]]
"""{source path -> CMake target name(s) that compile it}."""

_LIBRARY = re.compile(
    r"\b(?:STABLE_)?TORCH_LIBRARY(?P<kind>_FRAGMENT|_IMPL)?(?:_EXPAND)?\s*\("
    r"|\bPYBIND11_MODULE\s*\("
)
_LIBRARY_HINT = re.compile(r"TORCH_LIBRARY|PyMethodDef|PYBIND11_MODULE")
_METHOD_TABLE = re.compile(r"\bPyMethodDef\s+\w+\s*\[\s*\w*\s*\]\s*=\s*\{")
_METHOD_ENTRY = re.compile(
    r"\{\s*\"(?P<name>\w+)\"\s*,\s*(?:\(\s*PyCFunction\s*\)\s*)?(?:\(\s*void\s*\(\s*\*\s*\)\s*"
    r"\(\s*void\s*\)\s*\)\s*)?&?\s*(?P<fn>(?:::)?\w+(?:\s*::\s*\w+)*)"
)
_MODULE_NAME = re.compile(
    r"\bPyModuleDef\s+\w+\s*=\s*\{\s*PyModuleDef_HEAD_INIT\s*,\s*\"([\w.]+)\""
)
_STRING = re.compile(r'"((?:\\.|[^"\\\n])*)"')
_FUNCTION_REF = re.compile(r"&\s*((?:::\s*)?\w+(?:\s*::\s*\w+)*)")
_BARE_REF = re.compile(r"(?:::\s*)?\w+(?:\s*::\s*\w+)*")
_DISPATCH_KEY = re.compile(r"^(?:(?:torch|c10|at)\s*::\s*(?:DispatchKey\s*::\s*)?k?\w+|k[A-Z]\w*)$")


@dataclass(frozen=True)
class Registration:
    """An op registered in a binding file, with the C++ function it names, if any."""

    op: Op
    binding_file: str
    line: int
    function: Optional[str] = None  # as written: "rms_norm", "vllm::rms_norm"
    usings: tuple[str, ...] = ()  # the binding file's `using namespace` names
    scope: tuple[str, ...] = ()  # the namespaces around the registration block


def registration_order(reg: Registration) -> tuple[str, int, Op]:
    """Sort key: binding file, then line."""
    return (reg.binding_file, reg.line, reg.op)


def targets_of(value: Union[str, Collection[str]]) -> tuple[str, ...]:
    """A `SourceTargets` value as a sorted tuple of target names."""
    return (value,) if isinstance(value, str) else tuple(sorted(value))


def extension_name(target: str) -> str:
    """The TORCH_EXTENSION_NAME of a CMake target: vLLM's define_extension_target passes the
    target's name (`_C`, `_moe_C`, `_C_stable_libtorch`); a dotted name keeps its last part."""
    return target.rsplit(".", 1)[-1]


def namespace_of(expression: str, extension: str) -> str:
    """The namespace a TORCH_LIBRARY* first argument names: TORCH_EXTENSION_NAME is
    `extension`, CONCAT(a, b) / _CONCAT(a, b) join, anything else is a literal."""
    expression = expression.strip()
    m = re.fullmatch(r"_?CONCAT\s*\((.*)\)", expression, re.S)
    if m is not None:
        parts = split_args(m.group(1))
        return "".join(namespace_of(p, extension) for p in parts)
    if expression == "TORCH_EXTENSION_NAME":
        return extension
    return expression


def parse_registrations(text: str, binding_file: str, extension: str) -> list[Registration]:
    """Every op that C++ source `text` registers, with `extension` (the TORCH_EXTENSION_NAME
    of the target compiling it) as the value of TORCH_EXTENSION_NAME. In file order."""
    return _registrations(parse_cpp(binding_file, text), extension)


def collect_registrations(
    root: Path,
    source_targets: SourceTargets,
    extension_names: Optional[Mapping[str, str]] = None,
) -> list[Registration]:
    """Every op registered by the sources in `source_targets` ({source -> target(s)}), with
    TORCH_EXTENSION_NAME taken from `extension_names` ({target -> name}) or the target's
    name. Sorted by binding file, then line."""
    return registrations_in(CppFiles(root), source_targets, extension_names)


def registrations_in(
    files: CppFiles,
    source_targets: SourceTargets,
    extension_names: Optional[Mapping[str, str]],
) -> list[Registration]:
    """`collect_registrations` over files already read."""
    names = extension_names or {}
    found: set[Registration] = set()
    for source in sorted(source_targets):
        parsed = files.get(source)
        if parsed is None or not _LIBRARY_HINT.search(parsed.code):
            continue
        for target in targets_of(source_targets[source]):
            found.update(_registrations(parsed, names.get(target, extension_name(target))))
    return sorted(found, key=registration_order)


def _registrations(file: CppFile, extension: str) -> list[Registration]:
    usings = tuple("::".join(u) for u in file.usings)
    return [*_library_blocks(file, extension, usings), *_method_tables(file, extension, usings)]


def _library_blocks(
    file: CppFile, extension: str, usings: tuple[str, ...]
) -> Iterator[Registration]:
    """The `m.def` / `m.impl` calls of TORCH_LIBRARY* and PYBIND11_MODULE blocks."""
    bare = file.bare
    for block in _LIBRARY.finditer(bare):
        opened = _arguments(file, block.end() - 1)
        if opened is None:
            continue
        args, close = opened
        brace = re.match(r"\s*\{", bare[close + 1 :])
        if brace is None or len(args) < 2:
            continue
        body_start = close + brace.end()  # the block's `{`
        body_end = match_bracket(bare, body_start, "{}")
        if body_end < 0:
            continue
        pybind = block.group(0).startswith("PYBIND11")
        namespace = namespace_of(args[0], extension)
        scope = file.namespace_at(block.start())
        calls = re.compile(rf"\b{re.escape(args[-1])}\s*\.\s*(def|impl)\s*\(")
        for call in calls.finditer(bare, body_start, body_end):
            called = _arguments(file, call.end() - 1)
            if called is None:
                continue
            call_args = called[0]
            name = re.match(r"\s*([\w]+)", "".join(_STRING.findall(call_args[0])))
            if name is None:
                continue
            yield Registration(
                Op(namespace, name.group(1), python_module=pybind),
                file.path,
                file.lines.line(call.start()),
                _function_of(call_args[1:]),
                usings,
                scope,
            )


def _method_tables(
    file: CppFile, extension: str, usings: tuple[str, ...]
) -> Iterator[Registration]:
    """The entries of PyMethodDef tables, in the module the file's PyModuleDef names."""
    module = _MODULE_NAME.search(file.code)
    module_name = module.group(1).rsplit(".", 1)[-1] if module else extension
    for table in _METHOD_TABLE.finditer(file.bare):
        end = match_bracket(file.bare, table.end() - 1, "{}")
        for entry in _METHOD_ENTRY.finditer(file.code, table.end(), max(end, table.end())):
            yield Registration(
                Op(module_name, entry.group("name"), python_module=True),
                file.path,
                file.lines.line(entry.start()),
                re.sub(r"\s+", "", entry.group("fn")),
                usings,
                file.namespace_at(table.start()),
            )


def _arguments(file: CppFile, paren: int) -> Optional[tuple[list[str], int]]:
    """The arguments of the parenthesis at `paren`, and the offset of the one closing it;
    None when it is not closed."""
    close = match_bracket(file.bare, paren)
    if close < 0:
        return None
    return split_args(file.code[paren + 1 : close]), close


def _function_of(args: Sequence[str]) -> Optional[str]:
    """The C++ function an impl/def call names after its op name: the last `&f`, else a bare
    qualified name that is not a dispatch key."""
    refs = [m.group(1) for a in args for m in _FUNCTION_REF.finditer(a)]
    if refs:
        return re.sub(r"\s+", "", refs[-1])
    for a in reversed(args):
        if _BARE_REF.fullmatch(a) and not _DISPATCH_KEY.match(a.replace(" ", "")):
            return re.sub(r"\s+", "", a)
    return None
