"""`vllm-build` as a program (cli/program.py, cli/tasks.py): its global flags, its version,
and `bench` offered only where the benchmarks can be imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from build_tools.cli import program

# The tasks offered, where the benchmarks package can be found or (HIDE) cannot: an install
# of the suite without it (an editable install finds it by name from any directory).
TASKS = "import json; from build_tools.cli.tasks import ns; print(json.dumps(sorted(ns.tasks)))"
HIDE = (
    "import importlib.util as u; real = u.find_spec; "
    "u.find_spec = lambda name, *a: None if name.startswith('benchmarks') else real(name, *a); "
)


def test_only_the_global_flags_that_apply_and_the_suites_version() -> None:
    """issue 26: invoke's core flags for its own `c.run` (--dry, --echo, --pty, sudo, ...) are
    not offered; --version is the suite's, not "unknown"."""
    made = program.BuildProgram(name=program.NAME, binary=program.NAME, version=program.version())
    names = {arg.name for arg in made.core_args()}
    assert names == set(program.GLOBAL_FLAGS), names
    assert program.version() == metadata.version("vllm-build-tools")


def tasks_where(tmp_path: Path, code: str) -> list[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    env.update((k, v) for k, v in os.environ.items() if k == "PYTHONPATH")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    names: list[str] = json.loads(done.stdout)
    return names


def test_bench_is_offered_only_where_the_benchmarks_import(tmp_path: Path) -> None:
    """issue 26: `vllm-build bench` outside the repository failed with ModuleNotFoundError:
    installed, the suite carries the benchmarks; an install without them offers no bench."""
    assert "bench" in tasks_where(tmp_path, TASKS)  # from a directory outside the repository
    offered = tasks_where(tmp_path, HIDE + TASKS)
    assert "bench" not in offered and "build" in offered, offered
