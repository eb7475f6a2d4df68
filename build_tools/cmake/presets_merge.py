"""Our presets merged into the user's file: theirs survive, ours are replaced in place (a
preset of ours is told by its digest, presets_gen.ours); the file rendered byte for byte the
same when nothing changed, and the diff `presets --dry-run` shows. Pure: nothing here runs."""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from build_tools.cmake.presets_gen import KINDS, PRESETS_VERSION, ours


@dataclass(frozen=True)
class Entry:
    """One preset the merge touched: its kind ("configure" or "build") and name."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} preset {self.name!r}"


@dataclass(frozen=True)
class Merge:
    data: dict[str, Any]
    replaced: list[Entry]
    added: list[Entry]
    kept: list[Entry]

    @property
    def changed_names(self) -> list[str]:
        return list(dict.fromkeys(e.name for e in self.added + self.replaced))


def merge(
    existing: Optional[Mapping[str, Any]],
    generated: Mapping[str, Any],
    minimum: tuple[int, int, int],
    *,
    force: bool = False,
    asked: Optional[str] = None,
) -> Merge:
    """Put our presets into the user's file: theirs survive, ours are replaced in place.

    A preset with one of our names that is not ours, or was edited by hand, is kept as it is
    (never a reason to stop: the build goes on with it); `force` replaces it. Their configure
    preset gets no build preset of ours, unless it is the `asked` one and has none (a build
    needs one).
    """
    data: dict[str, Any] = copy.deepcopy(dict(existing)) if existing else {}
    version = data.get("version")
    data["version"] = max(version, PRESETS_VERSION) if isinstance(version, int) else PRESETS_VERSION
    data["cmakeMinimumRequired"] = _max_minimum(data.get("cmakeMinimumRequired"), minimum)
    replaced: list[Entry] = []
    added: list[Entry] = []
    kept: list[Entry] = []
    theirs: set[str] = set()
    for kind in KINDS:
        presets = data.setdefault(kind, [])  # its shape was checked when the file was read
        for new in generated.get(kind, []):
            if new["name"] in theirs and new["name"] != asked:  # their build preset is theirs
                continue
            label = Entry(kind[: -len("Presets")], new["name"])
            index = next(
                (
                    i
                    for i, p in enumerate(presets)
                    if isinstance(p, dict) and p.get("name") == new["name"]
                ),
                None,
            )
            if index is None:
                presets.append(new)
                added.append(label)
            elif presets[index] == new:
                continue
            elif ours(presets[index]) or force:
                presets[index] = new
                replaced.append(label)
            else:
                kept.append(label)
                theirs.add(new["name"])
    # Keys in a fixed order so an unchanged file renders byte for byte the same.
    head: dict[str, Any] = {k: data.pop(k) for k in ("version", "cmakeMinimumRequired")}
    return Merge({**head, **data}, replaced, added, kept)


def _max_minimum(current: Any, minimum: tuple[int, int, int]) -> dict[str, int]:
    ours_min = {"major": minimum[0], "minor": minimum[1], "patch": minimum[2]}
    if isinstance(current, dict):
        theirs = tuple(int(current.get(k, 0)) for k in ("major", "minor", "patch"))
        if theirs > minimum:
            return {"major": theirs[0], "minor": theirs[1], "patch": theirs[2]}
    return ours_min


def render(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2) + "\n"


def unified_diff(path: Path, old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"{path} (now)",
        tofile=f"{path} (new)",
    )
    return "".join(lines)
