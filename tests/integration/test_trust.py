"""Never lose a build, never race: each numbered defect of issue 10, with real uv/cmake/ninja/
ccache/nvcc over one bootstrapped copy of the example (the tests run in order and leave it
buildable)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from build_tools.process.lock import lock_path
from build_tools.settings import SUITE_ROOT
from tests.helpers import copy_example
from tests.integration.tools import (
    bootstrap_copy,
    digest,
    invoke,
    ninja_log_lines,
    objects,
    ok,
    outputs_built_since,
)


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    return bootstrap_copy(tmp_path_factory, "trust", env)


def bdir(src: Path) -> Path:
    return src / "cmake-build-release"


def presets(src: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((src / "CMakeUserPresets.json").read_text())
    return data


def write_presets(src: Path, data: dict[str, Any]) -> None:
    (src / "CMakeUserPresets.json").write_text(json.dumps(data, indent=2))


def test_1_clean_build_with_an_unknown_target_deletes_nothing(
    src: Path, env: dict[str, str]
) -> None:
    keep = bdir(src) / "keep-me"
    keep.write_text("x")
    before = ninja_log_lines(bdir(src))
    run = invoke("clean-build", "--source", str(src), "--target", "nosuchtarget", env=env)
    assert run.returncode == 1, run.output
    assert "'nosuchtarget' is not a target" in run.output and "here: _C, _moe_C" in run.output
    assert keep.exists() and (bdir(src) / "CMakeCache.txt").is_file()
    assert ninja_log_lines(bdir(src)) == before
    keep.unlink()


def test_2_an_interrupted_removal_is_finished_and_a_broken_dir_reconfigured(
    src: Path, env: dict[str, str]
) -> None:
    # What an interrupt during clean-build's delete leaves: a renamed-aside, half-deleted copy.
    aside = bdir(src).with_name(bdir(src).name + ".removing-1-2")
    shutil.copytree(bdir(src), aside, symlinks=True)
    (aside / "CMakeFiles" / "rules.ninja").unlink()
    out = ok("build", "--source", str(src), env=env)
    assert "finishing the removal" in out and not aside.exists()
    # A build dir that lost a file ninja loads is reconfigured, never built into an error.
    (bdir(src) / "CMakeFiles" / "rules.ninja").unlink()
    out = ok("build", "--source", str(src), env=env)
    assert "configure ran" in out and (bdir(src) / "CMakeFiles" / "rules.ninja").is_file()


def test_3_a_user_preset_that_inherits_its_binary_dir(src: Path, env: dict[str, str]) -> None:
    data = presets(src)
    data["configurePresets"] += [
        {
            "name": "mine-base",
            "hidden": True,
            "inherits": "release",
            "environment": {"VBT_FLAVOUR": "fast"},
            "binaryDir": "${sourceDir}/out/$env{VBT_FLAVOUR}-${presetName}",
        },
        {"name": "mine", "inherits": "mine-base"},
    ]
    data["buildPresets"].append({"name": "mine", "configurePreset": "mine"})
    write_presets(src, data)
    ok("build", "--source", str(src), "--preset", "mine", env=env)
    real = src / "out" / "fast-mine"
    assert (real / "CMakeCache.txt").is_file()
    assert not (src / "cmake-build-mine").exists()
    out = ok("clean-build", "--source", str(src), "--preset", "mine", env=env)
    assert f"removed {real}" in out and (real / "CMakeCache.txt").is_file()


def test_5_a_held_build_dir_makes_no_wait_fail_and_others_wait(
    src: Path, env: dict[str, str]
) -> None:
    path = lock_path(src / ".vllm-build-tools", bdir(src))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\n"
            "from build_tools.process.lock import hold\n"
            "with hold(Path(sys.argv[1]), 'x', wait=False, say=print, warn=print, "
            "command='invoke build (test)'):\n    print('held', flush=True)\n    time.sleep(4)\n",
            str(path),
        ],
        cwd=SUITE_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    run = invoke("build", "--source", str(src), "--no-wait", env=env)
    assert run.returncode == 1
    assert f"in use by pid {holder.pid} (invoke build (test)) since" in run.output, run.output
    start = time.monotonic()
    out = ok("build", "--source", str(src), env=env)
    assert "waiting for build dir" in out and f"pid {holder.pid}" in out
    assert holder.wait() == 0 and time.monotonic() - start > 1.0


def test_6_a_setting_removed_from_the_preset_leaves_the_cache(
    src: Path, env: dict[str, str]
) -> None:
    def cache() -> str:
        return (bdir(src) / "CMakeCache.txt").read_text()

    assert "CMAKE_CXX_COMPILER_LAUNCHER:" in cache()
    ok("presets", "--source", str(src), "--launcher", "none", "--no-memory-gate", env=env)
    out = ok("build", "--source", str(src), env=env)
    assert "configuring from a new cache" in out, out
    assert "the preset no longer sets CMAKE_CUDA_COMPILER_LAUNCHER" in out, out
    assert "CMAKE_CXX_COMPILER_LAUNCHER:" not in cache()
    assert list(bdir(src).glob("CMakeCache.txt.*.bak")), "the old cache is kept aside"
    ok("presets", "--source", str(src), env=env)
    ok("build", "--source", str(src), env=env)
    assert "CMAKE_CXX_COMPILER_LAUNCHER:" in cache()


@pytest.mark.parametrize(
    ("value", "shape"), [('"oops"', "a string"), ('{"name": "x"}', "an object")]
)
def test_8_a_wrong_shaped_presets_file_is_named_and_left_untouched(
    src: Path, env: dict[str, str], value: str, shape: str
) -> None:
    path = src / "CMakeUserPresets.json"
    good = path.read_bytes()
    path.write_text('{"version": 6, "configurePresets": ' + value + "}\n")
    broken = path.read_bytes()
    for task in ("presets", "build"):
        run = invoke(task, "--source", str(src), env=env)
        assert run.returncode == 1
        assert f"configurePresets in {path} is {shape}, not a list" in run.output
        assert path.read_bytes() == broken
    path.write_bytes(good)


def test_8_backups_are_timestamped_and_the_last_five_kept(src: Path, env: dict[str, str]) -> None:
    path = src / "CMakeUserPresets.json"
    seen = []
    for jobs in range(1, 8):
        seen.append(path.read_text())
        ok("presets", "--source", str(src), "--jobs", str(jobs), env=env)
    backups = sorted(src.glob("CMakeUserPresets.json.*.bak"))
    assert len(backups) == 5
    assert [b.read_text() for b in backups] == seen[-5:]
    ok("presets", "--source", str(src), env=env)


def test_8_included_presets_files_are_understood(src: Path, env: dict[str, str]) -> None:
    (src / "more-presets.json").write_text(
        json.dumps(
            {
                "version": 6,
                "configurePresets": [
                    {"name": "incl-base", "hidden": True, "binaryDir": "${fileDir}/b-incl"}
                ],
            }
        )
    )
    data = presets(src)
    data["include"] = ["more-presets.json"]
    data["configurePresets"].append({"name": "incl", "inherits": ["incl-base", "release"]})
    data["buildPresets"].append({"name": "incl", "configurePreset": "incl"})
    write_presets(src, data)
    ok("presets", "--source", str(src), "--jobs", "1", env=env)
    assert presets(src)["include"] == ["more-presets.json"]
    ok("build", "--source", str(src), "--preset", "incl", env=env)
    assert (src / "b-incl" / "CMakeCache.txt").is_file()
    ok("presets", "--source", str(src), env=env)


def test_9_a_preset_name_in_the_wrong_case_is_refused(src: Path, env: dict[str, str]) -> None:
    before = (src / "CMakeUserPresets.json").read_bytes()
    run = invoke("build", "--source", str(src), "--preset", "Release", env=env)
    assert run.returncode == 1 and "did you mean Release -> release?" in run.output
    assert (src / "CMakeUserPresets.json").read_bytes() == before
    assert not (src / "cmake-build-Release").exists()


def test_10_a_broken_build_file_is_regenerated_keeping_every_object(
    src: Path, env: dict[str, str]
) -> None:
    """issue 17: the fix for damaged generated files is to generate them again, never to
    delete the build dir (which would cost every object)."""
    ninja_file = bdir(src) / "build.ninja"
    ninja_file.write_text("this is not ninja syntax = = =\n")
    before = object_times(bdir(src))
    out = ok("build", "--source", str(src), env=env)
    assert "the build files are damaged: regenerating them" in out, out
    assert object_times(bdir(src)) == before, "an object was rebuilt or lost"
    assert "clean-build" not in out, out


def object_times(build: Path) -> dict[str, int]:
    """Every object of the build dir's targets (<target>.dir/) and when it was written
    (ninja's log may be recompacted by a regeneration, so it cannot tell what ran)."""
    objs = {str(p.relative_to(build)): p.stat().st_mtime_ns for p in build.rglob("*.dir/**/*.o")}
    assert objs, f"no objects in {build}"
    return objs


def test_10_a_damaged_cmake_cache_is_rebuilt_keeping_every_object(
    src: Path, env: dict[str, str]
) -> None:
    (bdir(src) / "CMakeCache.txt").write_text("garbage\n\0\0")
    before = object_times(bdir(src))
    out = ok("build", "--source", str(src), env=env)
    assert "CMakeCache.txt is damaged" in out and "objects are kept" in out, out
    assert object_times(bdir(src)) == before, "an object was rebuilt or lost"


def test_10_a_compile_error_gets_the_compile_fix(src: Path, env: dict[str, str]) -> None:
    path = src / "csrc" / "layernorm.cpp"
    good = path.read_text()
    path.write_text(good + "\nthis is not C++;\n")
    run = invoke("build", "--source", str(src), env=env)
    path.write_text(good)
    assert run.returncode == 1 and "fix: fix the compile error above" in run.output


def test_13_last_run_log_holds_only_the_last_run(src: Path, env: dict[str, str]) -> None:
    state = src / ".vllm-build-tools"
    ok("targets", "--source", str(src), env=env)
    ok("build", "--source", str(src), "--target", "_moe_C", env=env)
    last, previous = (state / "last-run.log").read_text(), (state / "previous-run.log").read_text()
    assert "--component _moe_C" in last and "--component" not in previous
    summary = json.loads((state / "last-summary.json").read_text())
    assert summary["command"] == "build" and summary["exit"] == 0
    assert [s["name"] for s in summary["steps"]] == ["configure", "build", "load"]


@pytest.mark.parametrize("char", ["$(touch PWNED)", "`touch PWNED`", ";", "'"])
def test_11_paths_nvcc_or_cmake_would_execute_are_refused(
    tmp_path: Path, env: dict[str, str], char: str
) -> None:
    root = copy_example(tmp_path / f"a{char}b" / "minivllm")
    run = invoke("bootstrap", "--source", str(root), env=env)
    assert run.returncode == 1 and "nothing was created" in run.output
    assert not (root / ".venv").exists() and not (root / "CMakeUserPresets.json").exists()
    assert not list(tmp_path.rglob("PWNED")) and not (SUITE_ROOT / "PWNED").exists()


def test_build_after_all_of_that_is_clean(src: Path, env: dict[str, str]) -> None:
    """The copy is still a working build: nothing compiles, the .so is what ninja linked."""
    ok("build", "--source", str(src), env=env)
    before = ninja_log_lines(bdir(src))
    ok("build", "--source", str(src), env=env)
    assert objects(outputs_built_since(bdir(src), before)) == []
    assert digest(src / "minivllm" / "_C.abi3.so") == digest(bdir(src) / "_C.abi3.so")
    assert os.access(src / "minivllm" / "_C.abi3.so", os.R_OK)
