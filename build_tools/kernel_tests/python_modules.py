"""Python files read with `ast`: what a module's top-level names are bound to (imports,
relative imports, aliases, functions, classes and their methods) and which dotted names its
code references, and whether it calls them."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Optional, Union

from build_tools.kernel_tests.results import Op

Dotted = tuple[str, ...]
Node = tuple[str, str]  # (module, top-level name)
Target = Union[Op, Node]
Ref = tuple[Dotted, int, bool]  # a dotted name as written, its line, whether it is called


@dataclass
class Module:
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
    def_refs: Optional[dict[str, list[Ref]]] = None
    refs: list[Ref] = field(default_factory=list)


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


def _walk_refs(nodes: Iterable[ast.AST]) -> tuple[list[Ref], list[ast.stmt]]:
    """Every name and maximal attribute chain read under `nodes` (also `getattr(x, "op")` /
    `hasattr(...)` as `x.op`), whether it is called, and the import statements met."""
    refs: list[Ref] = []
    imports: list[ast.stmt] = []
    stack = list(nodes)
    # Dispatch on the exact node type (ast's concrete classes have no subclasses): this walk
    # is most of the time a cold `test --list` spends in Python.
    attribute, name, call, constant = ast.Attribute, ast.Name, ast.Call, ast.Constant
    load, node_type = ast.Load, ast.AST
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is attribute:
            chain = _chain(node)  # type: ignore[arg-type]
            if chain is not None:
                refs.append((chain, node.lineno, False))  # type: ignore[attr-defined]
                continue
        elif kind is name:
            if type(node.ctx) is load:  # type: ignore[attr-defined]
                refs.append(((node.id,), node.lineno, False))  # type: ignore[attr-defined]
            continue
        elif kind is ast.Import or kind is ast.ImportFrom:
            imports.append(node)  # type: ignore[arg-type]
            continue
        elif kind is constant:
            continue
        elif kind is call:
            assert isinstance(node, ast.Call)
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
        for field_name in node._fields:
            value = getattr(node, field_name, None)
            if type(value) is list:
                stack.extend(v for v in value if isinstance(v, node_type))
            elif isinstance(value, node_type):
                stack.append(value)
    return refs, imports


def _bind_imports(module: Module, statements: Iterable[ast.stmt], override: bool) -> None:
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


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFS = (*_FUNCTIONS, ast.ClassDef)


def parse_module(
    source: str, path: str, whole_file: bool = False, *, with_defs: bool = False
) -> Module:
    """The top-level bindings of one Python file (`path` relative to the checkout); with
    `whole_file`, also every reference in it, imports anywhere bound; with `with_defs`, what
    its functions and classes reference too (`def_refs`), from the same parse."""
    name, package = _module_name(path)
    module = Module(name, package, path)
    tree = ast.parse(source, filename=path)
    top = list(_top_level(tree.body))
    _bind_imports(module, top, override=True)
    for stmt in top:
        if isinstance(stmt, _DEFS):
            module.names.add(stmt.name)
            if isinstance(stmt, ast.ClassDef):
                module.classes[stmt.name] = {f.name for f in stmt.body if isinstance(f, _FUNCTIONS)}
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
    if with_defs:
        _fill_def_refs(module, tree)
    return module


def fill_def_refs(module: Module, source: str) -> None:
    """What each top-level function, class (all of it) and method (as "Class.method") of
    `module` references; imports inside them are bound module-wide."""
    _fill_def_refs(module, ast.parse(source, filename=module.path))


def _fill_def_refs(module: Module, tree: ast.Module) -> None:
    module.def_refs = {}
    for stmt in _top_level(tree.body):
        if isinstance(stmt, _FUNCTIONS):
            refs, imports = _walk_refs(stmt.body)
        elif isinstance(stmt, ast.ClassDef):
            # Each method walked once: the class stands for its own statements and all of
            # its methods' references.
            refs, imports = _walk_refs(f for f in stmt.body if not isinstance(f, _FUNCTIONS))
            for method in stmt.body:
                if isinstance(method, _FUNCTIONS):
                    own, inner = _walk_refs(method.body)
                    module.def_refs.setdefault(f"{stmt.name}.{method.name}", []).extend(own)
                    refs += own
                    imports += inner
        else:
            continue
        _bind_imports(module, imports, override=False)
        module.def_refs.setdefault(stmt.name, []).extend(r for r in refs if r[0][0] != stmt.name)
