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
