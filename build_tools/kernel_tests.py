"""Which of a checkout's pytest tests exercise the kernels a developer changed.

The pure core of a future `vllm-build test`: it reads files and runs nothing. The chain:

1. **Changed source files -> ops** (C++, read as text). vLLM registers its ops in binding
   blocks: ``TORCH_LIBRARY[_EXPAND](ns, m) { m.def("name(...) -> ()"); m.impl("name",
   torch::kCUDA, &function); }``, ``TORCH_LIBRARY_IMPL[_EXPAND](ns, CUDA, m)``,
   ``TORCH_LIBRARY_FRAGMENT``, the stable ABI's ``STABLE_TORCH_LIBRARY[_IMPL|_FRAGMENT]``
   (``m.impl("name", TORCH_BOX(&function))``) and ``m.def("name", &function)``; a plain
   CPython extension such as the bundled example registers its functions in ``PyMethodDef``
   tables (``{"name", ns::function, METH_VARARGS, ...}``), pybind11 in ``PYBIND11_MODULE``.
   The namespace argument is evaluated with ``TORCH_EXTENSION_NAME`` = the CMake target's
   name (vLLM's ``define_extension_target`` passes ``-DTORCH_EXTENSION_NAME=<target>``) and
   ``CONCAT(a, b)`` = ``ab``: ``CONCAT(TORCH_EXTENSION_NAME, _cache_ops)`` in target ``_C``
   is ``_C_cache_ops``; a literal (``STABLE_TORCH_LIBRARY_FRAGMENT(_C, ops)``) is itself. A
   ``PyMethodDef`` table's ops are in the module its ``PyModuleDef`` names.

   An op belongs to a changed file when

   * the file registers it (it is a binding file), or
   * the C++ function its registration names is *defined* in the file (depth 0), or
   * that function reaches a function defined in the file through at most
     ``max_call_depth`` references (calls, kernel launches, ``&f``) in the bodies of
     functions of the same CMake target's sources (depth 1, 2, ...). A macro of the same
     file that a body invokes counts as part of the body.

   A definition is ``name(params) [const|noexcept|override|-> T] {`` at namespace scope,
   after a return type; comments, string contents and preprocessor lines are ignored.
   Names match as whole words and namespaces are respected: ``&ns::f`` means a function
   whose full name ends with ``ns::f``; an unqualified ``f`` one in the global namespace, in
   a namespace enclosing the reference, or in one the file opens with ``using namespace``.
   ``static`` functions and those in an anonymous namespace only match in their own file,
   and a file's own function hides a same-named one of another file. Not seen: class and
   struct members, constructors, operators, ALL_CAPS names, functions a macro defines.

2. **Ops -> tests** (Python, parsed with ``ast``). A test file (``test_*.py`` or
   ``*_test.py`` under the tests folder) is chosen when it names the op: ``torch.ops.<ns>.
   <op>`` (also ``.default`` or an overload, ``opcheck(torch.ops._C.x, ...)``,
   ``getattr(torch.ops._C, "x")``), for a CPython extension ``<package>.<ns>.<op>``
   (``from minivllm import _C`` ... ``_C.rms_norm``), or when it names a Python function
   that leads to a *call* of the op through at most ``max_wrapper_depth`` functions of the
   checkout, followed through imports, relative imports, re-exports and aliases: a test's
   ``ops.rms_norm`` (``vllm/_custom_ops.py``) is depth 1; ``fused_topk`` ->
   ``dispatch_topk_softmax_func`` -> ``vllm_topk_softmax`` -> ``ops.topk_softmax`` is depth 4.
   Two rules keep the wrappers honest: inside a wrapper only a call counts (a fusion pass
   that merely mentions ``torch.ops._C.rms_norm.default`` in a pattern does not run it), and
   a class stands for everything its methods reference only where a test names the class
   itself (``RMSNorm(...)``); ``Cls.method`` is that method, and a class met inside another
   wrapper is not followed. References through ``self``, locals or strings are not followed.

3. **The result** is a `Selection`: every test file chosen with its reasons (the op, the
   test's line that leads to it and the chain of wrappers), sorted by path; the ops each
   changed file maps to and why; the ops no test reaches; and, when nothing is chosen,
   `Selection.nothing_found` says whether no op was found or no test for the ops found.

Paths are relative to the checkout, with ``/``. The caller supplies which sources each CMake
target compiles, {source: target(s)} (in the product, from the CMake File API). Headers are
in no target: a changed header is matched against every target's sources.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

DEFAULT_MAX_CALL_DEPTH = 3
DEFAULT_MAX_WRAPPER_DEPTH = 4

SourceTargets = Mapping[str, Union[str, Collection[str]]]
"""{source path -> CMake target name(s) that compile it}."""


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Op:
    """One registered op: ``torch.ops.<namespace>.<name>``, or, for a CPython extension
    (``python_module``), the function ``<package>.<namespace>.<name>``."""

    namespace: str
    name: str
    python_module: bool = False

    def __str__(self) -> str:
        return self.spelled

    @property
    def spelled(self) -> str:
        """How Python code reaches it (a CPython extension's package left out)."""
        if self.python_module:
            return f"{self.namespace}.{self.name}"
        return f"torch.ops.{self.namespace}.{self.name}"


@dataclass(frozen=True)
class Registration:
    """An op registered in a binding file, with the C++ function it names, if any."""

    op: Op
    binding_file: str
    line: int
    function: Optional[str] = None  # as written: "rms_norm", "vllm::rms_norm"
    usings: tuple[str, ...] = ()  # the binding file's `using namespace` names
    scope: tuple[str, ...] = ()  # the namespaces around the registration block


@dataclass(frozen=True, order=True)
class OpSource:
    """Why an op belongs to a changed file. `depth` 0: registered or defined there; n: its
    function reaches one defined there through n references (`chain`, outermost first)."""

    changed_file: str
    op: Op
    depth: int
    how: str
    chain: tuple[str, ...] = ()


@dataclass(frozen=True, order=True)
class Reason:
    """Why a test file was chosen: line `line` of the test leads to `op` through `via`
    (qualified names of Python wrappers, outermost first; empty for a direct reference)."""

    depth: int
    op: Op
    line: int
    via: tuple[str, ...] = ()

    def __str__(self) -> str:
        if not self.via:
            return f"references {self.op.spelled} directly (line {self.line})"
        chain = " -> ".join((*self.via, self.op.spelled))
        return f"via wrapper {self.via[0]} (line {self.line}): {chain}"


@dataclass(frozen=True)
class SelectedTest:
    test_file: str
    reasons: tuple[Reason, ...]  # the shortest way to each op, shortest first

    @property
    def depth(self) -> int:
        return min(r.depth for r in self.reasons)


@dataclass(frozen=True)
class Selection:
    changed: tuple[str, ...]
    op_sources: tuple[OpSource, ...]
    tests: tuple[SelectedTest, ...]
    untested_ops: tuple[Op, ...] = ()

    @property
    def ops(self) -> tuple[Op, ...]:
        return tuple(sorted({s.op for s in self.op_sources}))

    @property
    def found(self) -> bool:
        return bool(self.tests)

    @property
    def nothing_found(self) -> Optional[str]:
        """None when tests were chosen, else why not, in one sentence."""
        if self.tests:
            return None
        files = ", ".join(self.changed) or "(none)"
        if not self.op_sources:
            return f"no op is registered by or implemented in the changed files ({files})"
        ops = ", ".join(str(op) for op in self.ops)
        return f"no test references the ops of the changed files ({ops})"

    def pairs(self) -> list[tuple[str, str]]:
        """(test file, reason) for every reason, in order."""
        return [(t.test_file, str(r)) for t in self.tests for r in t.reasons]


# --------------------------------------------------------------------------------------------
# C++ text
# --------------------------------------------------------------------------------------------

_LEXEMES = re.compile(
    r"""(?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z))
      | (?P<raw>R"(?P<delim>[^()\\\s"]{0,16})\(.*?\)(?P=delim)")
      | (?P<string>"(?:\\.|[^"\\\n])*")
      | (?P<char>(?<![\w'])'(?:\\.|[^'\\\n])+')""",
    re.S | re.X,
)
_PREPROCESSOR = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", re.M)
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)((?:[^\n]*\\\n)*[^\n]*)", re.M)
_USING_NAMESPACE = re.compile(r"\busing\s+namespace\s+((?:::)?\w+(?:\s*::\s*\w+)*)\s*;")
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


def _blank(match: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def _blank_literal(match: re.Match[str]) -> str:
    text = match.group(0)
    if match.group("comment"):
        return re.sub(r"[^\n]", " ", text)
    if match.group("raw"):
        return 'R"' + re.sub(r"[^\n]", " ", text[2:-1]) + '"'
    quote = text[0]
    return quote + " " * (len(text) - 2) + quote


def split_cpp(text: str) -> tuple[str, str]:
    """(code, bare): `code` has comments and preprocessor lines blanked; `bare` also has the
    contents of string and character literals blanked. Both keep every offset and newline."""
    no_comments = _LEXEMES.sub(lambda m: _blank(m) if m.group("comment") else m.group(0), text)
    code = _PREPROCESSOR.sub(_blank, no_comments)
    bare = _PREPROCESSOR.sub(_blank, _LEXEMES.sub(_blank_literal, text))
    return code, bare


class _Lines:
    def __init__(self, text: str) -> None:
        self._starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset)


def _match_paren(text: str, open_at: int, pair: str = "()") -> int:
    """Offset of the bracket closing the one at `open_at`, or -1."""
    depth = 0
    for i in range(open_at, len(text)):
        c = text[i]
        if c == pair[0]:
            depth += 1
        elif c == pair[1]:
            depth -= 1
            if depth == 0:
                return i
    return -1


def _match_paren_back(text: str, close_at: int, pair: str = "()") -> int:
    depth = 0
    for i in range(close_at, -1, -1):
        c = text[i]
        if c == pair[1]:
            depth += 1
        elif c == pair[0]:
            depth -= 1
            if depth == 0:
                return i
    return -1


def _split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments of an argument list's inside."""
    args, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            args.append(text[start:i])
            start = i + 1
    args.append(text[start:])
    return [a.strip() for a in args]


def _components(qualified: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in qualified.split("::") if part.strip())


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


def _function_header(header: str) -> Optional[tuple[str, tuple[str, ...], bool]]:
    """(name, qualifier, static) when `header` (the text before a `{`) ends a function
    definition's declarator, else None."""
    trailing = _TRAILING.search(header)
    head = header[: trailing.start()] if trailing else header
    head = head.rstrip()
    if not head.endswith(")"):
        return None
    opening = _match_paren_back(head, len(head) - 1)
    if opening <= 0:
        return None
    before = head[:opening].rstrip()
    if before.endswith(">"):  # an explicit specialization: f<float>(...)
        lt = _match_paren_back(before, len(before) - 1, "<>")
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
    qualifier = _components(m.group(1))
    if "operator" in before[m.start() :]:
        return None
    static = re.search(r"\bstatic\b", prefix) is not None
    return name, qualifier, static


_NAMESPACE_HEADER = re.compile(r"(?:^|[;}\s])(?:inline\s+)?namespace\s*((?:\w+\s*(?:::\s*)?)*)$")
_EXTERN_HEADER = re.compile(r"\bextern\s*\"\s*\"\s*$")
_CLASS_HEADER = re.compile(r"\b(?:class|struct|union|enum)\b")


def find_definitions(text: str) -> list[Definition]:
    """Every function defined at namespace scope in C++/CUDA source `text`, in file order."""
    _code, bare = split_cpp(text)
    return _definitions(bare, _Lines(text))[0]


_Span = tuple[int, int, tuple[str, ...]]  # a namespace block: its braces and its names


def _namespace_at(spans: Sequence[_Span], offset: int) -> tuple[str, ...]:
    """The named namespaces enclosing `offset`, outermost first."""
    return tuple(
        n for start, end, names in sorted(spans) if start < offset < end for n in names if n
    )


def _definitions(bare: str, lines: _Lines) -> tuple[list[Definition], list[_Span]]:
    """The functions defined at namespace scope, and the namespace blocks."""
    found: list[Definition] = []
    spans: list[_Span] = []
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
            names = _components(ns.group(1)) or ("",)
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


@dataclass
class _CppFile:
    path: str
    code: str
    bare: str
    lines: _Lines
    definitions: list[Definition]
    spans: list[_Span]
    usings: tuple[tuple[str, ...], ...]
    macros: dict[str, str]  # name -> replacement text (string contents blanked)


def _read_cpp(root: Path, path: str) -> Optional[_CppFile]:
    try:
        text = (root / path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    code, bare = split_cpp(text)
    lines = _Lines(text)
    no_strings = _LEXEMES.sub(_blank_literal, text)
    macros = {m.group(1): m.group(2) for m in _DEFINE.finditer(no_strings)}
    usings = tuple(_components(m.group(1)) for m in _USING_NAMESPACE.finditer(bare))
    definitions, spans = _definitions(bare, lines)
    return _CppFile(path, code, bare, lines, definitions, spans, usings, macros)


# --------------------------------------------------------------------------------------------
# Registrations
# --------------------------------------------------------------------------------------------

_LIBRARY = re.compile(
    r"\b(?:STABLE_)?TORCH_LIBRARY(?P<kind>_FRAGMENT|_IMPL)?(?:_EXPAND)?\s*\("
    r"|\bPYBIND11_MODULE\s*\("
)
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


def namespace_of(expression: str, extension: str) -> str:
    """The namespace a TORCH_LIBRARY* first argument names: TORCH_EXTENSION_NAME is
    `extension`, CONCAT(a, b) / _CONCAT(a, b) join, anything else is a literal."""
    expression = expression.strip()
    m = re.fullmatch(r"_?CONCAT\s*\((.*)\)", expression, re.S)
    if m is not None:
        parts = _split_args(m.group(1))
        return "".join(namespace_of(p, extension) for p in parts)
    if expression == "TORCH_EXTENSION_NAME":
        return extension
    return expression


def parse_registrations(text: str, binding_file: str, extension: str) -> list[Registration]:
    """Every op that C++ source `text` registers, with `extension` (the TORCH_EXTENSION_NAME
    of the target compiling it) as the value of TORCH_EXTENSION_NAME. In file order."""
    code, bare = split_cpp(text)
    lines = _Lines(text)
    spans = _definitions(bare, lines)[1]
    return _registrations(code, bare, lines, spans, binding_file, extension)


def _registrations(
    code: str,
    bare: str,
    lines: _Lines,
    spans: Sequence[_Span],
    binding_file: str,
    extension: str,
) -> list[Registration]:
    usings = tuple("::".join(_components(m.group(1))) for m in _USING_NAMESPACE.finditer(bare))
    found: list[Registration] = []
    for block in _LIBRARY.finditer(bare):
        open_at = block.end() - 1
        close = _match_paren(bare, open_at)
        if close < 0:
            continue
        args = _split_args(code[open_at + 1 : close])
        brace = re.match(r"\s*\{", bare[close + 1 :])
        if brace is None or len(args) < 2:
            continue
        body_start = close + 1 + brace.end() - 1
        body_end = _match_paren(bare, body_start, "{}")
        if body_end < 0:
            continue
        pybind = block.group(0).startswith("PYBIND11")
        namespace = namespace_of(args[0], extension)
        scope = _namespace_at(spans, block.start())
        var = args[-1]
        calls = re.compile(rf"\b{re.escape(var)}\s*\.\s*(def|impl)\s*\(")
        for call in calls.finditer(bare, body_start, body_end):
            paren = call.end() - 1
            end = _match_paren(bare, paren)
            if end < 0:
                continue
            call_args = _split_args(code[paren + 1 : end])
            first = "".join(_STRING.findall(call_args[0]))
            name = re.match(r"\s*([\w]+)", first)
            if name is None:
                continue
            function = _function_of(call_args[1:])
            found.append(
                Registration(
                    Op(namespace, name.group(1), python_module=pybind),
                    binding_file,
                    lines.line(call.start()),
                    function,
                    usings,
                    scope,
                )
            )
    module = _MODULE_NAME.search(code)
    module_name = module.group(1).rsplit(".", 1)[-1] if module else extension
    for table in _METHOD_TABLE.finditer(bare):
        end = _match_paren(bare, table.end() - 1, "{}")
        for entry in _METHOD_ENTRY.finditer(code, table.end(), max(end, table.end())):
            found.append(
                Registration(
                    Op(module_name, entry.group("name"), python_module=True),
                    binding_file,
                    lines.line(entry.start()),
                    re.sub(r"\s+", "", entry.group("fn")),
                    usings,
                    _namespace_at(spans, table.start()),
                )
            )
    return found


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


def extension_name(target: str) -> str:
    """The TORCH_EXTENSION_NAME of a CMake target: vLLM's define_extension_target passes the
    target's name (`_C`, `_moe_C`, `_C_stable_libtorch`); a dotted name keeps its last part."""
    return target.rsplit(".", 1)[-1]


def _targets(value: Union[str, Collection[str]]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(sorted(value))


# --------------------------------------------------------------------------------------------
# Changed files -> ops
# --------------------------------------------------------------------------------------------


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
    written = _components(reg.function)
    if not written or written[-1] != definition.name:
        return False
    qualifier = written[:-1]
    if reg.function.startswith("::"):
        qualifier = ("", *qualifier)
    usings = [_components(u) for u in reg.usings]
    return _refers_to(qualifier, definition, reg.scope, usings)


class _Tree:
    """Files of one checkout, each read and parsed once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cpp: dict[str, Optional[_CppFile]] = {}

    def cpp(self, path: str) -> Optional[_CppFile]:
        if path not in self._cpp:
            self._cpp[path] = _read_cpp(self.root, path)
        return self._cpp[path]


_LIBRARY_HINT = re.compile(r"TORCH_LIBRARY|PyMethodDef|PYBIND11_MODULE")


def collect_registrations(
    root: Path,
    source_targets: SourceTargets,
    extension_names: Optional[Mapping[str, str]] = None,
) -> list[Registration]:
    """Every op registered by the sources in `source_targets` ({source -> target(s)}), with
    TORCH_EXTENSION_NAME taken from `extension_names` ({target -> name}) or the target's
    name. Sorted by binding file, then line."""
    return _collect(_Tree(root), source_targets, extension_names)


def _collect(
    tree: _Tree, source_targets: SourceTargets, extension_names: Optional[Mapping[str, str]]
) -> list[Registration]:
    names = extension_names or {}
    found: set[Registration] = set()
    for source in sorted(source_targets):
        parsed = tree.cpp(source)
        if parsed is None or not _LIBRARY_HINT.search(parsed.code):
            continue
        for target in _targets(source_targets[source]):
            ext = names.get(target, extension_name(target))
            found.update(
                _registrations(parsed.code, parsed.bare, parsed.lines, parsed.spans, source, ext)
            )
    return sorted(found, key=lambda r: (r.binding_file, r.line, r.op))


def _registrations_by_target(
    registrations: Sequence[Registration], source_targets: SourceTargets
) -> dict[str, list[Registration]]:
    by_target: dict[str, list[Registration]] = {}
    for reg in registrations:
        for target in _targets(source_targets.get(reg.binding_file, ())):
            by_target.setdefault(target, []).append(reg)
    return by_target


def _names_pattern(names: Iterable[str]) -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(names)) + r")\b")


_QUALIFIER_BEFORE = re.compile(r"((?:::\s*)?(?:\w+\s*::\s*)*)$")


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
        qualifier = _components(written)
        if written.startswith("::"):
            qualifier = ("", *qualifier)
        yield m.group(1), qualifier


def _expanded_body(file: _CppFile, definition: Definition) -> str:
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


_Frontier = tuple[_CppFile, Definition, tuple[str, ...]]  # a function, and how it was reached


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
    tree = _Tree(root)
    if registrations is None:
        registrations = _collect(tree, source_targets, extension_names)
    return _ops_of(tree, changed, source_targets, registrations, max_call_depth)


def _ops_of(
    tree: _Tree,
    changed: str,
    source_targets: SourceTargets,
    registrations: Sequence[Registration],
    max_call_depth: int,
) -> list[OpSource]:
    best: dict[Op, OpSource] = {}

    def note(source: OpSource) -> None:
        old = best.get(source.op)
        if old is None or (source.depth, source.how) < (old.depth, old.how):
            best[source.op] = source

    for reg in registrations:
        if reg.binding_file == changed:
            note(OpSource(changed, reg.op, 0, f"registered here (line {reg.line})"))
    file = tree.cpp(changed)
    if file is None:
        return sorted(best.values())
    targets = _targets(source_targets.get(changed, ()))
    if targets:
        by_target = _registrations_by_target(registrations, source_targets)
        candidates = sorted({r for t in targets for r in by_target.get(t, [])}, key=_reg_key)
        sources = sorted(s for s, ts in source_targets.items() if set(_targets(ts)) & set(targets))
    else:  # a header, or a file no target lists: every target may include it
        candidates = sorted(registrations, key=_reg_key)
        sources = sorted(source_targets)
    impls: dict[str, list[Registration]] = {}
    for reg in candidates:
        if reg.function:
            impls.setdefault(_components(reg.function)[-1], []).append(reg)

    # Depth 0: the function an impl names is defined in the changed file.
    frontier: list[_Frontier] = []
    for d in file.definitions:
        for reg in impls.get(d.name, []):
            if _impl_matches(reg, d, reg.binding_file == changed):
                note(
                    OpSource(
                        changed,
                        reg.op,
                        0,
                        f"{'::'.join(d.full_name)} is defined here (line {d.line}) and "
                        f"registered in {reg.binding_file}:{reg.line}",
                    )
                )
        frontier.append((file, d, (f"{'::'.join(d.full_name)} ({changed}:{d.line})",)))

    # Depth n: a function of the target's sources refers to a function of depth n - 1.
    seen = {(file.path, d.body) for _, d, _ in frontier}
    for depth in range(1, max_call_depth + 1):
        if not frontier:
            break
        by_name: dict[str, list[_Frontier]] = {}
        for entry in frontier:
            by_name.setdefault(entry[1].name, []).append(entry)
        pattern = _names_pattern(by_name)
        next_frontier: list[_Frontier] = []
        for source in sources:
            caller_file = tree.cpp(source)
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
                here = f"{'::'.join(caller.full_name)} ({source}:{caller.line})"
                chain = (here, *hit[2])
                next_frontier.append((caller_file, caller, chain))
                for reg in impls.get(caller.name, []):
                    if _impl_matches(reg, caller, reg.binding_file == source):
                        note(
                            OpSource(
                                changed,
                                reg.op,
                                depth,
                                f"{here}, registered in {reg.binding_file}:{reg.line}, "
                                f"reaches {' -> '.join(chain[1:])}",
                                chain,
                            )
                        )
        frontier = next_frontier
    return sorted(best.values())


def _reg_key(reg: Registration) -> tuple[str, int, Op]:
    return (reg.binding_file, reg.line, reg.op)


def _first_ref(
    body: str,
    pattern: re.Pattern[str],
    by_name: Mapping[str, Sequence[_Frontier]],
    caller_file: _CppFile,
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


# --------------------------------------------------------------------------------------------
# Python: ops -> tests
# --------------------------------------------------------------------------------------------

Dotted = tuple[str, ...]
Node = tuple[str, str]  # (module, top-level name)
Target = Union[Op, Node]
_Ref = tuple[Dotted, int, bool]  # a dotted name as written, its line, whether it is called


@dataclass
class _Module:
    """One Python file: what its top-level names are bound to; what its top-level functions
    and classes reference (`def_refs`, filled on first use); for a test file, every reference
    in it (`refs`)."""

    name: str
    package: str
    path: str
    imports: dict[str, Dotted] = field(default_factory=dict)
    aliases: dict[str, Dotted] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    classes: dict[str, set[str]] = field(default_factory=dict)  # class -> its methods
    def_refs: Optional[dict[str, list[_Ref]]] = None
    refs: list[_Ref] = field(default_factory=list)


def _chain(node: ast.expr) -> Optional[Dotted]:
    """`a.b.c` as ("a", "b", "c"), or None when it is not a plain name chain."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return tuple(reversed(parts))
    return None


def _walk_refs(nodes: Iterable[ast.AST]) -> tuple[list[_Ref], list[ast.stmt]]:
    """Every name and maximal attribute chain read under `nodes` (also `getattr(x, "op")` /
    `hasattr(...)` as `x.op`), whether it is called, and the import statements met."""
    refs: list[_Ref] = []
    imports: list[ast.stmt] = []
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Attribute):
            chain = _chain(node)
            if chain is not None:
                refs.append((chain, node.lineno, False))
                continue
        elif isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                refs.append(((node.id,), node.lineno, False))
            continue
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(node)
            continue
        elif isinstance(node, ast.Constant):
            continue
        elif isinstance(node, ast.Call):
            called = _chain(node.func)
            if called is not None:
                refs.append((called, node.lineno, True))
                stack.extend(node.args)
                stack.extend(node.keywords)
                if (
                    called in (("getattr",), ("hasattr",))
                    and len(node.args) >= 2
                    and isinstance(node.args[1], ast.Constant)
                    and isinstance(node.args[1].value, str)
                ):
                    chain = _chain(node.args[0])
                    if chain is not None:
                        refs.append(((*chain, node.args[1].value), node.lineno, False))
                continue
        stack.extend(ast.iter_child_nodes(node))
    return refs, imports


def _bind_imports(module: _Module, statements: Iterable[ast.stmt], override: bool) -> None:
    for node in statements:
        bound: list[tuple[str, Dotted]] = []
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound.append((alias.asname, tuple(alias.name.split("."))))
                else:
                    first = alias.name.split(".")[0]
                    bound.append((first, (first,)))
        elif isinstance(node, ast.ImportFrom):
            base: list[str] = []
            if node.level:
                base = module.package.split(".") if module.package else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            base += node.module.split(".") if node.module else []
            bound += [(a.asname or a.name, (*base, a.name)) for a in node.names if a.name != "*"]
        for name, path in bound:
            if override:
                module.imports[name] = path
            else:
                module.imports.setdefault(name, path)


def _module_name(path: str) -> tuple[str, str]:
    """(module, package) of a .py path relative to the checkout."""
    parts = path[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def _top_level(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, looking inside if/try/with blocks."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield from _top_level(stmt.body)
            yield from _top_level(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            yield from _top_level(stmt.body)
            for handler in stmt.handlers:
                yield from _top_level(handler.body)
            yield from _top_level(stmt.orelse)
            yield from _top_level(stmt.finalbody)
        elif isinstance(stmt, ast.With):
            yield from _top_level(stmt.body)
        else:
            yield stmt


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _parse_module(source: str, path: str, whole_file: bool = False) -> _Module:
    """The top-level bindings of one Python file (`path` relative to the checkout); with
    `whole_file`, also every reference in it, imports anywhere bound."""
    name, package = _module_name(path)
    module = _Module(name, package, path)
    tree = ast.parse(source, filename=path)
    top = list(_top_level(tree.body))
    _bind_imports(module, top, override=True)
    for stmt in top:
        if isinstance(stmt, _DEFS):
            module.names.add(stmt.name)
            if isinstance(stmt, ast.ClassDef):
                module.classes[stmt.name] = {
                    f.name
                    for f in stmt.body
                    if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                }
        elif (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            chain = _chain(stmt.value)
            if chain is not None:
                module.aliases[stmt.targets[0].id] = chain
    if whole_file:
        module.refs, imports = _walk_refs([tree])
        _bind_imports(module, imports, override=False)
    return module


def _fill_def_refs(module: _Module, source: str) -> None:
    """What each top-level function, class (all of it) and method (as "Class.method") of
    `module` references; imports inside them are bound module-wide."""
    module.def_refs = {}
    tree = ast.parse(source, filename=module.path)
    for stmt in _top_level(tree.body):
        if isinstance(stmt, _DEFS):
            refs, imports = _walk_refs(stmt.body)
            _bind_imports(module, imports, override=False)
            module.def_refs.setdefault(stmt.name, []).extend(
                r for r in refs if r[0][0] != stmt.name
            )
        if isinstance(stmt, ast.ClassDef):
            for method in stmt.body:
                if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    refs, _imports = _walk_refs(method.body)
                    module.def_refs.setdefault(f"{stmt.name}.{method.name}", []).extend(refs)


class _PythonIndex:
    """The checkout's Python modules, read on first use, and what dotted names resolve to."""

    def __init__(self, root: Path, ops: Collection[Op]) -> None:
        self.root = root
        self._modules: dict[str, Optional[_Module]] = {}
        self._torch_ops = {(op.namespace, op.name): op for op in ops if not op.python_module}
        self._module_ops = {(op.namespace, op.name): op for op in ops if op.python_module}

    def module(self, dotted: str) -> Optional[_Module]:
        if dotted not in self._modules:
            self._modules[dotted] = None
            rel = dotted.replace(".", "/")
            for candidate in (f"{rel}.py", f"{rel}/__init__.py"):
                if (self.root / candidate).is_file():
                    self._modules[dotted] = self.load(candidate)
                    break
        return self._modules[dotted]

    def _read(self, path: str) -> Optional[str]:
        try:
            return (self.root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def load(self, path: str, whole_file: bool = False) -> Optional[_Module]:
        source = self._read(path)
        if source is None:
            return None
        try:
            return _parse_module(source, path, whole_file)
        except (SyntaxError, ValueError):
            return None

    def op_of(self, path: Dotted) -> Optional[Op]:
        if len(path) >= 4 and path[0] == "torch" and path[1] == "ops":
            return self._torch_ops.get((path[2], path[3]))
        if path and path[0] != "torch":
            for i in range(1, len(path) - 1):
                op = self._module_ops.get((path[i], path[i + 1]))
                if op is not None:
                    return op
        return None

    def bind(self, module: _Module, chain: Dotted) -> Optional[Dotted]:
        """A name chain written in `module` as an absolute dotted path (None for a name the
        module does not bind: a local, a builtin)."""
        head = chain[0]
        if head in module.names or head in module.aliases:
            return (*module.name.split("."), *chain)
        if head in module.imports:
            return (*module.imports[head], *chain[1:])
        return None

    def resolve(self, path: Dotted, hops: int = 0) -> Optional[Target]:
        """What an absolute dotted path names: an op, a top-level function or class of a
        module of the checkout (re-exports and aliases followed), or None."""
        op = self.op_of(path)
        if op is not None or hops > 8 or path[:1] == ("torch",):
            return op
        for k in range(len(path) - 1, 0, -1):
            module = self.module(".".join(path[:k]))
            if module is None:
                continue
            name, rest = path[k], path[k + 1 :]
            if name in module.names:
                if rest and rest[0] in module.classes.get(name, ()):
                    return (module.name, f"{name}.{rest[0]}")
                return (module.name, name)
            if name in module.aliases:
                target = self.bind(module, module.aliases[name])
                return self.resolve((*target, *rest), hops + 1) if target else None
            if name in module.imports:
                return self.resolve((*module.imports[name], *rest), hops + 1)
            return None
        return None

    def is_class(self, node: Node) -> bool:
        module = self.module(node[0])
        return module is not None and node[1] in module.classes

    def edges(self, node: Node) -> list[tuple[Target, int, bool]]:
        """What a top-level function or class references, resolved."""
        module = self.module(node[0])
        if module is None:
            return []
        if module.def_refs is None:
            source = self._read(module.path)
            module.def_refs = {}
            if source is not None:
                _fill_def_refs(module, source)
        return self._resolved(module, module.def_refs.get(node[1], []))

    def _resolved(self, module: _Module, refs: Iterable[_Ref]) -> list[tuple[Target, int, bool]]:
        out: list[tuple[Target, int, bool]] = []
        for chain, line, called in refs:
            path = self.bind(module, chain)
            target = self.resolve(path) if path is not None else None
            if target is not None:
                out.append((target, line, called))
        return out

    def file_targets(self, module: _Module) -> list[tuple[Target, int, bool]]:
        return self._resolved(module, module.refs)


def _is_test_file(name: str) -> bool:
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def find_tests(
    root: Path,
    ops: Collection[Op],
    *,
    tests_dir: str = "tests",
    max_wrapper_depth: int = DEFAULT_MAX_WRAPPER_DEPTH,
) -> list[SelectedTest]:
    """The test files under `tests_dir` that reference any of `ops` (see the module's
    docstring), sorted by path, each with its shortest reason per op."""
    if not ops:
        return []
    index = _PythonIndex(root, ops)
    files = sorted(
        p.relative_to(root).as_posix()
        for p in (root / tests_dir).rglob("*.py")
        if _is_test_file(p.name) and "__pycache__" not in p.parts
    )

    # What every test file refers to; then every function or class those lead to within
    # max_wrapper_depth levels (breadth first, each parsed once).
    refs: dict[str, list[tuple[Target, int, bool]]] = {}
    level: dict[Node, int] = {}
    queue: deque[Node] = deque()
    for path in files:
        module = index.load(path, whole_file=True)
        if module is None:
            continue
        refs[path] = index.file_targets(module)
        for target, _line, _called in refs[path]:
            if not isinstance(target, Op) and target[0] != module.name and target not in level:
                level[target] = 1
                queue.append(target)
    callers: dict[Node, set[Node]] = {}
    direct: dict[Op, set[Node]] = {}
    while queue and max_wrapper_depth > 0:
        node = queue.popleft()
        for target, _line, called in index.edges(node):
            if isinstance(target, Op):
                if called:  # a wrapper calls the op; a mention (a pattern to match) is not one
                    direct.setdefault(target, set()).add(node)
                continue
            if index.is_class(target):  # only a test's own use of a class is followed
                continue
            callers.setdefault(target, set()).add(node)
            if target not in level and level[node] < max_wrapper_depth:
                level[target] = level[node] + 1
                queue.append(target)

    # Backwards from each op: the shortest chain of wrappers from each node to it.
    chains: dict[Op, dict[Node, tuple[str, ...]]] = {}
    for op in sorted(direct):
        known: dict[Node, tuple[str, ...]] = {n: (_dotted(n),) for n in direct[op]}
        newest = dict(known)
        for _depth in range(2, max_wrapper_depth + 1):
            found: dict[Node, tuple[str, ...]] = {}
            for node in sorted(newest):
                for caller in callers.get(node, ()):
                    if caller in known:
                        continue
                    via = (_dotted(caller), *newest[node])
                    if caller not in found or via < found[caller]:
                        found[caller] = via
            if not found:
                break
            known.update(found)
            newest = found
        chains[op] = known

    selected: list[SelectedTest] = []
    for path in files:
        best: dict[Op, Reason] = {}
        for target, line, _called in refs.get(path, []):
            if isinstance(target, Op):
                candidates = [Reason(0, target, line)]
            else:
                candidates = [
                    Reason(len(c[target]), op, line, c[target])
                    for op, c in chains.items()
                    if target in c
                ]
            for reason in candidates:
                old = best.get(reason.op)
                if old is None or (reason.depth, reason.line, reason.via) < (
                    old.depth,
                    old.line,
                    old.via,
                ):
                    best[reason.op] = reason
        if best:
            selected.append(SelectedTest(path, tuple(sorted(best.values()))))
    return selected


def _dotted(node: Node) -> str:
    return f"{node[0]}.{node[1]}"


def _relative(root: Path, path: str) -> str:
    """`path` relative to the checkout, with "/" (it may be absolute or start with "./")."""
    p = Path(path)
    if p.is_absolute():
        try:
            p = p.relative_to(root)
        except ValueError:
            return p.as_posix()
    return p.as_posix()


def select_tests(
    root: Path,
    changed: Sequence[str],
    source_targets: SourceTargets,
    *,
    tests_dir: str = "tests",
    max_call_depth: int = DEFAULT_MAX_CALL_DEPTH,
    max_wrapper_depth: int = DEFAULT_MAX_WRAPPER_DEPTH,
    extension_names: Optional[Mapping[str, str]] = None,
) -> Selection:
    """The whole chain: changed files (relative to `root`) -> ops -> test files."""
    tree = _Tree(root)
    registrations = _collect(tree, source_targets, extension_names)
    changed_files = tuple(sorted({_relative(root, c) for c in changed}))
    op_sources: list[OpSource] = []
    for path in changed_files:
        op_sources.extend(_ops_of(tree, path, source_targets, registrations, max_call_depth))
    ops = {s.op for s in op_sources}
    tests = find_tests(root, ops, tests_dir=tests_dir, max_wrapper_depth=max_wrapper_depth)
    tested = {r.op for t in tests for r in t.reasons}
    return Selection(
        changed_files,
        tuple(sorted(op_sources)),
        tuple(tests),
        tuple(sorted(ops - tested)),
    )
