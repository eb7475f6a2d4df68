"""Ops -> the test files that exercise them, parsed with `ast`.

A test file (``test_*.py`` or ``*_test.py`` under the tests folder) is chosen when it names
the op: ``torch.ops.<ns>.<op>`` (also ``.default`` or an overload, ``opcheck(torch.ops._C.x,
...)``, ``getattr(torch.ops._C, "x")``), for a CPython extension ``<package>.<ns>.<op>``
(``from minivllm import _C`` ... ``_C.rms_norm``), or when it names a Python function that
leads to a *call* of the op through at most ``max_wrapper_depth`` functions of the checkout,
followed through imports, relative imports, re-exports and aliases: a test's
``ops.rms_norm`` (``vllm/_custom_ops.py``) is depth 1; ``fused_topk`` ->
``dispatch_topk_softmax_func`` -> ``vllm_topk_softmax`` -> ``ops.topk_softmax`` is depth 4.
Two rules keep the wrappers honest: inside a wrapper only a call counts (a fusion pass that
merely mentions ``torch.ops._C.rms_norm.default`` in a pattern does not run it), and a class
stands for everything its methods reference only where a test names the class itself
(``RMSNorm(...)``); ``Cls.method`` is that method, and a class met inside another wrapper is
not followed. References through ``self``, locals or strings are not followed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Optional

from build_tools.kernel_tests.python_cache import PythonFacts
from build_tools.kernel_tests.python_index import PythonIndex, Resolved
from build_tools.kernel_tests.python_modules import Node
from build_tools.kernel_tests.results import Op, Reason, SelectedTest

DEFAULT_MAX_WRAPPER_DEPTH = 4


def find_tests(
    root: Path,
    ops: Collection[Op],
    *,
    tests_dir: str = "tests",
    max_wrapper_depth: int = DEFAULT_MAX_WRAPPER_DEPTH,
    facts: Optional[PythonFacts] = None,
) -> list[SelectedTest]:
    """The test files under `tests_dir` that reference any of `ops` (see the module's
    docstring), sorted by path, each with its shortest reason per op."""
    if not ops:
        return []
    index = PythonIndex(root, ops, facts or PythonFacts(root, None, tests_dir))
    files = sorted(
        p.relative_to(root).as_posix()
        for p in (root / tests_dir).rglob("*.py")
        if _is_test_file(p.name) and "__pycache__" not in p.parts
    )
    refs: dict[str, list[Resolved]] = {}
    wrappers: list[Node] = []  # what the test files use from other modules
    for path in files:
        module = index.load(path)
        if module is None:
            continue
        refs[path] = index.file_targets(module)
        wrappers.extend(
            t for t, _line, _called in refs[path] if not isinstance(t, Op) and t[0] != module.name
        )
    direct, callers = _wrapper_graph(index, wrappers, max_wrapper_depth)
    chains = _chains_to_ops(direct, callers, max_wrapper_depth)
    selected: list[SelectedTest] = []
    for path in files:
        reasons = _best_reasons(refs.get(path, []), chains)
        if reasons:
            selected.append(SelectedTest(path, reasons))
    return selected


def _is_test_file(name: str) -> bool:
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _wrapper_graph(
    index: PythonIndex, wrappers: Iterable[Node], max_wrapper_depth: int
) -> tuple[dict[Op, set[Node]], dict[Node, set[Node]]]:
    """({op: the wrappers that call it}, {wrapper: its callers}) over every function or class
    `wrappers` lead to within `max_wrapper_depth` levels (breadth first, each parsed once)."""
    level: dict[Node, int] = {}
    queue: deque[Node] = deque()
    for node in wrappers:
        if node not in level:
            level[node] = 1
            queue.append(node)
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
    return direct, callers


def _chains_to_ops(
    direct: Mapping[Op, set[Node]], callers: Mapping[Node, set[Node]], max_wrapper_depth: int
) -> dict[Op, dict[Node, tuple[str, ...]]]:
    """Backwards from each op: the shortest chain of wrappers from each node to it."""
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
    return chains


def _best_reasons(
    refs: Iterable[Resolved], chains: Mapping[Op, Mapping[Node, tuple[str, ...]]]
) -> tuple[Reason, ...]:
    """The shortest way from a test file's references to each op, shortest first."""
    best: dict[Op, Reason] = {}
    for target, line, _called in refs:
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
            if old is None or reason < old:
                best[reason.op] = reason
    return tuple(sorted(best.values()))


def _dotted(node: Node) -> str:
    return f"{node[0]}.{node[1]}"
