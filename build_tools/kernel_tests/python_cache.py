"""The checkout's Python files parsed once and kept (the warm index of `test --list`): each
file's bindings, what its functions and classes reference and, for a test file, every
reference in it — from one parse, kept per file by file_cache.py. A cold index parses the
tests folder and the checkout's packages on every CPU at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Optional

from build_tools.kernel_tests.file_cache import FileCache, Kept, digest_of
from build_tools.kernel_tests.python_modules import Module, Ref, parse_module

VERSION = 2  # of what is kept; another version is parsed afresh
NAME = "kernel-tests-python.pickle"
SKIPPED = {"__pycache__", ".venv", ".deps", ".git", "build", "node_modules"}
# Runs `function` over the items in worker processes (process/runner.py's `in_processes`).
ParallelMap = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]


def is_test_file(name: str) -> bool:
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def parse(data: bytes, path: str, whole: bool) -> Optional[Module]:
    """One file's facts from one parse; references kept once per name (the first line)."""
    try:
        # A test file's own definitions are rarely another test's wrappers: theirs are
        # found on first use (python_index.edges), not walked for every test file.
        module = parse_module(data.decode("utf-8"), path, whole, with_defs=not whole)
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return None
    # Only a name the module binds can resolve (python_index.bind): locals and builtins,
    # most of what a walk meets, are not kept.
    bound = module.names | module.aliases.keys() | module.imports.keys()
    module.refs = _first_lines(r for r in module.refs if r[0][0] in bound)
    if module.def_refs is not None:
        module.def_refs = {
            k: _first_lines(r for r in v if r[0][0] in bound) for k, v in module.def_refs.items()
        }
    return module


def parse_file(item: tuple[str, str, bool]) -> tuple[str, Optional[Kept[Module]]]:
    """(path, what to keep of it) for (checkout root, path relative to it, whole file?): a
    worker's job."""
    root, path, whole = item
    try:
        full = Path(root) / path
        info, data = os.stat(full), full.read_bytes()
    except OSError:
        return path, None
    return path, Kept(info.st_size, info.st_mtime_ns, digest_of(data), parse(data, path, whole))


def _first_lines(refs: Iterable[Ref]) -> list[Ref]:
    """One reference per (name, called): the first line (a reason names the earliest)."""
    first: dict[tuple[tuple[str, ...], bool], int] = {}
    for chain, line, called in refs:
        key = (chain, called)
        if key not in first or line < first[key]:
            first[key] = line
    return [(chain, line, called) for (chain, called), line in first.items()]


class PythonFacts:
    """Parsed Python files of one checkout, kept in `state_dir` (None: in memory only)."""

    def __init__(self, root: Path, state_dir: Optional[Path], tests_dir: str = "tests") -> None:
        self.root = root
        self.tests_dir = tests_dir.strip("/") + "/"
        self.cache: FileCache[Module] = FileCache(
            root, state_dir / NAME if state_dir else None, VERSION
        )

    def whole(self, path: str) -> bool:
        return path.startswith(self.tests_dir) and is_test_file(path.rsplit("/", 1)[-1])

    def get(self, path: str) -> Optional[Module]:
        """The file parsed (None when it is missing or does not parse)."""
        return self.cache.get(path, lambda data, p: parse(data, p, self.whole(p)))

    def prefill(self, folders: Sequence[str], parallel: Optional[ParallelMap]) -> None:
        """Parse every file of `folders` the index lacks or holds stale, on every CPU."""
        stale = []
        for folder in folders:
            for full in sorted((self.root / folder).rglob("*.py")):
                if SKIPPED & set(full.parts):
                    continue
                path = full.relative_to(self.root).as_posix()
                try:
                    if not self.cache.fresh(path, full.stat()):
                        stale.append(path)
                except OSError:
                    continue
        if len(stale) < 64 or parallel is None:
            for path in stale:
                self.get(path)
            return
        items = [(str(self.root), p, self.whole(p)) for p in stale]
        for path, kept in parallel(parse_file, items):
            if kept is not None:
                old = self.cache.kept.get(path)
                self.cache.parsed += old is None or old.digest != kept.digest
                self.cache.put(path, kept)

    def save(self) -> None:
        self.cache.save()
