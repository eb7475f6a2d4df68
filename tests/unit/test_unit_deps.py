"""cmake/unit_deps.py: UnitDeps over stand-in tools (a capture callable that answers as ninja
and the compilers do); the formats and the scan's command line: test_unit_deps_ninja.py and
test_unit_deps_scan.py."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from pathlib import Path

import pytest

from build_tools.cmake import dep_scan, ninja_tool, unit_deps
from build_tools.cmake.codemodel import CodeModel, api_dir, read_codemodel
from build_tools.cmake.unit_deps import Unit, UnitDeps
from build_tools.errors import BuildToolsError
from build_tools.plan.affected import GENERATES, affected
from tests.helpers import fake_codemodel


def test_the_public_names_stay_importable_from_unit_deps() -> None:
    for name in ("Node", "Recorded", "normalize", "parse_deps", "parse_query"):
        assert getattr(unit_deps, name) is getattr(ninja_tool, name)
    for name in ("parse_depfile", "scan_argv"):
        assert getattr(unit_deps, name) is getattr(dep_scan, name)
    assert {"Capture", "Files", "Graph", "ScanStats", "Unit", "runner_capture"} <= set(
        dir(unit_deps)
    )


# ------------------------------------------------------------------ UnitDeps over stand-ins


class Tools:
    """Answers `ninja -t query|deps|commands` and compiler scans the way the real tools do,
    for a project of two targets: _C (a.cpp, k.cu; links libutil.a) and util (u.cpp)."""

    def __init__(self, source: Path, build: Path) -> None:
        self.source, self.build = source, build
        self.objects = {
            "CMakeFiles/_C.dir/csrc/a.cpp.o": "csrc/a.cpp",
            "CMakeFiles/_C.dir/csrc/k.cu.o": "csrc/k.cu",
            "CMakeFiles/util.dir/csrc/u.cpp.o": "csrc/u.cpp",
        }
        self.includes = {
            "csrc/a.cpp": ["csrc/ops.h"],
            "csrc/k.cu": ["csrc/cuda_utils.h"],
            "csrc/u.cpp": ["csrc/util.h"],
        }
        self.recorded: dict[str, list[str]] = {}  # object -> deps (the deps log)
        self.failing: set[str] = set()
        self.scans: list[str] = []

    def __call__(self, argv: Sequence[object], cwd: Path) -> tuple[int, str]:
        words = [str(a) for a in argv]
        assert cwd == self.build, f"expected every command to run in the build dir, not {cwd}"
        if "-t" in words:
            tool = words[words.index("-t") + 1]
            paths = [w for w in words[words.index("-t") + 2 :] if w != "-s"]
            return 0, getattr(self, tool)(paths)
        return self.compile(words)

    def query(self, paths: list[str]) -> str:
        out = []
        for path in paths:
            if path == "_C.abi3.so":
                ins = ["CMakeFiles/_C.dir/csrc/a.cpp.o", "CMakeFiles/_C.dir/csrc/k.cu.o"]
                out += [f"{path}:", "  input: LINK", *(f"    {i}" for i in ins)]
                out += ["    | libutil.a", "  outputs:", "    all"]
            elif path == "libutil.a":
                out += [f"{path}:", "  input: AR", "    CMakeFiles/util.dir/csrc/u.cpp.o"]
            elif path in self.objects:
                source = self.source / self.objects[path]
                out += [f"{path}:", "  input: CXX", f"    {source}", "    || order"]
        return "\n".join(out) + "\n"

    def deps(self, paths: list[str]) -> str:
        out = []
        for path in paths:
            if path in self.recorded:
                listed = self.recorded[path]
                out.append(f"{path}: #deps {len(listed)}, deps mtime 1 (VALID)")
                out += [f"    {p}" for p in listed] + [""]
            else:
                out.append(f"{path}: deps not found")
        return "\n".join(out) + "\n"

    def commands(self, paths: list[str]) -> str:
        return "".join(
            f"/usr/bin/ccache /usr/bin/c++ -MD -MT {p} -MF {p}.d -o {p} "
            f"-c {shlex.quote(str(self.source / self.objects[p]))}\n"
            for p in paths
        )

    def compile(self, words: list[str]) -> tuple[int, str]:
        assert words[0] == "/usr/bin/c++" and "-o" not in words, f"expected a scan: {words}"
        source = os.path.relpath(words[words.index("-c") + 1], self.source)
        self.scans.append(source)
        if source in self.failing:
            return 1, f"{source}:1:10: fatal error: gone.h: No such file or directory"
        listed = [source, *self.includes[source]]
        text = "x.o: " + " ".join(str(self.source / p).replace(" ", "\\ ") for p in listed)
        Path(words[words.index("-MF") + 1]).write_text(text + "\n")
        return 0, ""


@pytest.fixture
def project(tmp_path: Path) -> tuple[CodeModel, Tools]:
    source = tmp_path / "my src"
    build = source / "build"
    for path in ("csrc/a.cpp", "csrc/k.cu", "csrc/u.cpp", "csrc/ops.h", "csrc/cuda_utils.h"):
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_text(f"// {path}\n")
    (source / "csrc/util.h").write_text("// util\n")
    fake_codemodel(
        build,
        {"_C": "MODULE_LIBRARY", "util": "STATIC_LIBRARY"},
        ["_C"],
        sources={"_C": ["csrc/a.cpp", "csrc/k.cu"], "util": ["csrc/u.cpp"]},
        artifacts={"_C": ["_C.abi3.so"], "util": ["libutil.a"]},
    )
    model = read_codemodel(build)
    assert model is not None, "expected the fake reply to read"
    return model, Tools(source, build)


def deps_of(model: CodeModel, tools: Tools, jobs: int = 1) -> UnitDeps:
    state = tools.source / ".vllm-build-tools"
    return UnitDeps(tools.build, state, tools, model=model, ninja="ninja", jobs=jobs)


def test_graph_units_and_links(project: tuple[CodeModel, Tools]) -> None:
    model, tools = project
    graph = deps_of(model, tools).graph()
    assert graph.units == {
        "_C": (
            Unit("_C", "csrc/a.cpp", "CMakeFiles/_C.dir/csrc/a.cpp.o"),
            Unit("_C", "csrc/k.cu", "CMakeFiles/_C.dir/csrc/k.cu.o"),
        ),
        "util": (Unit("util", "csrc/u.cpp", "CMakeFiles/util.dir/csrc/u.cpp.o"),),
    }
    assert graph.links == {"_C": ("util",)}, "expected _C's link edge to read libutil.a"


def test_the_deps_log_answers_for_built_units(project: tuple[CodeModel, Tools]) -> None:
    model, tools = project
    tools.recorded["CMakeFiles/_C.dir/csrc/a.cpp.o"] = ["../csrc/a.cpp", "../csrc/ops.h"]
    deps = deps_of(model, tools)
    a, k = deps.graph().units["_C"]
    assert deps.built(a) and not deps.built(k)
    known = deps.known(a)
    assert known is not None and known.files == {"csrc/a.cpp", "csrc/ops.h"}
    assert known.origin == "deps log"
    assert deps.known(k) is None, "expected an unbuilt, unscanned unit to be unknown"
    assert tools.scans == []


def test_scans_are_cached_until_a_listed_file_changes(project: tuple[CodeModel, Tools]) -> None:
    model, tools = project
    deps = deps_of(model, tools)
    units = deps.graph().all_units()
    found = deps.scan(units)
    assert found[units[0]].files == {"csrc/a.cpp", "csrc/ops.h"}
    assert found[units[0]].origin == "scan"
    assert sorted(tools.scans) == ["csrc/a.cpp", "csrc/k.cu", "csrc/u.cpp"]

    again = deps_of(model, tools)  # a later run: the cache in the state dir answers
    assert again.known(units[1]) is not None, "expected a cached scan to be known for free"
    assert again.scan(units)[units[1]].origin == "cached scan"
    assert len(tools.scans) == 3 and again.stats.cached == 3

    header = tools.source / "csrc" / "ops.h"
    header.write_text("// longer now\n")
    later = deps_of(model, tools)
    assert later.known(units[0]) is None, "expected the edited header to drop a.cpp's scan"
    assert later.known(units[1]) is not None, "expected k.cu's scan to stay (no ops.h)"
    later.scan(units)
    assert tools.scans[3:] == ["csrc/a.cpp"]


def test_a_vanished_file_drops_the_scans_that_listed_it(project: tuple[CodeModel, Tools]) -> None:
    model, tools = project
    units = deps_of(model, tools).graph().all_units()
    deps_of(model, tools).scan(units)
    (tools.source / "csrc" / "util.h").unlink()
    tools.failing.add("csrc/u.cpp")
    found = deps_of(model, tools).scan(units)
    assert found[units[2]].failed and "gone.h" in found[units[2]].error
    assert not found[units[0]].failed


def test_parallel_scans(project: tuple[CodeModel, Tools]) -> None:
    model, tools = project
    deps = deps_of(model, tools, jobs=2)
    units = deps.graph().all_units()
    found = deps.scan(units)
    assert {u.source for u in found} == {"csrc/a.cpp", "csrc/k.cu", "csrc/u.cpp"}
    assert deps.stats.scans == 3 and deps.stats.failed == 0
    assert deps_of(model, tools).scan(units)[units[2]].origin == "cached scan"


class GeneratingTools(Tools):
    """_C also compiles gen/g.cpp, which a custom command writes from tools/gen.py (reading
    csrc/g.in through an intermediate gen/g.json)."""

    def __init__(self, source: Path, build: Path) -> None:
        super().__init__(source, build)
        self.objects["CMakeFiles/_C.dir/gen/g.cpp.o"] = "build/gen/g.cpp"

    def query(self, paths: list[str]) -> str:
        out = []
        for path in paths:
            if path == "_C.abi3.so":
                out += [f"{path}:", "  input: LINK", "    CMakeFiles/_C.dir/gen/g.cpp.o"]
            elif path == "CMakeFiles/_C.dir/gen/g.cpp.o":
                out += [f"{path}:", "  input: CXX", "    gen/g.cpp"]
            elif path == "gen/g.cpp":
                out += [f"{path}:", "  input: CUSTOM_COMMAND", f"    {self.source}/tools/gen.py"]
                out += ["    | gen/g.json"]
            elif path == "gen/g.json":
                out += [f"{path}:", "  input: CUSTOM_COMMAND", f"    {self.source}/csrc/g.in"]
            elif path.startswith("/"):
                out += [f"{path}:", "  outputs:", "    gen/g.cpp"]
            else:
                return super().query([path])
        return "\n".join(out) + "\n"


def test_a_generated_sources_generator_inputs(tmp_path: Path) -> None:
    source, build = tmp_path / "src", tmp_path / "src" / "build"
    fake_codemodel(
        build,
        {"_C": "MODULE_LIBRARY"},
        ["_C"],
        sources={"_C": []},
        artifacts={"_C": ["_C.abi3.so"]},
    )
    target_file = api_dir(build) / "reply" / "target-_C.json"
    data = json.loads(target_file.read_text())
    data["sources"] = [{"path": "build/gen/g.cpp", "compileGroupIndex": 0, "isGenerated": True}]
    target_file.write_text(json.dumps(data))
    model = read_codemodel(build)
    assert model is not None and model.target("_C").generated == ("build/gen/g.cpp",)
    deps = deps_of(model, GeneratingTools(source, build))
    (g,) = deps.graph().units["_C"]
    assert g == Unit("_C", "build/gen/g.cpp", "CMakeFiles/_C.dir/gen/g.cpp.o")
    assert deps.graph().generator_inputs == {g: {"tools/gen.py", "build/gen/g.json", "csrc/g.in"}}
    answer = affected(source, model, [Path("csrc/g.in")], deps)
    assert [r.how for r in answer.targets["_C"]] == [GENERATES], answer.targets
    assert answer.targets["_C"][0].text() == "build/gen/g.cpp is generated from csrc/g.in"


def test_an_unconfigured_build_dir_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(BuildToolsError, match="no CMake File API codemodel") as raised:
        UnitDeps(tmp_path / "build", tmp_path / "state", Tools(tmp_path, tmp_path / "build"))
    assert "invoke configure" in raised.value.fix
