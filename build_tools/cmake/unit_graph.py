"""A build dir's compile units and the links between its targets, from ninja's graph.

The File API names each target's compiled sources and artifacts; ninja's own graph (`ninja -t
query`) says which object files each artifact's link edge reads and which source each object
compiles, so a unit is (target, source, object) with nothing guessed from CMake's object-file
naming. An in-project library whose artifact a link edge reads is a link of that target (a
change in it relinks the target). For a GENERATED source, the graph also holds what the custom
commands that write it read (`generator_inputs`), and for a custom target without compile units
(vLLM's `_deep_gemm_C`, built by a script), what its commands read (`custom_inputs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from build_tools.cmake.codemodel import CodeModel
from build_tools.cmake.ninja_tool import Ninja, Node, normalize

GENERATOR_DEPTH = 8  # custom commands followed back from a generated source, at most


@dataclass(frozen=True, order=True)
class Unit:
    """One compile: `source` (relative to the source dir, absolute outside it) compiled into
    `object` (relative to the build dir, as ninja names it) for `target`."""

    target: str
    source: str
    object: str


@dataclass(frozen=True)
class Graph:
    """The units of each target (in CMake's source order) and the in-project targets whose
    artifacts its link edge reads."""

    units: dict[str, tuple[Unit, ...]]
    links: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Files a generated source is made from (through the custom commands that write it).
    generator_inputs: dict[Unit, frozenset[str]] = field(default_factory=dict)
    # Files a custom target's commands read (vLLM's _deep_gemm_C: its script, its sources).
    custom_inputs: dict[str, frozenset[str]] = field(default_factory=dict)

    def all_units(self) -> list[Unit]:
        return [u for units in self.units.values() for u in units]


def read_graph(ninja: Ninja, model: CodeModel, source_dir: Path) -> Graph:
    """The units of every target of `model` and the links between targets (two `ninja -t
    query` calls, and more for generated sources)."""

    def norm(path: str) -> str:
        return normalize(path, ninja.build_dir, source_dir)

    details = model.details
    owner = {a: name for name, t in details.items() for a in t.artifacts}
    compiled = {s for t in details.values() for s in t.sources}
    artifacts = ninja.query(owner)
    candidates: dict[str, list[str]] = {}
    links: dict[str, list[str]] = {}
    units: dict[str, list[Unit]] = {name: [] for name in details}
    for artifact, name in owner.items():
        node = artifacts.get(artifact, Node())
        if node.explicit and norm(node.explicit[0]) in details[name].sources:
            units[name].append(Unit(name, norm(node.explicit[0]), artifact))
            continue  # an OBJECT library's artifact is itself an object
        for path in (*node.explicit, *node.implicit):
            if path in owner and owner[path] != name:
                links.setdefault(name, []).append(owner[path])
            elif path in node.explicit:
                candidates.setdefault(name, []).append(path)
    objects = ninja.query(o for objs in candidates.values() for o in objs)
    spelled: dict[Unit, str] = {}  # each unit's source as ninja names it
    for name, objs in candidates.items():
        for obj in objs:
            node = objects.get(obj, Node())
            if node.explicit and norm(node.explicit[0]) in compiled:
                found = Unit(name, norm(node.explicit[0]), obj)
                units[name].append(found)
                spelled[found] = node.explicit[0]
    order = {name: {s: i for i, s in enumerate(t.sources)} for name, t in details.items()}
    graph_units = {
        name: tuple(sorted(found, key=lambda u: (order[name].get(u.source, 1 << 30), u)))
        for name, found in units.items()
    }
    links_of = {k: tuple(dict.fromkeys(v)) for k, v in links.items()}
    generated = {u: s for u, s in spelled.items() if u.source in model.target(u.target).generated}
    generators = {u: _reached(ninja, s, norm) for u, s in generated.items()}
    utility = [name for name, t in details.items() if t.type == "UTILITY" and not units[name]]
    custom = {name: _reached(ninja, name, norm) for name in utility}
    return Graph(graph_units, links_of, generators, {k: v for k, v in custom.items() if v})


def _reached(ninja: Ninja, start: str, norm: Callable[[str], str]) -> frozenset[str]:
    """What the edges that make `start` read (a GENERATED source as ninja names it, or a
    custom target's name), followed back to files no edge writes, `start` left out."""
    seen: set[str] = {start}
    frontier = [start]
    for _ in range(GENERATOR_DEPTH):
        if not frontier:
            break
        nodes = ninja.query(frontier, tolerate=True)
        frontier = [
            path
            for node in nodes.values()
            for path in (*node.explicit, *node.implicit)
            if path not in seen
        ]
        seen.update(frontier)
    return frozenset(norm(p) for p in seen - {start})
