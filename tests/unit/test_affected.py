"""build_tools/affected.py over a stand-in for UnitDeps: which targets and units, with which
reasons, and how few scans it takes."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Optional

import pytest

from build_tools.cmake.codemodel import CodeModel, Target
from build_tools.cmake.unit_deps import Files, Graph, Unit
from build_tools.plan.affected import COMPILES, INCLUDES, LINKS, UNSCANNABLE, Reason, affected

ROOT = Path("/src")
SOURCES = {
    "_C": ["csrc/a1.cpp", "csrc/a2.cpp", "csrc/a3.cu"],
    "util": ["csrc/util/u1.cpp", "csrc/util/u2.cpp"],
    "_moe_C": ["csrc/moe/m1.cpp"],
}
INCLUDED = {  # what each source includes
    "csrc/a1.cpp": {"csrc/ops.h"},
    "csrc/a2.cpp": {"csrc/ops.h", "csrc/common.h"},
    "csrc/a3.cu": {"csrc/cuda_utils.h", "csrc/common.h"},
    "csrc/util/u1.cpp": {"csrc/util/util.h"},
    "csrc/util/u2.cpp": {"csrc/util/util.h", "csrc/common.h"},
    "csrc/moe/m1.cpp": {"csrc/moe/moe.h", "csrc/common.h"},
}


def unit(target: str, source: str) -> Unit:
    return Unit(target, source, f"CMakeFiles/{target}.dir/{source}.o")


class Source:
    """Answers as UnitDeps does; `built` units are known from the deps log."""

    def __init__(self, built: Sequence[str] = (), jobs: int = 1) -> None:
        self.jobs = jobs
        self.built_sources = set(built)
        self.failing: dict[str, str] = {}
        self.scanned: list[list[str]] = []
        self.dirs: dict[str, list[str]] = {}  # a unit's header search dirs (None: unknown)
        self.likely_reads: set[str] = set()  # units whose text reaches a changed header
        self._graph = Graph(
            {name: tuple(unit(name, s) for s in sources) for name, sources in SOURCES.items()},
            {"_moe_C": ("util",)},  # _moe_C's link edge reads util's archive
        )

    def graph(self) -> Graph:
        return self._graph

    def built(self, unit: Unit) -> bool:
        return unit.source in self.built_sources

    def files(self, unit: Unit, origin: str) -> Files:
        return Files(frozenset({unit.source, *INCLUDED.get(unit.source, ())}), origin)

    def reach(self, unit: Unit) -> Optional[list[str]]:
        return self.dirs.get(unit.source)

    def likely(self, unit: Unit, headers: Collection[str], outside: Collection[str]) -> bool:
        return unit.source in self.likely_reads

    def known(self, unit: Unit) -> Optional[Files]:
        return self.files(unit, "deps log") if self.built(unit) else None

    def scan(self, units: Sequence[Unit]) -> dict[Unit, Files]:
        self.scanned.append([u.source for u in units])
        found = {}
        for u in units:
            error = self.failing.get(u.source, "")
            found[u] = Files(frozenset(), "scan", error) if error else self.files(u, "scan")
        return found

    @property
    def scans(self) -> list[str]:
        return [s for batch in self.scanned for s in batch]


MODEL = CodeModel(
    {name: "MODULE_LIBRARY" for name in SOURCES},
    ("_C", "_moe_C"),
    {name: Target(name, "MODULE_LIBRARY", tuple(s)) for name, s in SOURCES.items()},
    cmake_inputs=("CMakeLists.txt", "cmake/utils.cmake"),
    source_dir=ROOT,
)


def test_a_changed_source_needs_no_scan() -> None:
    source = Source()
    answer = affected(ROOT, MODEL, [Path("csrc/a2.cpp")], source)
    assert answer.targets == {"_C": [Reason("csrc/a2.cpp", COMPILES, unit("_C", "csrc/a2.cpp"))]}
    assert [u.source for u in answer.units["_C"]] == SOURCES["_C"], "expected no unit built"
    assert source.scanned == [] and answer.scans == 0 and answer.unused == []


def test_built_units_compile_only_when_affected() -> None:
    source = Source(built=[s for sources in SOURCES.values() for s in sources])
    answer = affected(ROOT, MODEL, [Path("csrc/ops.h")], source)
    assert set(answer.targets) == {"_C"}
    assert [u.source for u in answer.units["_C"]] == ["csrc/a1.cpp", "csrc/a2.cpp"]
    assert {r.how for r in answer.targets["_C"]} == {INCLUDES}
    assert source.scanned == [], "expected the deps log to answer everything"


def test_a_header_scans_each_target_until_its_first_hit() -> None:
    source = Source()
    answer = affected(ROOT, MODEL, [ROOT / "csrc/common.h"], source)
    # _C: its nearest C++ unit first (a1 misses, a2 hits); util: u1 misses, u2 hits;
    # _moe_C links util: affected without a scan.
    assert source.scans == ["csrc/a1.cpp", "csrc/a2.cpp", "csrc/util/u1.cpp", "csrc/util/u2.cpp"]
    assert set(answer.targets) == {"_C", "util", "_moe_C"}
    assert answer.targets["_moe_C"] == [Reason("csrc/common.h", LINKS, None, "util")]
    assert answer.targets["_moe_C"][0].text() == "links util, which csrc/common.h affects"
    assert len(answer.units["_C"]) == 3, "expected every unbuilt unit of _C to compile"
    assert answer.scans == 4 and answer.unused == []


def test_scans_start_nearest_to_the_header() -> None:
    source = Source()
    affected(ROOT, MODEL, [Path("csrc/moe/moe.h")], source)
    assert source.scanned[-1] == ["csrc/moe/m1.cpp"]
    assert source.scans.index("csrc/util/u1.cpp") < source.scans.index("csrc/moe/m1.cpp"), (
        "expected util (which _moe_C links) asked before _moe_C"
    )


def test_jobs_scan_in_batches() -> None:
    source = Source(jobs=2)
    affected(ROOT, MODEL, [Path("csrc/cuda_utils.h")], source)
    assert source.scanned[0] == ["csrc/a1.cpp", "csrc/a2.cpp"], "expected C++ before CUDA"
    assert all(len(batch) <= 2 for batch in source.scanned)


def test_an_unused_header_is_known_only_after_every_unit() -> None:
    source = Source()
    answer = affected(ROOT, MODEL, [Path("csrc/unused.h"), Path("README.md")], source)
    assert answer.targets == {} and answer.units == {}
    assert answer.unused == ["README.md", "csrc/unused.h"]
    assert sorted(source.scans) == sorted(s for sources in SOURCES.values() for s in sources)


def test_non_c_files_are_never_scanned_for() -> None:
    source = Source()
    answer = affected(ROOT, MODEL, [Path("vllm/model.py"), Path("docs/x.md")], source)
    assert answer.unused == ["docs/x.md", "vllm/model.py"] and source.scanned == []


def test_a_header_used_only_by_an_affected_target_is_looked_for_there() -> None:
    source = Source()
    answer = affected(ROOT, MODEL, [Path("csrc/a1.cpp"), Path("csrc/cuda_utils.h")], source)
    assert "csrc/cuda_utils.h" not in answer.unused, "expected a3.cu to be scanned for it"
    assert any(r.how == INCLUDES and r.changed == "csrc/cuda_utils.h" for r in answer.targets["_C"])


def test_a_failed_scan_counts_as_affected_and_names_a_deleted_header() -> None:
    source = Source()
    source.failing["csrc/util/u1.cpp"] = "u1.cpp:2:10: fatal error: util.h: No such file"
    answer = affected(ROOT, MODEL, [Path("csrc/util/util.h")], source)
    first = answer.targets["util"][0]
    assert first.how == UNSCANNABLE and first.changed == "csrc/util/util.h", first
    assert "could not be scanned" in first.text() and answer.unused == []


def test_a_failed_scan_names_no_header_it_does_not_mention() -> None:
    source = Source()
    source.failing["csrc/a1.cpp"] = "fatal error: my_ops.h: No such file"
    answer = affected(ROOT, MODEL, [Path("csrc/ops.h")], source)
    assert answer.targets["_C"][0] == Reason(
        "", UNSCANNABLE, unit("_C", "csrc/a1.cpp"), "fatal error: my_ops.h: No such file"
    )


@pytest.mark.parametrize("path", ["CMakeLists.txt", "cmake/utils.cmake", "csrc/CMakeLists.txt"])
def test_a_cmake_change_is_its_own_answer(path: str) -> None:
    source = Source()
    answer = affected(ROOT, MODEL, [Path(path), Path("csrc/ops.h")], source)
    assert answer.everything and answer.cmake_changed == [path]
    assert answer.targets == {} and source.scanned == []


# A dependency's target outside the checkout (vLLM's flash-attention from FetchContent).
FA = ("/deps/fa/f1.cu", "/deps/fa/f2.cu")
WITH_FA = CodeModel(
    {**MODEL.targets, "fa": "MODULE_LIBRARY"},
    (*MODEL.components, "fa"),
    {**MODEL.details, "fa": Target("fa", "MODULE_LIBRARY", FA)},
    cmake_inputs=MODEL.cmake_inputs,
    source_dir=ROOT,
)


def with_fa(dirs: list[str]) -> Source:
    source = Source()
    source.dirs = {s: dirs for s in FA}
    graph = source.graph()
    graph.units["fa"] = tuple(unit("fa", s) for s in FA)
    return source


def test_units_that_cannot_reach_the_checkout_are_not_scanned_for_its_headers() -> None:
    source = with_fa(["/deps/fa", "/deps/fa/cutlass/include", "/usr/local/cuda/include"])
    answer = affected(ROOT, WITH_FA, [Path("csrc/common.h")], source)
    assert not set(FA) & set(source.scans), f"scanned {source.scans}"
    assert answer.unreachable == 2 and "fa" not in answer.targets
    assert set(answer.targets) == {"_C", "util", "_moe_C"}


@pytest.mark.parametrize(
    "dirs", [["/deps/fa", "csrc"], ["/"], ["/deps/fa", "cmake-build-release/gen"]]
)
def test_a_search_dir_in_or_above_the_checkout_is_scanned(dirs: list[str]) -> None:
    source = with_fa(dirs)
    answer = affected(ROOT, WITH_FA, [Path("csrc/common.h")], source)
    assert set(FA) <= set(source.scans), f"expected the fa units scanned with {dirs}"
    assert answer.unreachable == 0


def test_a_header_outside_the_checkout_is_looked_for_everywhere() -> None:
    source = with_fa(["/deps/fa"])
    affected(ROOT, WITH_FA, [Path("/deps/fa/fa.h")], source)
    assert set(FA) <= set(source.scans)


def test_units_whose_commands_are_unknown_are_scanned() -> None:
    source = with_fa([])
    source.dirs = {}
    affected(ROOT, WITH_FA, [Path("csrc/common.h")], source)
    assert set(FA) <= set(source.scans)


@pytest.mark.parametrize(
    "dirs",
    [
        [".venv/lib/python3.12/site-packages/torch/include", "/usr/local/cuda/include"],
        [".deps/vllm-flash-attn-src/csrc", "cmake-build-release/_deps/cutlass-src/include"],
    ],
)
def test_the_venv_the_build_dir_and_fetched_dependencies_reach_no_file_of_the_checkout(
    dirs: list[str],
) -> None:
    """issue 24: `-isystem <tree>/.venv/.../torch/include` made every flash-attention unit look
    like it could read the checkout (783 s for a header plan on vLLM 0.34.0)."""
    source = with_fa(dirs)
    graph = source.graph()
    graph.units["fa"] = tuple(
        unit("fa", f".deps/vllm-flash-attn-src/{s}") for s in ("f1.cu", "f2.cu")
    )
    source.dirs = {u.source: dirs for u in graph.units["fa"]}
    outside = [ROOT / ".venv", ROOT / "cmake-build-release", ROOT / ".deps"]
    answer = affected(ROOT, WITH_FA, [Path("csrc/common.h")], source, outside)
    assert not [s for s in source.scans if s.startswith(".deps")], source.scans
    assert answer.unreachable == 2 and "fa" not in answer.targets
    inside = affected(ROOT, WITH_FA, [Path("csrc/common.h")], with_fa(["csrc"]), outside)
    assert inside.unreachable == 0


def test_units_whose_text_reaches_the_header_are_scanned_first() -> None:
    """include_text.py orders the scans: the includer found by the text goes first, whatever
    its folder or language (vLLM: 30 scans down to 1 for csrc/cub_helpers.h)."""
    source = Source()
    source.likely_reads = {"csrc/a3.cu"}
    answer = affected(ROOT, MODEL, [Path("csrc/cuda_utils.h")], source)
    assert source.scanned[0] == ["csrc/a3.cu"], source.scanned
    assert set(answer.targets) == {"_C"}
