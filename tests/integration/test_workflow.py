"""The real chain (uv, cmake, ninja, ccache; nvcc where present) over a copy of the example.

One module-scoped bootstrap; the tests after it edit, rebuild and clean that same copy, in
order. Slow (about a minute or two on 2 cores): marked `integration`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from build_tools.cmake import cmake_python
from tests.helpers import copy_example
from tests.integration.tools import (
    HAS_NVCC,
    bootstrap_copy,
    digest,
    invoke,
    ninja_log_lines,
    objects,
    ok,
    outputs_built_since,
    real_work,
)


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    return bootstrap_copy(tmp_path_factory, "work", env)


def build_dir(src: Path) -> Path:
    return src / "cmake-build-release"


def test_bootstrap_installs_importable_extensions(src: Path) -> None:
    for name in ("_C", "_moe_C"):
        assert (src / "minivllm" / f"{name}.abi3.so").is_file()
    python = src / ".venv" / "bin" / "python"
    smoke = subprocess.run(
        [python, "-m", "minivllm.smoke"], cwd="/", capture_output=True, text=True, check=False
    )
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "_C" in smoke.stdout and "_moe_C" in smoke.stdout
    presets = json.loads((src / "CMakeUserPresets.json").read_text())
    cache = presets["configurePresets"][0]["cacheVariables"]
    assert cache["VLLM_PYTHON_EXECUTABLE"] == str(src / ".vllm-build-tools" / "python")
    assert cmake_python.interpreter_of(cache["VLLM_PYTHON_EXECUTABLE"]) == python
    assert cache["CMAKE_JOB_POOL_COMPILE"] == "compile"
    if HAS_NVCC:
        assert (build_dir(src) / "CMakeCache.txt").read_text().count("CMAKE_CUDA_COMPILER:") == 1
        assert presets["configurePresets"][0]["environment"]["TORCH_CUDA_ARCH_LIST"] == "9.0"


def test_second_build_compiles_nothing(src: Path, env: dict[str, str]) -> None:
    before = ninja_log_lines(build_dir(src))
    out = ok("build", "--source", str(src), env=env)
    assert real_work(outputs_built_since(build_dir(src), before)) == []
    assert "up to date" in out


def test_rerunning_bootstrap_skips_every_step(src: Path, env: dict[str, str]) -> None:
    before = ninja_log_lines(build_dir(src))
    presets_before = (src / "CMakeUserPresets.json").read_bytes()
    out = ok("bootstrap", "--source", str(src), env=env)
    for step in ("venv", "install", "deps", "presets", "configure"):
        assert f"    {step} skipped" in out, out
    assert real_work(outputs_built_since(build_dir(src), before)) == []
    assert (src / "CMakeUserPresets.json").read_bytes() == presets_before


def test_editing_one_cpp_recompiles_exactly_that_unit(src: Path, env: dict[str, str]) -> None:
    c_so, moe_so = src / "minivllm" / "_C.abi3.so", src / "minivllm" / "_moe_C.abi3.so"
    c_before, moe_before = digest(c_so), digest(moe_so)
    before = ninja_log_lines(build_dir(src))
    with (src / "csrc" / "layernorm.cpp").open("a") as handle:
        handle.write('\nextern "C" int minivllm_edit_marker_1() { return 1; }\n')
    ok("build", "--source", str(src), env=env)
    built = objects(outputs_built_since(build_dir(src), before))
    assert len(built) == 1 and built[0].endswith("layernorm.cpp.o"), built
    assert digest(c_so) != c_before
    assert digest(moe_so) == moe_before


def test_rapid_edit_build_cycles_never_leave_a_stale_so(src: Path, env: dict[str, str]) -> None:
    """cmake --install compares timestamps to the second: back-to-back builds must still install."""
    installed, built = src / "minivllm" / "_C.abi3.so", build_dir(src) / "_C.abi3.so"
    seen = {digest(installed)}
    for n in range(10, 13):
        with (src / "csrc" / "layernorm.cpp").open("a") as handle:
            handle.write(f'\nextern "C" int minivllm_rapid_marker_{n}() {{ return {n}; }}\n')
        ok("build", "--source", str(src), env=env)
        assert digest(installed) == digest(built), f"cycle {n}: installed .so is stale"
        seen.add(digest(installed))
    assert len(seen) == 4


def test_target_builds_and_installs_only_that_extension(src: Path, env: dict[str, str]) -> None:
    c_so, moe_so = src / "minivllm" / "_C.abi3.so", src / "minivllm" / "_moe_C.abi3.so"
    with (src / "csrc" / "layernorm.cpp").open("a") as handle:  # _C is stale too
        handle.write('\nextern "C" int minivllm_edit_marker_2() { return 2; }\n')
    with (src / "csrc" / "moe" / "topk_softmax.cpp").open("a") as handle:
        handle.write('\nextern "C" int minivllm_edit_marker_3() { return 3; }\n')
    c_before, moe_before = digest(c_so), digest(moe_so)
    before = ninja_log_lines(build_dir(src))
    out = ok("build", "--source", str(src), "--target", "_moe_C", env=env)
    assert "--component _moe_C" in out
    built = objects(outputs_built_since(build_dir(src), before))
    assert len(built) == 1 and built[0].endswith("topk_softmax.cpp.o"), built
    assert digest(moe_so) != moe_before
    assert digest(c_so) == c_before  # _C was neither rebuilt nor reinstalled


def test_raw_cmake_commands_keep_working(src: Path) -> None:
    cmake = src / ".venv" / "bin" / "cmake"
    done = subprocess.run(
        [cmake, "--build", "--preset", "release", "--target", "install"],
        cwd=src,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (src / "minivllm" / "_C.abi3.so").is_file()


def test_targets_lists_the_extensions(src: Path, env: dict[str, str]) -> None:
    out = ok("targets", "--source", str(src), env=env)
    rows = [row.strip() for row in out.splitlines()]
    assert "_C" in rows and "_moe_C" in rows


def test_unknown_target_gets_suggestions(src: Path, env: dict[str, str]) -> None:
    run = invoke("build", "--source", str(src), "--target", "_moe", env=env)
    assert run.returncode == 1
    assert "'_moe' is not a target" in run.output and "did you mean _moe_C" in run.output


def test_clean_build_dry_run_shows_the_plan_and_changes_nothing(
    src: Path, env: dict[str, str]
) -> None:
    """Dry run is a property of the plan: the configure and build after the clean would run."""
    before = sorted(p.name for p in build_dir(src).iterdir())
    out = ok("clean-build", "--dry-run", "--source", str(src), env=env)
    assert "rm -rf" in out and "configure dry-run" in out and "build dry-run" in out
    assert "configure skipped" not in out
    assert sorted(p.name for p in build_dir(src).iterdir()) == before


def test_clean_build_rebuilds_from_scratch(src: Path, env: dict[str, str]) -> None:
    marker = build_dir(src) / "stale-marker"
    marker.write_text("x")
    out = ok("clean-build", "--source", str(src), env=env)
    assert not marker.exists()
    assert "configure ran" in out and (build_dir(src) / "CMakeCache.txt").is_file()
    assert (src / "minivllm" / "_C.abi3.so").is_file()


def add_user_preset(src: Path, name: str, binary_dir: str) -> None:
    path = src / "CMakeUserPresets.json"
    data = json.loads(path.read_text())
    data["configurePresets"].append({"name": name, "inherits": "release", "binaryDir": binary_dir})
    data["buildPresets"].append({"name": name, "configurePreset": name})
    path.write_text(json.dumps(data, indent=2))


@pytest.mark.parametrize(
    ("name", "binary_dir", "message"),
    [
        ("danger-src", "${sourceDir}", "it is the source tree"),
        ("danger-out", "${sourceDir}/../outside", "outside the source tree"),
        ("danger-csrc", "${sourceDir}/csrc", "not a build directory"),
    ],
)
def test_clean_build_refuses_unsafe_dirs(
    src: Path, env: dict[str, str], name: str, binary_dir: str, message: str
) -> None:
    (src.parent / "outside").mkdir(exist_ok=True)
    (src.parent / "outside" / "keep.txt").write_text("mine")
    add_user_preset(src, name, binary_dir)
    run = invoke("clean-build", "--source", str(src), "--preset", name, env=env)
    assert run.returncode != 0
    assert message in run.output
    assert (src / "csrc" / "layernorm.cpp").is_file()
    assert (src.parent / "outside" / "keep.txt").is_file()
    # the user's presets survived our regeneration, which happened before
    assert name in (src / "CMakeUserPresets.json").read_text()


def test_user_presets_survive_regeneration(src: Path, env: dict[str, str]) -> None:
    ok("presets", "--source", str(src), env=env)
    text = (src / "CMakeUserPresets.json").read_text()
    assert "danger-src" in text
    before = (src / "CMakeUserPresets.json").read_bytes()
    ok("presets", "--source", str(src), env=env)
    assert (src / "CMakeUserPresets.json").read_bytes() == before


def test_cpp_only_build_without_a_cuda_compiler(tmp_path: Path, env: dict[str, str]) -> None:
    """--device cpu: no CUDA compiler in the preset, the C++ units alone build and run."""
    src = copy_example(tmp_path / "cpu" / "minivllm")
    ok("bootstrap", "--device", "cpu", "--source", str(src), env=env)
    presets = json.loads((src / "CMakeUserPresets.json").read_text())
    assert "CMAKE_CUDA_COMPILER" not in presets["configurePresets"][0]["cacheVariables"]
    python = src / ".venv" / "bin" / "python"
    smoke = subprocess.run(
        [python, "-m", "minivllm.smoke"], cwd="/", capture_output=True, text=True, check=False
    )
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "ok _C (cuda: not built)" in smoke.stdout
    assert not list((src / "cmake-build-release").rglob("*.cu.o"))
