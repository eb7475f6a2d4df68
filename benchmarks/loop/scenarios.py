"""The edit and no-op scenarios (every round runs each contender once, the starting one
rotating); the compiler-cache ones (P3, P5, P6) are in scenarios_cache:

  P1  content edit of one .cpp, installed .so changed:
      invoke build | raw `cmake --build --preset release --target install` | uv pip install -e
  P2  no-op build: invoke build | raw cmake | vllm-build build run in the checkout (>= 10
      rounds); for the profile also invoke build
      with bytecode cached (--write-pyc) and the cmake binary behind the wheel's launcher; and
      start-up floors: `python -m invoke --list`, `invoke --list` through PATH and through the
      pyenv shim, `python -c pass` (likewise)
  P4  content edit of one .cu (needs nvcc): invoke build | raw cmake

The uv contender is followed (untimed) by `VLLM_USE_PRECOMPILED=1 uv pip install -e` to
restore the precompiled editable install; what it changed in the source tree is recorded.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from benchmarks.loop import checks
from benchmarks.loop.environment import pyenv_shim
from benchmarks.loop.harness import BenchError, Contender, Trial, must, play, progress
from benchmarks.loop.workspace import (
    ARCH,
    PRESET,
    Workspace,
    invoke_argv,
    restore_precompiled,
    uv_install_argv,
)
from build_tools.machine.toolchain import unwrap_cmake
from build_tools.process.runner import Outcome
from build_tools.settings import SUITE_ROOT

UV = "uv pip install -e (no precompiled)"
VLLM_BUILD = "vllm-build build (in the checkout)"


def raw_cmake_argv(ws: Workspace) -> list[object]:
    return [ws.venv_bin / "cmake", "--build", "--preset", PRESET, "--target", "install"]


# ---------------------------------------------------------------- P1: edit one .cpp


def uv_contender(ws: Workspace, uv: Path) -> Contender:
    """`uv pip install -e <copy>` without VLLM_USE_PRECOMPILED: setup.py builds via CMake.

    --reinstall-package makes uv rebuild (an installed editable is otherwise left alone). It
    gets the same one arch (TORCH_CUDA_ARCH_LIST) and the same ccache as the other contenders.
    """
    prepare_edit, verify_edit = checks.edit_hooks(ws, ws.cpp_file, checks.cpp_marker)
    trees: dict[int, dict[str, tuple[int, int]]] = {}

    def prepare(trial: Trial) -> dict[str, str]:
        extra = prepare_edit(trial)
        trees[trial.marker] = checks.tree_state(ws.source, ws.build_dir)
        return extra

    def verify(trial: Trial, done: Outcome) -> None:
        verify_edit(trial, done)
        trial.checks["uv_built"] = f"Built {ws.package}" in done.output
        if not trial.checks["uv_built"]:
            raise BenchError(f"uv did not build {ws.package}:\n{done.output[-2000:]}")
        after = checks.tree_state(ws.source, ws.build_dir)
        trial.checks["tree_changes"] = checks.tree_changes(trees.pop(trial.marker), after)

    def cleanup(trial: Trial) -> None:
        trial.checks["restore_precompiled_s"] = round(restore_precompiled(ws, uv), 3)

    argv = tuple(str(a) for a in uv_install_argv(ws, uv))
    env = {**ws.env, "TORCH_CUDA_ARCH_LIST": ARCH}
    return Contender(UV, argv, ws.source, env, prepare, verify, cleanup)


def build_contenders(ws: Workspace, path: Path, text: Callable[[int], str]) -> list[Contender]:
    """invoke build and raw cmake, each after a fresh edit of `path`."""
    prepare, verify = checks.edit_hooks(ws, path, text)
    build = tuple(invoke_argv("build", "--source", ws.source))
    raw = tuple(map(str, raw_cmake_argv(ws)))
    return [
        Contender("invoke build", build, SUITE_ROOT, ws.env, prepare, verify),
        Contender("raw cmake", raw, ws.source, ws.env, prepare, verify),
    ]


def check_import(ws: Workspace) -> str:
    """The venv imports the extension from the source tree (where invoke build installs)."""
    code = f"import {ws.package}._C as m; print(m.__file__)"
    done = must([ws.venv_bin / "python", "-c", code], Path("/"), ws.env)
    where = done.output.strip().splitlines()[-1]
    if Path(where).resolve() != ws.extension.resolve():
        raise BenchError(f"the venv imports {ws.package}._C from {where}, not {ws.extension}")
    return where


def scenario_p1(ws: Workspace, rounds: int, counter: Iterator[int], uv: Path) -> list[Trial]:
    """P1: edit one .cpp; invoke build vs raw cmake vs uv pip install -e (no precompiled)."""
    contenders = [*build_contenders(ws, ws.cpp_file, checks.cpp_marker), uv_contender(ws, uv)]
    trials = play("P1", contenders, rounds, counter, ws.summary)
    must(invoke_argv("build", "--source", ws.source), SUITE_ROOT, ws.env)
    trials[-1].checks["import_after_restore"] = check_import(ws)
    return trials


# ---------------------------------------------------------------- P2: no-op and start-up


def bytecode_env(ws: Workspace) -> dict[str, str]:
    """ws.env with bytecode caching on, the cache kept under the tmp dir (nothing in the repo).

    invoke itself sets sys.dont_write_bytecode unless given --write-pyc, so tasks.py and
    build_tools are compiled from source on every run; this variant measures what caching saves.
    """
    env = {k: v for k, v in ws.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(ws.tmp / "pycache")
    return env


def startup_contenders(ws: Workspace) -> list[Contender]:
    """The floors: invoke --list and python -c pass, direct and through PATH / the pyenv shim."""
    path = ws.env.get("PATH", "")
    contenders = [
        Contender("python -m invoke --list", tuple(invoke_argv("--list")), SUITE_ROOT, ws.env),
        Contender("python -c pass", (sys.executable, "-c", "pass"), SUITE_ROOT, ws.env),
    ]
    for name, args in (("invoke", ("--list",)), ("python3", ("-c", "pass"))):
        shim = pyenv_shim(name, ws.env)
        on_path = shutil.which(name, path=path)
        if on_path and on_path != shim:
            label = f"{name} {' '.join(args)} (PATH)"
            contenders.append(Contender(label, (on_path, *args), SUITE_ROOT, ws.env))
        if shim:
            label = f"{name} {' '.join(args)} (pyenv shim)"
            contenders.append(Contender(label, (shim, *args), SUITE_ROOT, ws.env))
    return contenders


def scenario_p2(ws: Workspace, rounds: int, counter: Iterator[int]) -> list[Trial]:
    """P2: no-op invoke build vs raw cmake, the bytecode-cached and binary variants, start-up."""
    prepare, verify = checks.noop_hooks(ws)
    raw = tuple(map(str, raw_cmake_argv(ws)))
    pyc = tuple(invoke_argv("--write-pyc", "build", "--source", ws.source))
    build = tuple(invoke_argv("build", "--source", ws.source))
    pyc_name, pyc_env = "invoke --write-pyc build (.pyc cached)", bytecode_env(ws)
    program = Path(sys.executable).parent / "vllm-build"  # installed with the suite
    contenders = [
        Contender("invoke build", build, SUITE_ROOT, ws.env, prepare, verify),
        Contender("raw cmake", raw, ws.source, ws.env, prepare, verify),
        Contender(pyc_name, pyc, SUITE_ROOT, pyc_env, prepare, verify),
    ]
    if program.is_file():  # inside the checkout: its --source is the checkout itself
        ours = (str(program), "build")
        contenders.append(Contender(VLLM_BUILD, ours, ws.source, ws.env, prepare, verify))
    binary = unwrap_cmake(ws.venv_bin / "cmake")
    if binary != ws.venv_bin / "cmake":
        argv = (str(binary), *raw[1:])
        contenders.append(
            Contender("raw cmake (wheel's binary)", argv, ws.source, ws.env, prepare, verify)
        )
    contenders += startup_contenders(ws)
    for contender in contenders:  # settle: install whatever is stale, write the .pyc cache
        must(contender.argv, contender.cwd, contender.env)
    return play("P2", contenders, rounds, counter, ws.summary)


# ---------------------------------------------------------------- P4: edit one .cu


def cuda_configured(ws: Workspace) -> bool:
    """The build dir was configured with a CUDA compiler (so .cu files are compiled)."""
    cache = ws.build_dir / "CMakeCache.txt"
    text = cache.read_text(encoding="utf-8", errors="replace") if cache.is_file() else ""
    match = re.search(r"^CMAKE_CUDA_COMPILER:\w+=(.+)$", text, re.MULTILINE)
    return bool(match and match.group(1).strip() and "NOTFOUND" not in match.group(1))


def scenario_p4(ws: Workspace, rounds: int, counter: Iterator[int]) -> list[Trial]:
    """P4: edit one .cu; invoke build vs raw cmake (empty when nvcc is not configured)."""
    if not cuda_configured(ws) or not ws.cu_file.is_file():
        progress("P4 skipped: the build has no CUDA compiler (or the .cu file is missing)")
        return []
    contenders = build_contenders(ws, ws.cu_file, checks.cu_marker)
    return play("P4", contenders, rounds, counter, ws.summary)
