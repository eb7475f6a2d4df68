"""The suite on real vLLM source trees (PyPI sdists): requirements, install and presets."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.version import Version

from build_tools.checkout import source_tree
from build_tools.cmake import cmake_python
from build_tools.cmake.archs import supported_archs
from build_tools.machine import toolchain as tc
from build_tools.settings import Settings
from tests.integration.tools import cli_env, invoke, ok
from tests.integration.vllm_trees import fetch, light_copy, versions


@pytest.fixture(scope="module", params=versions())
def tree(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return light_copy(fetch(request.param), tmp_path_factory.mktemp("vllm") / "my vllm")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path)


def layout(tree: Path) -> str:
    return "split" if (tree / "requirements" / "build" / "cuda.txt").is_file() else "flat"


def test_checkout_is_recognised(tree: Path) -> None:
    checkout = source_tree.load(Settings(source=tree))
    assert checkout.kind == "vllm" and checkout.name == "vllm"
    assert checkout.cmake_minimum >= (3, 26, 0)
    assert checkout.uses_fetchcontent
    assert checkout.torch_pin and checkout.torch_pin[0].isdigit()
    assert checkout.requires_python.contains(Version("3.12.0"))


@pytest.mark.parametrize(
    ("device", "flat", "split"),
    [
        ("cuda", "requirements/build.txt", "requirements/build/cuda.txt"),
        ("cpu", "requirements/cpu-build.txt", "requirements/build/cpu.txt"),
    ],
)
def test_deps_dry_run_uses_the_right_file(
    tree: Path, env: dict[str, str], device: str, flat: str, split: str
) -> None:
    out = ok("deps", "--dry-run", "--device", device, "--source", str(tree), env=env)
    wanted = tree / (split if layout(tree) == "split" else flat)
    assert wanted.is_file()
    assert f"-r '{wanted}'" in out and "--torch-backend=auto" in out
    assert f"--python '{tree}/.venv/bin/python'" in out


def test_install_dry_run_precompiled_and_local_wheel(
    tree: Path, env: dict[str, str], tmp_path: Path
) -> None:
    out = ok("install", "--dry-run", "--source", str(tree), env=env)
    assert "VLLM_USE_PRECOMPILED=1" in out and f"-e '{tree}'" in out
    wheel = tmp_path / "vllm-0.0.0-cp38-abi3-manylinux1_x86_64.whl"
    out = ok(
        "install",
        "--dry-run",
        "--source",
        str(tree),
        env={**env, "VLLM_PRECOMPILED_WHEEL_LOCATION": str(wheel)},
    )
    assert f"VLLM_PRECOMPILED_WHEEL_LOCATION={wheel}" in out
    out = ok("install", "--dry-run", "--no-precompiled", "--source", str(tree), env=env)
    assert "VLLM_USE_PRECOMPILED" not in out and f"-e '{tree}'" in out


def cmake_326() -> str | None:
    found = shutil.which("cmake")
    version = tc.tool_version(found) if found else None
    return found if version and version >= (3, 26, 0) else None


@pytest.mark.skipif(cmake_326() is None, reason="needs cmake >= 3.26 on PATH")
def test_presets_are_accepted_by_cmake_and_merge(tree: Path, env: dict[str, str]) -> None:
    path = tree / "CMakeUserPresets.json"
    path.write_text(
        json.dumps(
            {
                "version": 6,
                "configurePresets": [
                    {"name": "mine", "binaryDir": "${sourceDir}/build-mine", "generator": "Ninja"}
                ],
            }
        )
    )
    ok("presets", "--source", str(tree), env=env)
    data = json.loads(path.read_text())
    names = [p["name"] for p in data["configurePresets"]]
    assert names == ["mine", "release", "debug", "relwithdebinfo"]
    cache = data["configurePresets"][1]["cacheVariables"]
    assert cache["CMAKE_JOB_POOL_COMPILE"] == "compile"
    assert cache["CMAKE_JOB_POOLS"].startswith("compile=")
    assert cache["FETCHCONTENT_BASE_DIR"] == "${sourceDir}/.deps"
    assert cmake_python.interpreter_of(cache["VLLM_PYTHON_EXECUTABLE"]) in (
        tree / ".venv" / "bin" / "python",
        tree / ".vllm-build-tools" / cmake_python.WRAPPER,  # not written by a dry run
    )
    listed = subprocess.run(
        [str(cmake_326()), "--list-presets=all"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert '"release"' in listed.stdout and '"mine"' in listed.stdout
    before = path.read_bytes()
    ok("presets", "--source", str(tree), env=env)
    assert path.read_bytes() == before


def test_build_target_dry_run_shows_build_and_install(tree: Path, env: dict[str, str]) -> None:
    run = invoke("build", "--dry-run", "--source", str(tree), "--target", "_C", env=env)
    assert run.returncode == 0
    assert "--target _C" in run.output and "--component _C" in run.output


def grep_src_dir_vars(tree: Path) -> set[str]:
    """What a person's grep finds: every $ENV{..._SRC_DIR} in the CMake files."""
    done = subprocess.run(
        ["grep", "-rhoE", r"\$ENV\{[A-Za-z0-9_]+_SRC_DIR\}", "CMakeLists.txt", "cmake"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    return {hit[5:-1] for hit in done.stdout.split()}


def test_every_src_dir_variable_is_discovered_and_reaches_the_preset(
    tree: Path, env: dict[str, str], tmp_path: Path
) -> None:
    wanted = grep_src_dir_vars(tree)
    assert len(wanted) >= 3  # 0.10.2: three; newer releases read more
    assert set(source_tree.load(Settings(source=tree)).src_dir_vars) == wanted
    dirs = {name: tmp_path / name.lower() for name in wanted}
    for path in dirs.values():
        path.mkdir()
    ok("presets", "--source", str(tree), env={**env, **{k: str(v) for k, v in dirs.items()}})
    data = json.loads((tree / "CMakeUserPresets.json").read_text())
    environment = data["configurePresets"][1]["environment"]
    assert {k: environment.get(k) for k in wanted} == {k: str(v) for k, v in dirs.items()}
    out = ok("sources", "--source", str(tree), env=env)
    assert "cutlass" in out and "network" in out and "https://github.com/" in out


@pytest.mark.parametrize(("nvcc", "count"), [((13, 0), 9), ((12, 8), None), ((11, 8), None)])
def test_all_archs_is_the_projects_list_for_the_nvcc(
    tree: Path, nvcc: tuple[int, int], count: int | None
) -> None:
    listed = supported_archs(tree / "CMakeLists.txt", nvcc)
    assert listed is not None and "9.0" in listed.split(";")
    text = (tree / "CMakeLists.txt").read_text()
    assert f'set(CUDA_SUPPORTED_ARCHS "{listed}")' in text
    if count is not None and "13.4" not in text:
        assert len(listed.split(";")) in (count, 11)
