"""The load check without loading: every strong undefined symbol of an extension must be
defined by a library the loader would have in the process (what the interpreter and `import
torch` loaded, and the extension's own DT_NEEDED closure), and every library it needs must be
found. Used where loading is impossible (no GPU driver: libcuda.so.1 is missing), and said so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from build_tools.loading import elf
from build_tools.loading.search import DRIVER, DRIVER_SYMBOL, Search


@dataclass(frozen=True)
class Unresolved:
    """What keeps a library from loading: a symbol nothing defines, or a library not found."""

    library: Path  # the extension checked
    symbol: str = ""  # mangled, as the loader would name it
    missing: str = ""  # a soname the loader would not find
    needed_by: str = ""  # the library that needs `missing` (the extension or one it needs)


@dataclass(frozen=True)
class StaticResult:
    library: Path
    unresolved: tuple[Unresolved, ...]
    driver_missing: tuple[str, ...]  # the driver's libraries it needs, absent here
    symbols: int  # undefined symbols checked
    providers: int  # libraries they were looked for in
    unchecked: int  # symbols left to a missing driver library

    @property
    def ok(self) -> bool:
        return not self.unresolved


def check(path: Path, search: Search, preloaded: Sequence[elf.Library]) -> StaticResult:
    """Whether `path` would load into a process that has `preloaded` (search.preload's)."""
    library = search.library(path)
    if library is None:
        problem = Unresolved(path, missing="(not a 64-bit ELF library this check reads)")
        return StaticResult(path, (problem,), (), 0, 0, 0)
    providers = {lib.path.resolve(): lib for lib in preloaded}
    own: list[elf.Library] = [library]
    unresolved: list[Unresolved] = []
    driver: list[str] = []
    for needing, soname, found in search.closure([library]):
        if found is None:
            if DRIVER.match(soname):
                driver.append(soname)
            else:
                where = needing.path.name
                unresolved.append(Unresolved(path, missing=soname, needed_by=where))
            continue
        dependency = search.library(found)
        if dependency is not None and found.resolve() not in providers:
            providers[found.resolve()] = dependency
            if not _system(found, search):
                own.append(dependency)  # shipped with it: its symbols must resolve too
    providers[library.path.resolve()] = library
    everything = list(providers.values())
    symbols = unchecked = 0
    for checked in own:
        for name in checked.undefined:
            symbols += 1
            if any(p.exports(name) for p in everything):
                continue
            if driver and DRIVER_SYMBOL.match(name):
                unchecked += 1
                continue
            unresolved.append(Unresolved(path, symbol=name, needed_by=checked.path.name))
    return StaticResult(
        path, tuple(unresolved), tuple(dict.fromkeys(driver)), symbols, len(everything), unchecked
    )


def _system(path: Path, search: Search) -> bool:
    parent = str(path.parent)
    return parent in search.system
