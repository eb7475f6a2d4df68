"""An environment the suite did not create (a docker image's, conda's, a system torch's):
used as it is, never installed into, no .venv made, and our caches kept out of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from build_tools.cmake import cmake_python
from tests.helpers import copy_example
from tests.integration.tools import build_env, invoke, ok, venv_python


@pytest.fixture(scope="module")
def image_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain venv with cmake, ninja and setuptools from pip: no uv, not ours."""
    env = tmp_path_factory.mktemp("image") / "opt env"
    subprocess.run([venv_python(), "-m", "venv", str(env)], check=True)
    constraints = Path(__file__).resolve().parents[2] / "constraints.txt"
    subprocess.run(
        [env / "bin" / "python", "-m", "pip", "install", "-q", "-c", constraints,
         "cmake", "ninja", "setuptools>=77.0.3"],
        check=True,
    )  # fmt: skip
    return env


def listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if "__pycache__" not in str(p))


def test_bootstrap_with_an_existing_environment(image_env: Path, tmp_path: Path) -> None:
    src = copy_example(tmp_path / "my src" / "minivllm")
    env = build_env(tmp_path / "ccache")
    before = listing(image_env)
    out = ok("bootstrap", "--source", str(src), "--venv", str(image_env), env=env)
    assert f"venv skipped: using the existing environment {image_env}" in out
    assert "satisfied by the existing environment" in out
    assert "install skipped: not installing minivllm into" in out
    assert "uv pip install" not in out and " venv --python" not in out
    assert not (src / ".venv").exists()
    assert listing(image_env) == before  # nothing of ours written into it
    presets = json.loads((src / "CMakeUserPresets.json").read_text())
    python = presets["configurePresets"][0]["cacheVariables"]["VLLM_PYTHON_EXECUTABLE"]
    assert cmake_python.interpreter_of(python) == image_env / "bin" / "python"
    assert (src / "minivllm" / "_C.abi3.so").is_file()
    smoke = subprocess.run(
        [image_env / "bin" / "python", "-m", "minivllm.smoke"],
        cwd=src,
        capture_output=True,
        text=True,
        check=False,
    )
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr


def test_a_missing_requirement_is_named_not_installed(image_env: Path, tmp_path: Path) -> None:
    src = copy_example(tmp_path / "my src" / "minivllm")
    (src / "requirements" / "build.txt").write_text("cmake>=3.26.1\nninja\nnot-installed-pkg\n")
    before = listing(image_env)
    run = invoke("deps", "--source", str(src), "--venv", str(image_env), env=build_env(tmp_path))
    assert run.returncode == 0 and "uv pip install" not in run.output
    assert "lacks what build.txt asks for: not-installed-pkg" in run.output
    assert "--install-into-venv" in run.output and listing(image_env) == before


def test_an_exported_arch_list_is_honoured_and_shown(tmp_path: Path) -> None:
    src = copy_example(tmp_path / "my src" / "minivllm")
    env = {**build_env(tmp_path / "ccache"), "TORCH_CUDA_ARCH_LIST": "8.0 9.0"}
    del env["VLLM_BUILD_ARCH"]
    out = ok("config", env=env)
    assert any("arch" in r and "8.0 9.0" in r and "env TORCH_CUDA_ARCH_LIST" in r
               for r in out.splitlines()), out.splitlines()  # fmt: skip
    out = ok("presets", "--source", str(src), "--dry-run", env=env)
    if "CMAKE_CUDA_COMPILER" in out:  # nvcc on this machine
        assert '"TORCH_CUDA_ARCH_LIST": "8.0 9.0"' in out
        assert "arch from env TORCH_CUDA_ARCH_LIST" in out
    assert sys.executable
