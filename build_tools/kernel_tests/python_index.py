"""The checkout's Python modules, read on first use, and what a dotted name resolves to: an
op, or a top-level function, class or method of a module of the checkout (through imports,
re-exports and aliases)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Optional

from build_tools.kernel_tests.python_cache import PythonFacts
from build_tools.kernel_tests.python_modules import (
    Dotted,
    Module,
    Node,
    Ref,
    Target,
    fill_def_refs,
)
from build_tools.kernel_tests.results import Op

Resolved = tuple[Target, int, bool]  # what a reference names, its line, whether it is called


class PythonIndex:
    """The checkout's Python modules, read on first use, and what dotted names resolve to."""

    def __init__(
        self, root: Path, ops: Collection[Op], facts: Optional[PythonFacts] = None
    ) -> None:
        self.root = root
        self.facts = facts or PythonFacts(root, None)
        self._modules: dict[str, Optional[Module]] = {}
        self._torch_ops = {(op.namespace, op.name): op for op in ops if not op.python_module}
        self._module_ops = {(op.namespace, op.name): op for op in ops if op.python_module}

    def module(self, dotted: str) -> Optional[Module]:
        """The checkout's module `dotted` (top-level bindings), None when there is none."""
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

    def load(self, path: str) -> Optional[Module]:
        """The file `path` (relative to the checkout) parsed once (see `PythonFacts`): its
        bindings and what its definitions reference, and every reference of a test file;
        None when it cannot be read or parsed."""
        return self.facts.get(path)

    def op_of(self, path: Dotted) -> Optional[Op]:
        """The op of ours an absolute dotted path names: `torch.ops.<ns>.<op>...`, or
        `<package>.<ns>.<op>` for a CPython extension's function."""
        if len(path) >= 4 and path[0] == "torch" and path[1] == "ops":
            return self._torch_ops.get((path[2], path[3]))
        if path and path[0] != "torch":
            for i in range(1, len(path) - 1):
                op = self._module_ops.get((path[i], path[i + 1]))
                if op is not None:
                    return op
        return None

    def bind(self, module: Module, chain: Dotted) -> Optional[Dotted]:
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

    def edges(self, node: Node) -> list[Resolved]:
        """What a top-level function or class references, resolved."""
        module = self.module(node[0])
        if module is None:
            return []
        if module.def_refs is None:
            source = self._read(module.path)
            module.def_refs = {}
            if source is not None:
                fill_def_refs(module, source)
        return self._resolved(module, module.def_refs.get(node[1], []))

    def _resolved(self, module: Module, refs: Iterable[Ref]) -> list[Resolved]:
        out: list[Resolved] = []
        for chain, line, called in refs:
            path = self.bind(module, chain)
            target = self.resolve(path) if path is not None else None
            if target is not None:
                out.append((target, line, called))
        return out

    def file_targets(self, module: Module) -> list[Resolved]:
        """Every reference of a file loaded whole (a test file), resolved."""
        return self._resolved(module, module.refs)
