"""What a selection answers: ops, why an op belongs to a changed file, why a test file was
chosen, and the `Selection` itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


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
