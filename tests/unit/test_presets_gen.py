from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from build_tools.cmake import presets_gen as ps
from build_tools.cmake import presets_merge as pm
from build_tools.plan.jobs import JobPlan
from build_tools.safety import atomic_file

FACTS = ps.Facts(
    python=Path("/src/.venv/bin/python"),
    cmake_minimum=(3, 26, 1),
    parallelism=JobPlan(jobs=4, nvcc_threads=2, why="test"),
    ninja=Path("/src/.venv/bin/ninja"),
    nvcc=Path("/usr/local/cuda/bin/nvcc"),
    launcher=Path("/usr/bin/ccache"),
    arch_list="9.0",
    environment={"VLLM_CUTLASS_SRC_DIR": "/src/cutlass"},
)


def test_generated_preset_has_everything_vllms_script_writes_and_fixes_it() -> None:
    data = ps.generate("release", FACTS)
    (configure,) = data["configurePresets"]
    (build,) = data["buildPresets"]
    cache = configure["cacheVariables"]
    assert configure["generator"] == "Ninja"
    assert configure["binaryDir"] == "${sourceDir}/cmake-build-release"
    assert cache["CMAKE_BUILD_TYPE"] == "Release"
    assert cache["VLLM_PYTHON_EXECUTABLE"] == "/src/.venv/bin/python"
    assert cache["CMAKE_INSTALL_PREFIX"] == "${sourceDir}"
    assert cache["VLLM_TARGET_DEVICE"] == "cuda"
    assert cache["CMAKE_EXPORT_COMPILE_COMMANDS"] == "ON"
    assert cache["CMAKE_CUDA_COMPILER"] == "/usr/local/cuda/bin/nvcc"
    assert "CMAKE_CUDA_FLAGS" not in cache, "CUDAFLAGS from the shell must still apply"
    assert cache["NVCC_THREADS"] == "2"
    assert cache["CMAKE_JOB_POOLS"] == "compile=4"
    assert cache["CMAKE_JOB_POOL_COMPILE"] == "compile"
    assert cache["FETCHCONTENT_BASE_DIR"] == "${sourceDir}/.deps"
    assert cache["CMAKE_MAKE_PROGRAM"] == "/src/.venv/bin/ninja"
    for lang in ("C", "CXX", "CUDA"):
        assert cache[f"CMAKE_{lang}_COMPILER_LAUNCHER"] == "/usr/bin/ccache"
    assert "CMAKE_HIP_COMPILER_LAUNCHER" not in cache
    assert configure["environment"] == {
        "TORCH_CUDA_ARCH_LIST": "9.0",
        "VLLM_CUTLASS_SRC_DIR": "/src/cutlass",
    }
    assert build["configurePreset"] == "release" and build["jobs"] == 4
    assert ps.ours(configure) and ps.ours(build)


def test_no_nvcc_no_launcher_and_the_generator_is_always_ninja() -> None:
    facts = ps.Facts(
        python=Path("/p"),
        cmake_minimum=(3, 26, 0),
        parallelism=JobPlan(2, 1, ""),
        ninja=Path("/p/ninja"),
        fetchcontent=False,
    )
    (configure,) = ps.generate("debug", facts)["configurePresets"]
    cache = configure["cacheVariables"]
    assert cache["CMAKE_BUILD_TYPE"] == "Debug"
    assert configure["generator"] == "Ninja" and cache["CMAKE_JOB_POOLS"] == "compile=2"
    assert not any(k.startswith("CMAKE_CUDA") or k.endswith("LAUNCHER") for k in cache), cache
    assert "NVCC_THREADS" not in cache and "environment" not in configure
    assert "FETCHCONTENT_BASE_DIR" not in cache  # the project fetches nothing


def user_file() -> dict[str, Any]:
    return {
        "version": 3,
        "cmakeMinimumRequired": {"major": 3, "minor": 28, "patch": 0},
        "vendor": {"someone": {"x": 1}},
        "configurePresets": [{"name": "mine", "binaryDir": "${sourceDir}/mine", "x-keep": 1}],
        "buildPresets": [{"name": "mine", "configurePreset": "mine"}],
    }


def test_merge_keeps_user_presets_and_keys() -> None:
    merged = pm.merge(user_file(), ps.generate("release", FACTS), (3, 26, 1))
    assert merged.data["version"] == 6
    assert merged.data["cmakeMinimumRequired"] == {"major": 3, "minor": 28, "patch": 0}
    assert merged.data["vendor"] == {"someone": {"x": 1}}
    names = [p["name"] for p in merged.data["configurePresets"]]
    assert names == ["mine", "release"]
    assert merged.data["configurePresets"][0]["x-keep"] == 1


def test_merge_replaces_ours_in_place_and_is_stable() -> None:
    first = pm.merge(user_file(), ps.generate("release", FACTS), (3, 26, 1)).data
    changed = ps.Facts(**{**FACTS.__dict__, "arch_list": "8.0;9.0"})
    second = pm.merge(first, ps.generate("release", changed), (3, 26, 1))
    assert second.replaced and not second.kept
    env = second.data["configurePresets"][1]["environment"]
    assert env["TORCH_CUDA_ARCH_LIST"] == "8.0;9.0"
    again = pm.merge(second.data, ps.generate("release", changed), (3, 26, 1))
    assert pm.render(again.data) == pm.render(second.data)
    assert not again.replaced and not again.added


def test_hand_edited_or_foreign_preset_is_kept_unless_forced() -> None:
    """issue 17: a hand edit of our preset never blocks a bootstrap; --force regenerates."""
    data = pm.merge(None, ps.generate("release", FACTS), (3, 26, 1)).data
    data["configurePresets"][0]["cacheVariables"]["NVCC_THREADS"] = "8"
    merged = pm.merge(data, ps.generate("release", FACTS), (3, 26, 1), asked="release")
    assert list(map(str, merged.kept)) == ["configure preset 'release'"], merged.kept
    assert merged.data["configurePresets"][0]["cacheVariables"]["NVCC_THREADS"] == "8"
    forced = pm.merge(data, ps.generate("release", FACTS), (3, 26, 1), force=True)
    assert not forced.kept and list(map(str, forced.replaced)) == ["configure preset 'release'"]
    foreign = {"version": 6, "configurePresets": [{"name": "release"}]}
    theirs = pm.merge(foreign, ps.generate("release", FACTS), (3, 26, 1), asked="release")
    assert theirs.data["configurePresets"] == [{"name": "release"}], "theirs stays as it is"
    builds = [p["name"] for p in theirs.data["buildPresets"]]
    assert builds == ["release"], f"the asked preset needs a build preset: {builds}"


def test_write_atomic_keeps_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "CMakeUserPresets.json"
    assert atomic_file.write_atomic(path, "{}\n") is None
    backup = atomic_file.write_atomic(path, pm.render({"version": 6}))
    assert backup is not None and backup.read_text() == "{}\n"
    assert json.loads(path.read_text()) == {"version": 6}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CMakeUserPresets.json", backup.name]
    assert backup.name.startswith("CMakeUserPresets.json.") and backup.name.endswith(".bak")


@pytest.mark.parametrize(
    ("name", "build_type"),
    [
        ("release", "Release"),
        ("debug", "Debug"),
        ("RelWithDebInfo", "RelWithDebInfo"),
        ("ci", "Release"),
        ("custom", "Release"),
    ],
)
def test_build_type_from_name(name: str, build_type: str) -> None:
    assert ps.build_type(name) == build_type


def test_family_writes_three_presets_each_with_its_own_build_dir() -> None:
    data = ps.generate(ps.family("release"), FACTS)
    names = [p["name"] for p in data["configurePresets"]]
    assert names == ["release", "debug", "relwithdebinfo"]
    assert [p["name"] for p in data["buildPresets"]] == names
    dirs = {p["binaryDir"] for p in data["configurePresets"]}
    assert len(dirs) == 3
    types = [p["cacheVariables"]["CMAKE_BUILD_TYPE"] for p in data["configurePresets"]]
    assert types == ["Release", "Debug", "RelWithDebInfo"]
    assert ps.family("debug") == names
    assert ps.family("ci") == ["ci"]


def test_a_foreign_preset_we_were_not_asked_for_is_kept() -> None:
    theirs = {"name": "debug", "binaryDir": "${sourceDir}/my-debug"}
    existing = {"version": 6, "configurePresets": [theirs]}
    merged = pm.merge(
        existing, ps.generate(ps.family("release"), FACTS), (3, 26, 1), asked="release"
    )
    assert list(map(str, merged.kept)) == ["configure preset 'debug'"], merged.kept
    assert theirs in merged.data["configurePresets"]
    assert "debug" not in [p["name"] for p in merged.data["buildPresets"]]
    asked = pm.merge(existing, ps.generate(ps.family("debug"), FACTS), (3, 26, 1), asked="debug")
    assert list(map(str, asked.kept)) == ["configure preset 'debug'"], asked.kept
    assert "debug" in [p["name"] for p in asked.data["buildPresets"]], "asked: needs a build one"


def test_the_dev_preset_lowers_host_optimisation_and_splits_only_when_asked() -> None:
    (dev,) = ps.generate("dev", FACTS)["configurePresets"]
    (release,) = ps.generate("release", FACTS)["configurePresets"]
    (split,) = ps.generate("dev", replace(FACTS, dev_split=True))["configurePresets"]
    assert dev["cacheVariables"]["CMAKE_CUDA_FLAGS_RELEASE"] == "-O1 -DNDEBUG"
    assert "CMAKE_CUDA_FLAGS_RELEASE" not in release["cacheVariables"]
    assert "CMAKE_CUDA_FLAGS" not in dev["cacheVariables"], dev
    assert split["cacheVariables"]["CMAKE_CUDA_FLAGS"] == "--split-compile=0"
    assert "CMAKE_CUDA_FLAGS" not in release["cacheVariables"], release
    assert dev["binaryDir"] == "${sourceDir}/cmake-build-dev" and ps.family("dev") == ["dev"]
    assert dev["cacheVariables"]["CMAKE_BUILD_TYPE"] == "Release"
