"""The checkout's venv as the venv step and a build find it (steps/venv.py)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from build_tools import workflow
from build_tools.console import Console
from build_tools.errors import BuildToolsError
from build_tools.process.runner import Runner
from build_tools.run import Run, make_run
from build_tools.settings import Settings
from build_tools.steps import venv


def other_release(source: Path, *, ninja_runs: bool) -> Path:
    """A .venv made again with Python 3.10 over the checkout's 3.11 one: its bin/ninja is the
    old one, whose Python package the new interpreter does not have (or, `ninja_runs`, one
    bootstrapped with --python 3.10, whose tools run)."""
    bin_dir = source / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (source / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.10.14\n")
    (bin_dir / "python").symlink_to(sys.executable)
    ninja = bin_dir / "ninja"
    fails = "echo \"ModuleNotFoundError: No module named 'ninja'\" >&2; exit 1"
    ninja.write_text(f"#!/bin/sh\n{'echo 1.13.1' if ninja_runs else fails}\n")
    ninja.chmod(0o755)
    return source / ".venv"


def context(source: Path) -> Run:
    console = Console(io.StringIO())
    settings = Settings(source=source, python="3.11")
    return make_run(settings, console=console, runner=Runner(console, dry_run=False))


@pytest.mark.parametrize("ninja", ["fails", "gone"])
def test_a_venv_of_another_python_is_said_at_build_as_bootstrap_says_it(
    example_copy: Path, ninja: str
) -> None:
    """issue 26: a .venv of another Python minor: `build` failed at `.venv/bin/ninja` (gone
    where uv made the venv afresh) with a generic fix; it says what the venv step says,
    sentence and fix."""
    venv_dir = other_release(example_copy, ninja_runs=False)
    if ninja == "gone":
        (venv_dir / "bin" / "ninja").unlink()
    with pytest.raises(BuildToolsError) as at_build:
        workflow.run(context(example_copy), workflow.BUILD_ONLY)
    with pytest.raises(BuildToolsError) as at_bootstrap:
        venv.venv(context(example_copy))
    said = f"{venv_dir} holds Python 3.10.14, but Python 3.11 was asked for."
    assert at_build.value.problem == said, at_build.value
    assert at_build.value.fix == at_bootstrap.value.fix, at_build.value
    assert "rm -r '" in at_build.value.fix and "--python 3.10" in at_build.value.fix
    assert "`invoke bootstrap`" in at_build.value.fix


def test_a_venv_of_another_python_whose_tools_run_builds(example_copy: Path) -> None:
    """A venv bootstrapped with --python 3.10 and built without it: its tools run, so the build
    goes on (only the venv step holds the asked Python to the letter)."""
    other_release(example_copy, ninja_runs=True)
    venv.tools_run(context(example_copy))
    with pytest.raises(BuildToolsError, match=r"holds Python 3\.10\.14"):
        venv.venv(context(example_copy))


def test_a_venv_of_the_asked_python_is_not_asked_anything(example_copy: Path) -> None:
    """The check costs a build nothing where the venv holds the Python asked for: its ninja
    (here one that would fail, and say it ran) is not run."""
    venv_dir = other_release(example_copy, ninja_runs=False)
    (venv_dir / "pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.11.7\n")
    ran = example_copy / "ninja-ran"
    (venv_dir / "bin" / "ninja").write_text(f"#!/bin/sh\ntouch '{ran}'\nexit 1\n")
    venv.tools_run(context(example_copy))
    assert not ran.exists(), "the venv's ninja was run"
