"""The answer `affected.py` gives, and what it asks: why a target is affected (`Reason` and its
kinds), the answer (`Affected`), and what it asks of the units (`UnitSource`: cmake/unit_deps.py's
`UnitDeps`, or a fake in tests)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Optional, Protocol

from build_tools.cmake.unit_deps import Files, Graph, Unit

COMPILES = "compiles"  # the unit compiles the changed file
INCLUDES = "includes"  # the unit's source includes it (directly or not)
UNSCANNABLE = "unscannable"  # the unit's dependency scan failed (e.g. a deleted header)
LINKS = "links"  # the target's link edge reads an affected target's artifact
GENERATES = "generates"  # a custom command that writes the unit's source reads it
FEEDS = "feeds"  # a custom target's command reads it (a target built by a script)
# What a compile unit may #include: C, C++, CUDA and HIP sources and headers, by suffix.
INCLUDABLE = frozenset(
    ".h .hh .hpp .hxx .h++ .cuh .inc .inl .ipp .tcc .tpp .def "
    ".c .cc .cpp .cxx .c++ .cu .hip".split()
)


@dataclass(frozen=True)
class Reason:
    """Why a target is affected: `changed` (relative to the source dir; "" when a failed scan
    names no changed file) and the unit that compiles or includes it, or the linked target."""

    changed: str
    how: str
    unit: Optional[Unit] = None
    detail: str = ""  # the linked target, or the failed scan's last lines

    def text(self) -> str:
        if self.how == LINKS:
            return f"links {self.detail}, which {self.changed or 'a change'} affects"
        if self.how == FEEDS:
            return f"{self.changed} changed, an input of {self.detail}'s custom command"
        where = self.unit.source if self.unit else "a source"
        if self.how == COMPILES:
            return f"{where} changed"
        if self.how == INCLUDES:
            return f"{where} includes {self.changed}"
        if self.how == GENERATES:
            return f"{where} is generated from {self.changed}"
        return f"{where} could not be scanned" + (
            f" ({self.changed} gone?)" if self.changed else ""
        )


@dataclass
class Affected:
    """The answer. `targets`: each affected target with its reasons (every reason found; a
    target found by scanning has at least one). `units`: per affected target, the units that
    must compile. `cmake_changed`: changed CMake files (non-empty: nothing else was computed,
    build everything). `unused`: changed files no unit reads. `scans`: compiler runs it took."""

    targets: dict[str, list[Reason]] = field(default_factory=dict)
    units: dict[str, list[Unit]] = field(default_factory=dict)
    cmake_changed: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    scans: int = 0
    unreachable: int = 0  # units not scanned: no header search path into the source dir

    @property
    def everything(self) -> bool:
        """A CMake file changed: any target may be affected."""
        return bool(self.cmake_changed)


class UnitSource(Protocol):
    """What `affected` asks about units (cmake/unit_deps.py's UnitDeps answers it)."""

    jobs: int

    def graph(self) -> Graph: ...
    def built(self, unit: Unit) -> bool: ...
    def known(self, unit: Unit) -> Optional[Files]: ...
    def scan(self, units: Sequence[Unit]) -> dict[Unit, Files]: ...
    def reach(self, unit: Unit) -> Optional[list[str]]: ...
    def likely(self, unit: Unit, headers: Collection[str], outside: Collection[str]) -> bool: ...
