"""ruff and mypy stay clean: the same checks `nox -s lint` runs."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from build_tools.settings import SUITE_ROOT

CHECKS = {
    "ruff check": [sys.executable, "-m", "ruff", "check", "."],
    "ruff format": [sys.executable, "-m", "ruff", "format", "--check", "."],
    "mypy": [sys.executable, "-m", "mypy"],
}


@pytest.mark.parametrize("name", CHECKS)
def test_clean(name: str) -> None:
    tool = name.split()[0]
    if (
        shutil.which(tool) is None
        and subprocess.run(
            [sys.executable, "-m", tool, "--version"], capture_output=True, check=False
        ).returncode
    ):
        pytest.skip(f"{tool} is not installed (pip install -e '.[test]')")
    done = subprocess.run(CHECKS[name], cwd=SUITE_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
