"""Never a dead end: right after `invoke bootstrap` the example's venv has no pytest, and
`invoke test` installs it (the example names no test requirements, so pytest alone) and runs
the tests; an environment we did not create gets the exact command instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from build_tools.machine import venv_state
from tests.integration.tools import bootstrap_copy, invoke

TESTS = "tests/kernels/moe"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    return bootstrap_copy(tmp_path_factory, "testenv", env)


def test_a_venv_of_someone_else_gets_the_exact_command(
    root: Path, env: dict[str, str], tmp_path: Path
) -> None:
    theirs = tmp_path / "theirs"  # an environment we did not create
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(theirs)], check=True)
    run = invoke("test", "--source", str(root), "--venv", str(theirs), "--tests", TESTS, env=env)
    assert run.returncode == 1, run.output
    assert "lacks pytest (the checkout names no test requirements): pytest" in run.output
    assert f"uv pip install --python {theirs / 'bin' / 'python'} pytest" in run.output
    assert "pytest" not in venv_state.installed(theirs)


def test_invoke_test_installs_pytest_and_runs_the_tests(root: Path, env: dict[str, str]) -> None:
    assert "pytest" not in venv_state.installed(root / ".venv")
    run = invoke("test", "--source", str(root), "--tests", TESTS, env=env)
    assert run.returncode == 0, run.output
    assert "installing pytest" in run.output
    assert " passed" in run.output
    assert "pytest" in venv_state.installed(root / ".venv")


def _edited_list(root: Path, env: dict[str, str], path: str, *flags: str) -> str:
    source = root / path
    original = source.read_text()
    source.write_text(original + "\n// edited\n")
    try:
        run = invoke("test", "--list", "--source", str(root), *flags, env=env)
    finally:
        source.write_text(original)
    assert run.returncode == 0, run.output
    return run.output


def test_wider_tests_only_with_wide(root: Path, env: dict[str, str]) -> None:
    narrow = _edited_list(root, env, "csrc/sampler.cpp")
    assert "tests/samplers/test_sampler.py" not in narrow
    assert (
        "1 wider test file(s) outside tests/kernels/ also reach these ops (samplers/ 1)" in narrow
    )
    assert "--wide` runs them too" in narrow
    wide = _edited_list(root, env, "csrc/sampler.cpp", "--wide")
    assert "tests/samplers/test_sampler.py" in wide
    assert (root / ".vllm-build-tools" / "kernel-tests-python.pickle").is_file()  # the index


def test_a_header_that_maps_to_no_op_is_said_with_what_to_pass(
    root: Path, env: dict[str, str]
) -> None:
    out = _edited_list(root, env, "csrc/cuda_info.h")
    assert "csrc/cuda_info.h maps to no op" in out
    assert "--tests tests/kernels`" in out
