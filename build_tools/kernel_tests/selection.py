"""The whole chain: changed files -> ops -> test files, as one `Selection`."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional

from build_tools.kernel_tests.changed_ops import DEFAULT_MAX_CALL_DEPTH, ops_of
from build_tools.kernel_tests.cpp_definitions import CppFiles
from build_tools.kernel_tests.python_cache import ParallelMap, PythonFacts
from build_tools.kernel_tests.registrations import SourceTargets, registrations_in
from build_tools.kernel_tests.results import OpSource, Selection
from build_tools.kernel_tests.tests_of_ops import DEFAULT_MAX_WRAPPER_DEPTH, find_tests


def select_tests(
    root: Path,
    changed: Sequence[str],
    source_targets: SourceTargets,
    *,
    tests_dir: str = "tests",
    max_call_depth: int = DEFAULT_MAX_CALL_DEPTH,
    max_wrapper_depth: int = DEFAULT_MAX_WRAPPER_DEPTH,
    extension_names: Optional[Mapping[str, str]] = None,
    state_dir: Optional[Path] = None,
    parallel: Optional[ParallelMap] = None,
) -> Selection:
    """The whole chain: changed files (relative to `root`) -> ops -> test files. With
    `state_dir`, the Python files parsed are kept there and reused (python_cache.py), a cold
    index parsed with `parallel`."""
    files = CppFiles(root, state_dir)
    registrations = registrations_in(files, source_targets, extension_names)
    changed_files = tuple(sorted({_relative(root, c) for c in changed}))
    op_sources: list[OpSource] = []
    for path in changed_files:
        op_sources.extend(ops_of(files, path, source_targets, registrations, max_call_depth))
    ops = {s.op for s in op_sources}
    facts = PythonFacts(root, state_dir, tests_dir)
    if ops and state_dir is not None:
        facts.prefill([tests_dir, *_packages(root)], parallel)
    tests = find_tests(
        root, ops, tests_dir=tests_dir, max_wrapper_depth=max_wrapper_depth, facts=facts
    )
    facts.save()
    files.save()
    tested = {r.op for t in tests for r in t.reasons}
    return Selection(
        changed_files,
        tuple(sorted(op_sources)),
        tuple(tests),
        tuple(sorted(ops - tested)),
    )


def _packages(root: Path) -> list[str]:
    """The checkout's top-level Python packages (vLLM: vllm/), where wrappers live."""
    return sorted(p.parent.name for p in root.glob("*/__init__.py"))


def _relative(root: Path, path: str) -> str:
    """`path` relative to the checkout, with "/" (it may be absolute or start with "./")."""
    p = Path(path)
    if p.is_absolute():
        with contextlib.suppress(ValueError):  # outside the checkout: kept absolute
            p = p.relative_to(root)
    return p.as_posix()
