"""The File API reply as cmake/project.py reads it: targets, sources, artifacts, install rules,
the CMake files configure read."""

from __future__ import annotations

import json
from pathlib import Path

from build_tools.cmake.codemodel import (
    QUERY,
    CodeModel,
    InstallRule,
    api_dir,
    read_codemodel,
    request_codemodel,
)
from build_tools.cmake.project import launchers, make_program
from tests.helpers import fake_codemodel

TARGETS = {"_C": "MODULE_LIBRARY", "_moe_C": "MODULE_LIBRARY", "util": "STATIC_LIBRARY"}


def read(build: Path) -> CodeModel:
    model = read_codemodel(build)
    assert model is not None, f"expected a readable reply in {build}"
    return model


def test_the_old_helper_call_still_reads_as_before(tmp_path: Path) -> None:
    fake_codemodel(tmp_path / "b", {"_C": "MODULE_LIBRARY"}, ["_C", "docs"])
    model = read(tmp_path / "b")
    assert model.targets == {"_C": "MODULE_LIBRARY"}
    assert model.components == ("_C", "docs")
    assert model.extension_targets == ["_C"]
    assert model.target("_C").sources == (), "expected no sources where the reply has none"
    assert model.cmake_inputs == ()


def test_sources_artifacts_and_install_rules(tmp_path: Path) -> None:
    build = tmp_path / "src" / "build"
    fake_codemodel(
        build,
        TARGETS,
        ["_C", "_moe_C"],
        sources={"_C": ["csrc/a.cpp", "csrc/k.cu"], "_moe_C": ["csrc/moe/m.cpp"]},
        artifacts={"_C": ["_C.abi3.so"], "_moe_C": ["_moe_C.abi3.so"], "util": ["libutil.a"]},
        destination="minivllm",
    )
    model = read(build)
    c = model.target("_C")
    assert c.sources == ("csrc/a.cpp", "csrc/k.cu"), "expected only compiled sources, in order"
    assert c.artifacts == ("_C.abi3.so",)
    assert c.id == "_C::@0"
    assert model.target("util").artifacts == ("libutil.a",)
    rules = model.installed_by("_moe_C")
    assert rules == [
        InstallRule(
            "_moe_C", "target", "minivllm", (("_moe_C.abi3.so", "_moe_C.abi3.so"),), "_moe_C"
        )
    ]
    assert rules[0].installed() == ["minivllm/_moe_C.abi3.so"]
    assert model.components_of("_C") == ["_C"]
    assert model.components_of("util") == []
    assert model.source_dir == tmp_path / "src" and model.build_dir == build


def test_install_paths_in_both_of_cmakes_forms(tmp_path: Path) -> None:
    """A `paths` entry is a string (installed under its last component) or {from, to}; file
    rules name paths relative to the source dir; a target rule's targetId names the target."""
    build = tmp_path / "b"
    fake_codemodel(build, {"_C": "MODULE_LIBRARY"}, ["_C"], artifacts={"_C": ["_C.abi3.so"]})
    directory = api_dir(build) / "reply" / "directory-.json"
    directory.write_text(
        json.dumps(
            {
                "installers": [
                    {
                        "component": "_C",
                        "type": "target",
                        "destination": "lib/python/pkg",
                        "paths": [{"from": "out/_C.abi3.so", "to": "_C.so"}],
                        "targetId": "_C::@0",
                        "targetIndex": 0,
                    },
                    {
                        "component": "data",
                        "type": "file",
                        "destination": "/opt/share",
                        "paths": ["csrc/tables/table.bin"],
                    },
                    {"component": "Unspecified", "type": "code"},
                ]
            }
        )
    )
    model = read(build)
    assert model.components == ("_C", "data"), "expected CMake's default component left out"
    target, data, code = model.installs
    assert target.files == (("out/_C.abi3.so", "_C.so"),) and target.target == "_C"
    assert target.installed() == ["lib/python/pkg/_C.so"]
    assert data.files == (("csrc/tables/table.bin", "table.bin"),) and data.target is None
    assert data.installed() == ["/opt/share/table.bin"]
    assert code.files == () and code.installed() == []


def test_generated_sources_are_marked(tmp_path: Path) -> None:
    build = tmp_path / "b"
    fake_codemodel(build, {"_C": "MODULE_LIBRARY"}, ["_C"], sources={"_C": ["csrc/a.cpp"]})
    target_file = api_dir(build) / "reply" / "target-_C.json"
    data = json.loads(target_file.read_text())
    generated = str(build / "gen" / "kernels.cu")
    data["sources"].append({"path": generated, "compileGroupIndex": 1, "isGenerated": True})
    target_file.write_text(json.dumps(data))
    target = read(build).target("_C")
    assert target.sources == ("csrc/a.cpp", generated)
    assert target.generated == (generated,)


def test_what_configure_read(tmp_path: Path) -> None:
    build = tmp_path / "b"
    inputs = ["CMakeLists.txt", "cmake/utils.cmake", "csrc/version.txt.in"]
    fake_codemodel(build, {"_C": "MODULE_LIBRARY"}, ["_C"], cmake_inputs=inputs)
    model = read(build)
    assert model.cmake_inputs == tuple(inputs), "expected CMake's own modules left out"
    for path in (*inputs, "sub/CMakeLists.txt", "cmake/new/x.txt", "a/b.cmake"):
        assert model.read_by_configure(path), f"expected {path} to mean a configure"
    for path in ("csrc/ops.h", "csrc/cmake.cpp", "README.md", "setup.py"):
        assert not model.read_by_configure(path), f"expected {path} not to mean a configure"


def test_a_reply_missing_a_target_file_is_no_reply(tmp_path: Path) -> None:
    fake_codemodel(tmp_path / "b", {"_C": "MODULE_LIBRARY"}, ["_C"])
    (api_dir(tmp_path / "b") / "reply" / "target-_C.json").unlink()
    assert read_codemodel(tmp_path / "b") is None


def test_request_brings_an_older_query_up_to_date(tmp_path: Path) -> None:
    query = api_dir(tmp_path) / "query" / "client-vllm-build-tools" / "query.json"
    query.parent.mkdir(parents=True)
    query.write_text(json.dumps({"requests": [{"kind": "codemodel", "version": 2}]}))
    request_codemodel(tmp_path)
    assert json.loads(query.read_text()) == QUERY
    assert {r["kind"] for r in QUERY["requests"]} == {"codemodel", "cmakeFiles"}


def test_make_program_and_launchers_from_the_cache(tmp_path: Path) -> None:
    (tmp_path / "CMakeCache.txt").write_text(
        "CMAKE_MAKE_PROGRAM:FILEPATH=/v/bin/ninja\n"
        "CMAKE_CXX_COMPILER_LAUNCHER:STRING=/usr/bin/ccache\n"
        "CMAKE_CUDA_COMPILER_LAUNCHER:STRING=/usr/bin/ccache;--flag\n"
    )
    assert make_program(tmp_path) == "/v/bin/ninja"
    assert launchers(tmp_path) == ["/usr/bin/ccache", "--flag"]
    assert make_program(tmp_path / "none") is None and launchers(tmp_path / "none") == []
