"""issue 18, on the example: a precompiled install from a wheel of the example, then builds that
compile only what differs from it, with real uv, cmake, ninja, ccache and nvcc.

The wheel is built once the way a release is (tests/integration/example_wheel.py); each test
takes a fresh copy, bootstrapped with VLLM_PRECOMPILED_WHEEL_LOCATION pointing at it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.helpers import copy_example
from tests.integration.tools import ninja_log_lines, objects, ok, outputs_built_since

LIBS = ("minivllm/_C.abi3.so", "minivllm/_moe_C.abi3.so")


@pytest.fixture
def wheel(example_wheel: Path) -> Path:
    return example_wheel


def wheel_sha(wheel: Path, member: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return hashlib.sha256(archive.read(member)).hexdigest()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def copy(tmp_path: Path, wheel: Path, env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """A fresh copy bootstrapped from the wheel: the bootstrap itself compiles nothing."""
    src = copy_example(tmp_path / "my src" / "minivllm")
    with_wheel = {**env, "VLLM_PRECOMPILED_WHEEL_LOCATION": str(wheel)}
    out = ok("bootstrap", "--source", str(src), env=with_wheel)
    assert "precompiled kernels from the wheel at" in out, out
    assert "build skipped: nothing differs from the precompiled kernels" in out, out
    built = objects(outputs_built_since(src / "cmake-build-release", []))
    assert built == [], f"a bootstrap over precompiled kernels compiled {built}"
    for lib in LIBS:
        assert sha(src / lib) == wheel_sha(wheel, lib), f"{lib} is not the wheel's"
    return src, with_wheel


def edit(path: Path) -> None:
    path.write_text(path.read_text() + "\n// an edit\n")


def built_targets(src: Path, before: list[str]) -> set[str]:
    compiled = objects(outputs_built_since(src / "cmake-build-release", before))
    return {o.split("CMakeFiles/", 1)[1].split(".dir/", 1)[0] for o in compiled}


def test_an_edit_of_one_target_builds_and_installs_only_it(
    copy: tuple[Path, dict[str, str]], wheel: Path
) -> None:
    src, env = copy
    before = ninja_log_lines(src / "cmake-build-release")
    edit(src / "csrc" / "moe" / "topk_softmax.cpp")
    out = ok("build", "--source", str(src), env=env)
    assert built_targets(src, before) == {"_moe_C"}, out
    assert "kept as the wheel has them: _C" in out, out
    assert sha(src / LIBS[0]) == wheel_sha(wheel, LIBS[0]), "_C is no longer the wheel's"
    assert sha(src / LIBS[1]) != wheel_sha(wheel, LIBS[1]), "the edited _moe_C was not installed"
    record = json.loads((src / ".vllm-build-tools" / "provenance.json").read_text())
    origins = {Path(k).name: v["origin"] for k, v in record.items()}
    expected = {"_C.abi3.so": "precompiled", "_moe_C.abi3.so": "built here"}
    assert origins == {**expected, "_extra_C.abi3.so": "precompiled"}, origins
    again = ninja_log_lines(src / "cmake-build-release")
    out = ok("build", "--source", str(src), env=env)  # built here: kept up to date, no work
    assert built_targets(src, again) == set(), out


@pytest.mark.parametrize(
    ("header", "expected"),
    [("csrc/py_utils.h", {"_C", "_moe_C"}), ("csrc/ops.h", {"_C"})],
)
def test_a_header_builds_exactly_the_targets_that_include_it(
    copy: tuple[Path, dict[str, str]], header: str, expected: set[str]
) -> None:
    src, env = copy
    edit(src / header)
    planned = ok("build", "--source", str(src), "--plan", env=env)
    assert built_targets(src, []) == set(), f"--plan compiled something:\n{planned}"
    for target in expected:
        assert f"{target}: " in planned and f"includes {header}" in planned, planned
    before = ninja_log_lines(src / "cmake-build-release")
    out = ok("build", "--source", str(src), env=env)
    assert built_targets(src, before) == expected, out


def test_all_builds_every_target(copy: tuple[Path, dict[str, str]]) -> None:
    src, env = copy
    out = ok("build", "--source", str(src), "--all", env=env)
    assert built_targets(src, []) == {"_C", "_moe_C"}, out
    assert "--all: every target is built" in out, out


def test_the_dry_run_says_where_the_kernels_will_come_from(
    tmp_path: Path, wheel: Path, env: dict[str, str]
) -> None:
    src = copy_example(tmp_path / "fresh")
    with_wheel = {**env, "VLLM_PRECOMPILED_WHEEL_LOCATION": str(wheel)}
    out = ok("bootstrap", "--source", str(src), "--dry-run", env=with_wheel)
    assert f"precompiled kernels from the wheel at {wheel} (a local file)" in out, out
    assert not (src / ".venv").exists(), "a dry run created the venv"


def test_a_fresh_tree_where_the_install_points_gets_its_kernels(
    copy: tuple[Path, dict[str, str]], wheel: Path
) -> None:
    """A tree unpacked afresh at the path the venv's editable install names holds no kernels:
    `install` must not call it installed."""
    src, env = copy
    for found in (src / "minivllm").glob("*.so"):
        found.unlink()
    shutil.rmtree(src / ".vllm-build-tools")  # a fresh tree holds none of our records
    out = ok("install", "--source", str(src), env=env)
    assert "holds none of its precompiled kernels" in out, out
    for lib in LIBS:
        assert sha(src / lib) == wheel_sha(wheel, lib), f"{lib} was not installed again"
    again = ok("install", "--source", str(src), env=env)
    assert "install skipped" in again, again
