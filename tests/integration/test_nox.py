"""`nox -s kernels` from nothing on a copy of the example, then again with -R (reuse)."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.helpers import copy_example
from tests.integration.tools import (
    build_env,
    ninja_log_lines,
    outputs_built_since,
    real_work,
    shell,
    shell_env,
)


def nox(*args: str, env: dict[str, str]) -> str:
    done = shell([sys.executable, "-m", "nox", *args], env=shell_env(env), timeout=1200)
    assert done.returncode == 0, f"nox {' '.join(args)} failed:\n{done.output}"
    return done.output


def test_nox_lists_sessions_with_help() -> None:
    out = nox("-l", env={})
    for name in ("kernels", "tests", "unit", "lint"):
        line = next((row for row in out.splitlines() if row.startswith(f"* {name}")), "")
        assert "->" in line, f"no session {name} with help in `nox -l`:\n{out}"
        assert len(line.split("->", 1)[1].strip()) > 10, f"{name}'s help is too short: {line}"


def test_kernels_from_nothing_then_reused(tmp_path: Path) -> None:
    src = copy_example(tmp_path / "my src" / "minivllm")
    env = build_env(tmp_path / "ccache")
    envdir = str(tmp_path / "nox envs")
    mine = src / "minivllm" / "_C.abi3.so"  # what the developer's own presets installed
    mine.write_bytes(b"the developer's own build")
    out = nox("-s", "kernels", "--envdir", envdir, "--", "--source", str(src), env=env)
    assert mine.read_bytes() == b"the developer's own build"  # never replaced by CI's build
    staged = src / ".vllm-build-tools" / "stage" / "ci" / "minivllm"
    assert (staged / "_C.abi3.so").is_file() and (staged / "_moe_C.abi3.so").is_file()
    assert "minivllm._C imported from the staging prefix" in out
    assert "minivllm.smoke passed" in out
    installs = [
        row for row in out.splitlines() if row.startswith("nox > ") and "pip install" in row
    ]
    assert len(installs) == 2, out  # requirements and the editable install, via run_install
    assert "ok _C" in out and "ok _moe_C" in out
    assert (src / "cmake-build-ci" / "CMakeCache.txt").is_file()
    assert not (src / "cmake-build-release").exists()  # a developer's build is not disturbed
    line = next((r for r in out.splitlines() if "cache-stats ran" in r), "")
    assert "this run: " in line and "cache hits" in line, f"not this run's own hits: {line}"

    before = ninja_log_lines(src / "cmake-build-ci")
    again = nox("-R", "-s", "kernels", "--envdir", envdir, "--", "--source", str(src), env=env)
    assert "    deps skipped" in again and "    install skipped" in again
    assert "minivllm.smoke passed" in again
    assert real_work(outputs_built_since(src / "cmake-build-ci", before)) == []
