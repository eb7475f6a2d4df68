"""What `invoke build` builds over precompiled kernels, and what it will cost: plan before you
pay.

Over a precompiled base (checkout/base.py), only the extension targets that must be built are:
those whose inputs differ from the base (affected.py), those built here before (so an edit
undone is built again, and ninja keeps them up to date at no cost), and those the wheel did not
provide. A changed CMake file, no base, or `--all` builds every target. Every other target
keeps the wheel's shared library, untouched.

What each chosen target costs is forecast from what was measured: the compile units ninja will
run (its own dry run), the time each took when it last compiled (ninja's log) and its peak
memory (insight/memory.py); a unit never compiled is "not measured yet".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

from build_tools.insight.cost import object_of
from build_tools.plan.affected import Affected

_BUILDING = re.compile(r"^\[\d+/\d+\] Building \w+ object (\S+)")
GiB = 1024**3


@dataclass(frozen=True)
class Choice:
    """Which extension targets to build, why each, and which keep the wheel's library."""

    build: dict[str, list[str]]  # target -> why (sentences)
    kept: list[str]  # precompiled, left as the wheel has them
    everything: str = ""  # why every target is built ("" when not)


def choose(
    extensions: Sequence[str],
    precompiled: Iterable[str],
    built_here: Iterable[str],
    found: Optional[Affected],
    *,
    everything: str = "",
    files_only: Iterable[str] = (),
) -> Choice:
    """The targets to build among `extensions`: every one when `everything` says why (no base,
    --all) or a CMake file changed; else the affected, those built here and those the wheel
    does not provide (`precompiled`: the extensions whose libraries are still the wheel's;
    `files_only`: those that install no library, only files: the precompiled install put them
    there, so they are built only when affected, built here before, or with everything)."""
    if found is not None and found.cmake_changed and not everything:
        shown = ", ".join(found.cmake_changed[:3])
        everything = f"CMake files changed since the precompiled base ({shown}): configure may "
        everything += "change any target, so every target is built"
    if everything:
        return Choice({t: [everything] for t in extensions}, [], everything)
    wheel, here, plain = set(precompiled), set(built_here), set(files_only)
    build: dict[str, list[str]] = {}
    for target in extensions:
        why = [r.text() for r in (found.targets.get(target, []) if found else [])]
        if target in here:
            why.append("built here before: kept up to date")
        if target not in wheel and target not in here and target not in plain:
            why.append("the precompiled wheel has no library of it")
        if why:
            build[target] = why
    return Choice(build, [t for t in extensions if t not in build])


def objects_in_dry_run(text: str) -> dict[str, list[str]]:
    """target -> the objects a `ninja -n` run would compile, from its output."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = _BUILDING.match(line.strip())
        named = object_of(match.group(1)) if match else None
        if match and named:
            found.setdefault(named[0], []).append(match.group(1))
    return found


@dataclass(frozen=True)
class Forecast:
    target: str
    units: int  # compile units ninja will run
    measured: int  # of those, how many compiled before (their time is known)
    seconds: float  # their summed compile time when they last compiled
    peak: int  # the largest measured peak memory of one of them (bytes; 0: none measured)
    why: list[str] = field(default_factory=list)
    held: float = 0.0  # seconds the memory gate held them last time (not in `seconds`)
    estimate: bool = False  # build.ninja is stale: `units` are the last configure's sources
    commands: int = 0  # custom commands ninja will run for it (-1: ninja cannot plan them)

    def text(self) -> str:
        if self.estimate:
            head = (
                f"{self.target}: about {self.units} unit{'s' * (self.units != 1)} (an estimate "
                "from the last configure: CMake files changed, and ninja can count only once "
                "cmake has run again)"
            )
            return head if not self.measured else f"{head}, {self.seconds:.0f} s when last built"
        if not self.units and self.commands < 0:
            return f"{self.target}: its custom command cannot run now (ninja's reason above)"
        if not self.units and self.commands:
            return f"{self.target}: {self.commands} custom command(s) run (a script builds it)"
        if not self.units:
            return f"{self.target}: up to date (nothing to compile)"
        cost = "not measured yet"
        if self.measured:
            part = "" if self.measured == self.units else f" for {self.measured} of them"
            memory = f", peak {self.peak / GiB:.1f} GiB a unit" if self.peak else ""
            waited = f" (and {self.held:.0f} s held by the memory gate)" if self.held >= 1 else ""
            cost = f"{self.seconds:.0f} s of compile time{part}{waited}{memory}"
        return f"{self.target}: {self.units} unit{'s' * (self.units != 1)}, {cost}"


def forecast(
    choice: Choice,
    planned: Mapping[str, Sequence[str]],
    durations_ms: Mapping[str, int],
    peaks: Mapping[str, int],
    held_ms: Mapping[str, int] | None = None,
    *,
    estimated: Optional[Mapping[str, int]] = None,
    commands: Mapping[str, int] = {},
) -> list[Forecast]:
    """Per chosen target: its planned units (`planned`: target -> object paths), their last
    compile time (`durations_ms`: object -> ms, from ninja's log, less `held_ms`: what of it
    the memory gate held them) and peak memory. With a stale build.ninja (`estimated`: target
    -> its sources at the last configure) the units are an estimate, said as one; `commands`:
    custom commands ninja will run per target."""
    found = []
    held_ms = held_ms or {}
    for target, why in choice.build.items():
        if estimated is not None and target in estimated:
            mine = [o for o in durations_ms if f"CMakeFiles/{target}.dir/" in o]
            seconds = sum(durations_ms[o] for o in mine) / 1000
            count = estimated.get(target, 0)
            found.append(Forecast(target, count, len(mine), seconds, 0, why, estimate=True))
            continue
        units = planned.get(target, [])
        known = [u for u in units if u in durations_ms]
        held = sum(held_ms.get(u, 0) for u in known) / 1000
        seconds = sum(durations_ms[u] for u in known) / 1000 - held
        peak = max((peaks.get(u, 0) for u in units), default=0)
        extra = commands.get(target, 0)
        found.append(
            Forecast(target, len(units), len(known), seconds, peak, why, held, commands=extra)
        )
    return found


RERUN = "Re-running CMake"  # ninja -n over a stale build.ninja prints only this edge's


def custom_commands(text: str) -> int:
    """The edges a `ninja -n` run of one custom target would run."""
    return sum(1 for line in text.splitlines() if re.match(r"^\[\d+/\d+\] ", line.strip()))
