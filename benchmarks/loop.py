"""The edit -> rebuild loop, side by side: `invoke build` vs raw cmake vs `uv pip install -e`.

Scenarios (every round runs each contender once, the starting contender rotating from round to
round; medians over the rounds):

  P1  content edit of one .cpp, installed .so changed:
      invoke build | raw `cmake --build --preset release --target install` | uv pip install -e
  P2  no-op build: invoke build | raw cmake (>= 10 rounds); for the profile also invoke build
      with bytecode cached (--write-pyc) and the cmake binary behind the wheel's launcher; and
      start-up floors: `python -m invoke --list`, `invoke --list` through PATH and through the
      pyenv shim, `python -c pass` (likewise)
  P3  `invoke clean-build` with a warm compiler cache | a cold (fresh, empty) one
  P4  content edit of one .cu (needs nvcc): invoke build | raw cmake

Every run is checked: after an edit the installed .so must have changed and contain the new
marker symbol; after a no-op ninja must have run nothing but the install edge and the .so must
be unchanged. The uv contender is followed (untimed) by `VLLM_USE_PRECOMPILED=1 uv pip install
-e` to restore the precompiled editable install; what it changed in the source tree is recorded.
Before each edit the harness waits (untimed) until a new link cannot land within one second of
the installed .so's mtime: `cmake --install` would call it "Up-to-date" (see
settle_install_clock).

It works on a temporary copy of the source (in a directory whose path has a space), bootstrapped
once with `python -m invoke bootstrap` under VLLM_BUILD_ARCH=9.0 (nvcc builds one arch), a private
CCACHE_DIR and VLLM_BUILD_CONFIG pointing at a file that does not exist. Prints a table, writes
JSON and a hand-written SVG chart. A benchmark, not a test: nothing here asserts on time; a run
that did not do what its scenario says (the .so unchanged after an edit, changed after a no-op)
is an error.

    python -m benchmarks.loop [--source PATH] [--runs 5] [--json PATH] [--svg PATH] [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import itertools
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from build_tools.checkout import copy_sources
from build_tools.settings import EXAMPLE_SOURCE, SUITE_ROOT

RESULTS_DIR = SUITE_ROOT / "benchmarks" / "results"
ARCH = "9.0"  # one CUDA arch: what `invoke build` on a one-GPU box compiles
PRESET = "release"
COMMAND_TIMEOUT = 900.0
SCENARIOS = {
    "P1": "edit one .cpp -> installed .so changed",
    "P2": "no-op build, and start-up floors",
    "P3": "invoke clean-build, warm vs cold compiler cache",
    "P4": "edit one .cu -> installed .so changed",
}


class BenchError(Exception):
    """A command failed, or a run did not do what its scenario says."""


# ---------------------------------------------------------------- running commands


@dataclass(frozen=True)
class Done:
    """One finished command: wall seconds, exit code and its merged stdout/stderr."""

    seconds: float
    returncode: int
    output: str


def run(argv: Sequence[object], cwd: Path, env: Mapping[str, str]) -> Done:
    """Run an argv list (no shell), no stdin, output captured; time it with perf_counter."""
    start = time.perf_counter()
    done = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    return Done(time.perf_counter() - start, done.returncode, done.stdout)


def must(argv: Sequence[object], cwd: Path, env: Mapping[str, str]) -> Done:
    """`run`, raising BenchError with the output's tail on a non-zero exit."""
    done = run(argv, cwd, env)
    if done.returncode != 0:
        tail = "\n".join(done.output.splitlines()[-30:])
        shown = " ".join(str(a) for a in argv)
        raise BenchError(f"`{shown}` exited {done.returncode} in {cwd}:\n{tail}")
    return done


def first_line(argv: Sequence[object], pick: int = 0) -> str:
    """Line `pick` of a version probe's output, '' when the tool is missing or fails."""
    try:
        done = run(argv, Path.cwd(), os.environ)
    except OSError:
        return ""
    lines = [line for line in done.output.splitlines() if line.strip()]
    return lines[pick].strip() if lines and done.returncode == 0 else ""


def digest(path: Path) -> str:
    """sha256 of a file, '' when it does not exist."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


# ---------------------------------------------------------------- the workspace


@dataclass(frozen=True)
class Workspace:
    """The temporary copy, the environment every child gets, and the files the edits touch."""

    tmp: Path
    source: Path
    env: dict[str, str]
    package: str
    cpp_file: Path
    cu_file: Path
    extension: Path  # the installed .so that both edits change

    @property
    def venv_bin(self) -> Path:
        return self.source / ".venv" / "bin"

    @property
    def build_dir(self) -> Path:
        return self.source / f"cmake-build-{PRESET}"

    @property
    def ccache_dir(self) -> Path:
        return Path(self.env["CCACHE_DIR"])


def package_name(source: Path) -> str:
    """[project].name of the source's pyproject.toml as an import name (no toml parser needed)."""
    text = (source / "pyproject.toml").read_text(encoding="utf-8")
    project = text.split("[project]", 1)[-1]
    match = re.search(r'^name\s*=\s*["\']([^"\']+)["\']', project, re.MULTILINE)
    return (match.group(1) if match else source.name).replace("-", "_").lower()


def child_env(tmp: Path) -> dict[str, str]:
    """os.environ minus the developer's own build settings, plus the benchmark's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("VLLM_BUILD_") and k != "VLLM_USE_PRECOMPILED"
    }
    env.update(
        VLLM_BUILD_ARCH=ARCH,
        VLLM_BUILD_CONFIG=str(tmp / "no-user-settings.toml"),
        CCACHE_DIR=str(tmp / "ccache"),
    )
    return env


def make_workspace(source: Path, tmp: Path, cpp: str, cu: str) -> Workspace:
    """Copy `source` to `<tmp>/my src/<name>` and name the files the edits touch."""
    copy = copy_sources(source, tmp / "my src" / source.name)
    package = package_name(copy)
    (tmp / "ccache").mkdir()
    return Workspace(
        tmp=tmp,
        source=copy,
        env=child_env(tmp),
        package=package,
        cpp_file=copy / cpp,
        cu_file=copy / cu,
        extension=copy / package / "_C.abi3.so",
    )


def invoke_argv(*args: object) -> list[str]:
    """`<this python> -m invoke <args>`: the suite's front door without any shim."""
    return [sys.executable, "-m", "invoke", *(str(a) for a in args)]


def bootstrap(ws: Workspace) -> list[Trial]:
    """`invoke bootstrap --source <copy>` once (untimed setup: no samples)."""
    must(invoke_argv("bootstrap", "--source", ws.source), SUITE_ROOT, ws.env)
    if not ws.extension.is_file():
        raise BenchError(f"bootstrap did not install {ws.extension}")
    return []


# ---------------------------------------------------------------- trials and contenders


@dataclass
class Trial:
    """One timed run of one contender; `checks` holds what was verified around it."""

    scenario: str
    contender: str
    round: int
    position: int
    marker: int
    seconds: float = 0.0
    checks: dict[str, Any] = field(default_factory=dict)


def _no_env(trial: Trial) -> dict[str, str]:
    """Default prepare hook: no extra environment."""
    return {}


def _no_verify(trial: Trial, done: Done) -> None:
    """Default verify hook: nothing to check."""
    return None


def _no_cleanup(trial: Trial) -> None:
    """Default cleanup hook: nothing to undo."""
    return None


@dataclass(frozen=True)
class Contender:
    """A command to time, and untimed hooks: prepare (returns extra env), verify, cleanup."""

    name: str
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    prepare: Callable[[Trial], dict[str, str]] = _no_env
    verify: Callable[[Trial, Done], None] = _no_verify
    cleanup: Callable[[Trial], None] = _no_cleanup


def rotations(
    contenders: Sequence[Contender], rounds: int
) -> Iterator[tuple[int, list[Contender]]]:
    """Round r runs every contender once, starting with contender r mod n (round-robin)."""
    n = len(contenders)
    for r in range(rounds):
        k = r % n
        yield r, [*contenders[k:], *contenders[:k]]


def play(
    scenario: str, contenders: Sequence[Contender], rounds: int, counter: Iterator[int]
) -> list[Trial]:
    """Time every contender `rounds` times, alternating them within each round."""
    trials = []
    for r, order in rotations(contenders, rounds):
        for position, contender in enumerate(order):
            trial = Trial(scenario, contender.name, r, position, next(counter))
            extra = contender.prepare(trial)
            done = run(contender.argv, contender.cwd, {**contender.env, **extra})
            if done.returncode != 0:
                tail = "\n".join(done.output.splitlines()[-30:])
                raise BenchError(f"{scenario} {contender.name} exited {done.returncode}:\n{tail}")
            trial.seconds = done.seconds
            steps = step_seconds(done.output)
            if steps:
                trial.checks["steps"] = steps
            contender.verify(trial, done)
            contender.cleanup(trial)
            trials.append(trial)
            progress(
                f"{scenario} round {r + 1}/{rounds}  {contender.name:<34} {done.seconds:8.3f} s"
            )
    return trials


STEP_LINE = re.compile(r"^\s+([\w-]+) (?:ran|skipped|dry-run) \((\d+(?:\.\d+)?)s\)")
DONE_LINE = re.compile(r"^done in (\d+(?:\.\d+)?)s")


def step_seconds(output: str) -> dict[str, float]:
    """The seconds invoke's summary reports per step, and in all ('done'); {} for others."""
    steps = {}
    for line in output.splitlines():
        match = STEP_LINE.match(line) or DONE_LINE.match(line)
        if match:
            key = match.group(1) if match.re is STEP_LINE else "done"
            value = match.group(2) if match.re is STEP_LINE else match.group(1)
            steps[key] = float(value)
    return steps


def progress(line: str) -> None:
    """Progress goes to stderr so stdout holds only the report."""
    print(line, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- edits and their checks


def marker_name(n: int) -> str:
    """A symbol name unique per edit; zero-padded so no marker is a prefix of another."""
    return f"loop_marker_{n:06d}"


def cpp_marker(n: int) -> str:
    """C++ appended to the .cpp: a new exported function, so the object really changes."""
    return f'\nextern "C" int {marker_name(n)}() {{ return {n}; }}\n'


def cu_marker(n: int) -> str:
    """CUDA appended to the .cu: a new kernel, so nvcc really compiles device code."""
    return f"\n__global__ void {marker_name(n)}_kernel(int* out) {{ if (out) *out = {n}; }}\n"


INSTALL_CLOCK_S = 1.0  # cmake --install skips a file whose mtime is within 1 s of the build's


def settle_install_clock(installed: Path) -> float:
    """Wait (untimed) until a new link cannot fall within 1 s of the installed file's mtime.

    `cmake --install` (file(INSTALL)) treats a destination whose mtime differs from the build
    output's by less than one second as "Up-to-date", and the installed copy's mtime is the
    build output's, truncated to the second. Two edit -> build cycles that both link within
    one wall-clock second therefore leave the first .so installed. Back-to-back benchmark
    runs hit this (so does any script or editor hook that rebuilds that fast); people don't.
    """
    try:
        wait = installed.stat().st_mtime + INSTALL_CLOCK_S + 0.05 - time.time()
    except OSError:
        return 0.0
    if wait > 0:
        time.sleep(wait)
    return max(wait, 0.0)


def edit_hooks(
    ws: Workspace, path: Path, text: Callable[[int], str]
) -> tuple[Callable[[Trial], dict[str, str]], Callable[[Trial, Done], None]]:
    """prepare: append a new marker to `path`; verify: the installed .so changed and has it."""

    def prepare(trial: Trial) -> dict[str, str]:
        trial.checks["so_before"] = digest(ws.extension)
        trial.checks["install_clock_wait_s"] = round(settle_install_clock(ws.extension), 3)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text(trial.marker))
        return {}

    def verify(trial: Trial, done: Done) -> None:
        after = digest(ws.extension)
        trial.checks["so_after"] = after
        if after == trial.checks["so_before"]:
            skipped = f"Up-to-date: {ws.extension}" in done.output
            why = " (cmake --install called it Up-to-date)" if skipped else ""
            tail = "\n".join(done.output.splitlines()[-15:])
            raise BenchError(
                f"{trial.scenario} {trial.contender}: {ws.extension} did not change after an "
                f"edit of {path.name} (marker {trial.marker}){why}. Output's tail:\n{tail}"
            )
        found = marker_name(trial.marker).encode() in ws.extension.read_bytes()
        trial.checks["marker_in_so"] = found
        if not found:
            raise BenchError(
                f"{trial.scenario} {trial.contender}: {ws.extension} changed but does not "
                f"contain {marker_name(trial.marker)}: was the edit compiled?"
            )

    return prepare, verify


def ninja_log(ws: Workspace) -> list[str]:
    """Lines of the build dir's .ninja_log (append-only unless ninja recompacts it)."""
    path = ws.build_dir / ".ninja_log"
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


def noop_hooks(
    ws: Workspace,
) -> tuple[Callable[[Trial], dict[str, str]], Callable[[Trial, Done], None]]:
    """prepare: remember the .so and ninja's log; verify: nothing compiled, .so unchanged."""
    logs: dict[int, list[str]] = {}

    def prepare(trial: Trial) -> dict[str, str]:
        trial.checks["so_before"] = digest(ws.extension)
        logs[trial.marker] = ninja_log(ws)
        return {}

    def verify(trial: Trial, done: Done) -> None:
        before, after = logs.pop(trial.marker), ninja_log(ws)
        if after[: len(before)] == before:
            ran = [line.split("\t")[3] for line in after[len(before) :] if line.count("\t") >= 3]
            work = [o for o in ran if not o.endswith("install.util")]
            trial.checks["edges_ran"] = work
            if work:
                raise BenchError(f"P2 {trial.contender} was not a no-op: ninja ran {work}")
        if digest(ws.extension) != trial.checks.pop("so_before"):
            raise BenchError(f"P2 {trial.contender} changed {ws.extension}")

    return prepare, verify


# ---------------------------------------------------------------- P1: edit one .cpp


def real_uv() -> Path:
    """The uv binary itself (the `uv` wheel's), not a pyenv shim in front of it."""
    try:
        from uv import find_uv_bin

        return Path(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise BenchError("uv is needed: python3 -m pip install uv") from None
        return Path(found)


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """(mtime_ns, size) of every file in the source tree outside the venv and build dirs."""
    skip = {".venv", f"cmake-build-{PRESET}", ".vllm-build-tools"}
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) == root and d in skip)]
        for name in filenames:
            path = Path(dirpath) / name
            stat = path.stat()
            state[str(path.relative_to(root))] = (stat.st_mtime_ns, stat.st_size)
    return state


def tree_changes(before: Mapping[str, tuple[int, int]], after: Mapping[str, object]) -> list[str]:
    """'+path', '-path', '~path' for files added, removed, modified."""
    added = [f"+{p}" for p in sorted(set(after) - set(before))]
    removed = [f"-{p}" for p in sorted(set(before) - set(after))]
    modified = [f"~{p}" for p in sorted(set(before) & set(after)) if before[p] != after[p]]
    return added + removed + modified


def editable_url(ws: Workspace) -> Optional[str]:
    """The editable install's source URL from PEP 610 direct_url.json, None when not editable."""
    for path in (ws.source / ".venv" / "lib").glob("python*/site-packages/*.dist-info"):
        if not path.name.lower().startswith(ws.package.lower() + "-"):
            continue
        try:
            data = json.loads((path / "direct_url.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return str(data["url"]) if data.get("dir_info", {}).get("editable") else None
    return None


def restore_precompiled(ws: Workspace, uv: Path) -> float:
    """Put the precompiled editable install back (VLLM_USE_PRECOMPILED=1); returns seconds."""
    argv = [uv, "pip", "install", "--python", ws.venv_bin / "python", "-e", ws.source]
    argv += ["--reinstall-package", ws.package]
    done = must(argv, ws.source, {**ws.env, "VLLM_USE_PRECOMPILED": "1"})
    if editable_url(ws) is None:
        raise BenchError(f"{ws.package} is not an editable install after restoring it")
    return done.seconds


def uv_contender(ws: Workspace, uv: Path) -> Contender:
    """`uv pip install -e <copy>` without VLLM_USE_PRECOMPILED: setup.py builds via CMake.

    --reinstall-package makes uv rebuild (an installed editable is otherwise left alone). It
    gets the same one arch (TORCH_CUDA_ARCH_LIST) and the same ccache as the other contenders.
    """
    prepare_edit, verify_edit = edit_hooks(ws, ws.cpp_file, cpp_marker)
    trees: dict[int, dict[str, tuple[int, int]]] = {}

    def prepare(trial: Trial) -> dict[str, str]:
        extra = prepare_edit(trial)
        trees[trial.marker] = tree_state(ws.source)
        return extra

    def verify(trial: Trial, done: Done) -> None:
        verify_edit(trial, done)
        trial.checks["uv_built"] = f"Built {ws.package}" in done.output
        if not trial.checks["uv_built"]:
            raise BenchError(f"uv did not build {ws.package}:\n{done.output[-2000:]}")
        trial.checks["tree_changes"] = tree_changes(trees.pop(trial.marker), tree_state(ws.source))

    def cleanup(trial: Trial) -> None:
        trial.checks["restore_precompiled_s"] = round(restore_precompiled(ws, uv), 3)

    argv = [uv, "pip", "install", "--python", ws.venv_bin / "python", "-e", ws.source]
    argv += ["--reinstall-package", ws.package]
    return Contender(
        "uv pip install -e (no precompiled)",
        tuple(str(a) for a in argv),
        ws.source,
        {**ws.env, "TORCH_CUDA_ARCH_LIST": ARCH},
        prepare,
        verify,
        cleanup,
    )


def build_contenders(ws: Workspace, path: Path, text: Callable[[int], str]) -> list[Contender]:
    """invoke build and raw cmake, each after a fresh edit of `path`."""
    prepare, verify = edit_hooks(ws, path, text)
    raw = [ws.venv_bin / "cmake", "--build", "--preset", PRESET, "--target", "install"]
    return [
        Contender(
            "invoke build",
            tuple(invoke_argv("build", "--source", ws.source)),
            SUITE_ROOT,
            ws.env,
            prepare,
            verify,
        ),
        Contender("raw cmake", tuple(map(str, raw)), ws.source, ws.env, prepare, verify),
    ]


def check_import(ws: Workspace) -> str:
    """The venv imports the extension from the source tree (where invoke build installs)."""
    code = f"import {ws.package}._C as m; print(m.__file__)"
    done = must([ws.venv_bin / "python", "-c", code], Path("/"), ws.env)
    where = done.output.strip().splitlines()[-1]
    if Path(where).resolve() != ws.extension.resolve():
        raise BenchError(f"the venv imports {ws.package}._C from {where}, not {ws.extension}")
    return where


def scenario_p1(ws: Workspace, rounds: int, counter: Iterator[int]) -> list[Trial]:
    """P1: edit one .cpp; invoke build vs raw cmake vs uv pip install -e (no precompiled)."""
    uv = real_uv()
    contenders = [*build_contenders(ws, ws.cpp_file, cpp_marker), uv_contender(ws, uv)]
    trials = play("P1", contenders, rounds, counter)
    must(invoke_argv("build", "--source", ws.source), SUITE_ROOT, ws.env)
    trials[-1].checks["import_after_restore"] = check_import(ws)
    return trials


# ---------------------------------------------------------------- P2: no-op and start-up


def real_cmake(ws: Workspace) -> Optional[Path]:
    """The cmake binary inside the venv's cmake wheel (what .venv/bin/cmake's wrapper execs)."""
    found = sorted((ws.source / ".venv" / "lib").glob("python*/site-packages/cmake/data/bin/cmake"))
    return found[0] if found else None


def is_shim(path: Optional[str]) -> bool:
    """A pyenv shim: a bash script that runs `pyenv exec` before the real program."""
    if not path:
        return False
    try:
        head = Path(path).read_bytes()[:600]
    except OSError:
        return False
    return head.startswith(b"#!") and b"libexec/pyenv" in head


def pyenv_shim(name: str, env: Mapping[str, str]) -> Optional[str]:
    """The pyenv shim for `name` a shell would run: the first one on PATH, else PYENV_ROOT's.

    Under `pyenv exec` (how a shim started this process) PATH begins with the selected
    version's bin dir, so `shutil.which` finds the real program, not the shim a person types.
    """
    dirs = env.get("PATH", "").split(os.pathsep)
    if env.get("PYENV_ROOT"):
        dirs.append(str(Path(env["PYENV_ROOT"]) / "shims"))
    for directory in dirs:
        candidate = Path(directory or ".") / name
        if candidate.is_file() and is_shim(str(candidate)):
            return str(candidate)
    return None


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
    prepare, verify = noop_hooks(ws)
    raw = [ws.venv_bin / "cmake", "--build", "--preset", PRESET, "--target", "install"]
    build = invoke_argv("build", "--source", ws.source)
    contenders = [
        Contender("invoke build", tuple(build), SUITE_ROOT, ws.env, prepare, verify),
        Contender("raw cmake", tuple(map(str, raw)), ws.source, ws.env, prepare, verify),
        Contender(
            "invoke --write-pyc build (.pyc cached)",
            tuple(invoke_argv("--write-pyc", "build", "--source", ws.source)),
            SUITE_ROOT,
            bytecode_env(ws),
            prepare,
            verify,
        ),
    ]
    binary = real_cmake(ws)
    if binary is not None:
        argv = (str(binary), *map(str, raw[1:]))
        contenders.append(
            Contender("raw cmake (wheel's binary)", argv, ws.source, ws.env, prepare, verify)
        )
    contenders += startup_contenders(ws)
    for contender in contenders:  # settle: install whatever is stale, write the .pyc cache
        must(contender.argv, contender.cwd, contender.env)
    return play("P2", contenders, rounds, counter)


# ---------------------------------------------------------------- P3: clean-build and ccache


def ccache_stats(cache_dir: Path, env: Mapping[str, str]) -> dict[str, int]:
    """hits and misses from `ccache --print-stats` (empty when ccache cannot say)."""
    ccache = shutil.which("ccache", path=env.get("PATH", ""))
    if ccache is None:
        return {}
    done = run([ccache, "--print-stats"], cache_dir, {**env, "CCACHE_DIR": str(cache_dir)})
    raw = dict(line.split("\t", 1) for line in done.output.splitlines() if "\t" in line)
    counts = {k: int(v) for k, v in raw.items() if v.strip().isdigit()}
    hits = counts.get("direct_cache_hit", 0) + counts.get("preprocessed_cache_hit", 0)
    return {"hits": hits, "misses": counts.get("cache_miss", 0)}


def ccache_zero(cache_dir: Path, env: Mapping[str, str]) -> None:
    """Zero the statistics of one ccache directory."""
    ccache = shutil.which("ccache", path=env.get("PATH", ""))
    if ccache is not None:
        run([ccache, "--zero-stats"], cache_dir, {**env, "CCACHE_DIR": str(cache_dir)})


def clean_build_contender(ws: Workspace, cold: bool) -> Contender:
    """invoke clean-build with the persistent cache, or a fresh empty cache per run."""

    def cache_of(trial: Trial) -> Path:
        return ws.tmp / f"ccache-cold-{trial.marker}" if cold else ws.ccache_dir

    def prepare(trial: Trial) -> dict[str, str]:
        cache = cache_of(trial)
        cache.mkdir(exist_ok=True)
        ccache_zero(cache, ws.env)
        return {"CCACHE_DIR": str(cache)}

    def verify(trial: Trial, done: Done) -> None:
        trial.checks["ccache"] = ccache_stats(cache_of(trial), ws.env)
        if not ws.extension.is_file() or not (ws.build_dir / "CMakeCache.txt").is_file():
            raise BenchError(f"P3 {trial.contender} left no build dir or no {ws.extension}")

    def cleanup(trial: Trial) -> None:
        if cold:
            shutil.rmtree(cache_of(trial), ignore_errors=True)

    name = "clean-build, cold ccache" if cold else "clean-build, warm ccache"
    argv = tuple(invoke_argv("clean-build", "--source", ws.source))
    return Contender(name, argv, SUITE_ROOT, ws.env, prepare, verify, cleanup)


def scenario_p3(ws: Workspace, rounds: int, counter: Iterator[int]) -> list[Trial]:
    """P3: invoke clean-build, warm (primed, persistent) vs cold (fresh, empty) ccache."""
    must(invoke_argv("clean-build", "--source", ws.source), SUITE_ROOT, ws.env)  # prime
    contenders = [clean_build_contender(ws, cold=False), clean_build_contender(ws, cold=True)]
    return play("P3", contenders, rounds, counter)


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
    return play("P4", build_contenders(ws, ws.cu_file, cu_marker), rounds, counter)


# ---------------------------------------------------------------- statistics, ratios, targets


@dataclass(frozen=True)
class Stats:
    """One contender's samples: count, median, min, max (seconds)."""

    n: int
    median: float
    min: float
    max: float

    @property
    def spread(self) -> float:
        return self.max - self.min


def summarize(values: Sequence[float]) -> Stats:
    """Median, min and max of one contender's samples."""
    return Stats(len(values), statistics.median(values), min(values), max(values))


def stats_by(trials: Sequence[Trial]) -> dict[str, dict[str, Stats]]:
    """scenario (P1..P4) -> contender -> Stats, contenders in the order they first ran."""
    grouped: dict[str, dict[str, list[float]]] = {}
    for trial in trials:
        grouped.setdefault(trial.scenario, {}).setdefault(trial.contender, []).append(trial.seconds)
    return {s: {c: summarize(v) for c, v in grouped[s].items()} for s in sorted(grouped)}


def median_of(
    stats: Mapping[str, Mapping[str, Stats]], scenario: str, name: str
) -> Optional[float]:
    """The median of one contender of one scenario, None when it did not run."""
    found = stats.get(scenario, {}).get(name)
    return found.median if found else None


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    """a / b, None when either is missing."""
    return a / b if a is not None and b else None


def difference(a: Optional[float], b: Optional[float]) -> Optional[float]:
    """a - b, None when either is missing."""
    return a - b if a is not None and b is not None else None


def ratios(stats: Mapping[str, Mapping[str, Stats]]) -> dict[str, Optional[float]]:
    """The five headline numbers."""

    def m(scenario: str, name: str) -> Optional[float]:
        return median_of(stats, scenario, name)

    uv = "uv pip install -e (no precompiled)"
    return {
        "P1 invoke/raw": ratio(m("P1", "invoke build"), m("P1", "raw cmake")),
        "P1 uv/invoke": ratio(m("P1", uv), m("P1", "invoke build")),
        "P2 invoke-raw [s]": difference(m("P2", "invoke build"), m("P2", "raw cmake")),
        "P3 cold/warm": ratio(
            m("P3", "clean-build, cold ccache"), m("P3", "clean-build, warm ccache")
        ),
        "P4 invoke/raw": ratio(m("P4", "invoke build"), m("P4", "raw cmake")),
    }


TARGETS = (  # (ratio key, goal, comparison, limit)
    ("P1 invoke/raw", "P1: invoke build <= 1.15x raw cmake", "<=", 1.15),
    ("P1 uv/invoke", "P1: invoke build >= 20x faster than uv pip install -e", ">=", 20.0),
    ("P2 invoke-raw [s]", "P2: invoke build no-op overhead <= 0.25 s", "<=", 0.25),
    ("P3 cold/warm", "P3: warm clean-build >= 5x faster than cold", ">=", 5.0),
)


def targets(values: Mapping[str, Optional[float]]) -> list[dict[str, Any]]:
    """Each target with its measured value and whether it is met (None: not measured)."""
    out = []
    for key, goal, op, limit in TARGETS:
        value = values.get(key)
        met = None if value is None else (value <= limit if op == "<=" else value >= limit)
        out.append({"target": goal, "ratio": key, "value": value, "limit": limit, "met": met})
    return out


# ---------------------------------------------------------------- report: table


def fmt(value: Optional[float], unit: str = "") -> str:
    """A number for the table, 'n/a' when missing."""
    return "n/a" if value is None else f"{value:.3f}{unit}"


def table(stats: Mapping[str, Mapping[str, Stats]]) -> list[str]:
    """One line per contender: n, median, min, max, spread."""
    head = f"{'':4}{'contender':<40}{'n':>3}{'median':>10}{'min':>10}{'max':>10}{'spread':>10}"
    lines = [head, "-" * len(head)]
    for scenario, by in stats.items():
        lines.append(f"{scenario}  {SCENARIOS.get(scenario, '')}")
        for name, s in by.items():
            lines.append(
                f"{'':4}{name:<40}{s.n:>3}{s.median:>10.3f}{s.min:>10.3f}{s.max:>10.3f}"
                f"{s.spread:>10.3f}"
            )
    return lines


def step_medians(trials: Sequence[Trial]) -> dict[str, dict[str, dict[str, float]]]:
    """scenario -> contender -> step -> median seconds, from invoke's own summary lines."""
    grouped: dict[str, dict[str, dict[str, list[float]]]] = {}
    for trial in trials:
        for step, seconds in trial.checks.get("steps", {}).items():
            by = grouped.setdefault(trial.scenario, {}).setdefault(trial.contender, {})
            by.setdefault(step, []).append(seconds)
    return {
        s: {c: {k: statistics.median(v) for k, v in st.items()} for c, st in grouped[s].items()}
        for s in sorted(grouped)
    }


def step_lines(medians: Mapping[str, Mapping[str, Mapping[str, float]]]) -> list[str]:
    """invoke's own step times: what of a run is the build itself and what is start-up."""
    lines = ["invoke's own step times (median s; 'done' = all steps, the rest is start-up):"]
    for scenario, by in medians.items():
        for name, steps in by.items():
            text = ", ".join(f"{k} {v:.2f}" for k, v in steps.items())
            lines.append(f"    {scenario} {name:<40} {text}")
    return lines


def target_lines(
    values: Mapping[str, Optional[float]], goals: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The headline ratios, then each target: MET, NOT MET or n/a."""
    lines = ["ratios:"]
    lines += [f"    {k:<20} {fmt(v)}" for k, v in values.items()]
    lines.append("targets:")
    for goal in goals:
        verdict = {True: "MET", False: "NOT MET", None: "n/a"}[goal["met"]]
        lines.append(f"    {verdict:<8} {goal['target']}  (measured {fmt(goal['value'])})")
    return lines


# ---------------------------------------------------------------- report: SVG chart

COLORS = {"P1": "#4e79a7", "P2": "#f28e2b", "P3": "#59a14f", "P4": "#b07aa1"}


@dataclass(frozen=True)
class Scale:
    """Log10 seconds -> x pixels between `left` and `left + width`."""

    lo: float
    hi: float
    left: float
    width: float

    def x(self, seconds: float) -> float:
        clamped = min(max(seconds, self.lo), self.hi)
        span = math.log10(self.hi) - math.log10(self.lo)
        return self.left + (math.log10(clamped) - math.log10(self.lo)) / span * self.width


def decades(lo: float, hi: float) -> list[float]:
    """1e-2, 1e-1, 1, ... from lo to hi: the grid lines of the log axis."""
    return [10.0**e for e in range(round(math.log10(lo)), round(math.log10(hi)) + 1)]


def scale_for(stats: Mapping[str, Mapping[str, Stats]], left: float, width: float) -> Scale:
    """A log axis from the decade below the smallest sample to the decade above the largest."""
    values = [v for by in stats.values() for s in by.values() for v in (s.min, s.max)]
    lo = 10.0 ** math.floor(math.log10(max(min(values), 1e-3)))
    hi = 10.0 ** math.ceil(math.log10(max(values) * 1.01))
    return Scale(lo, max(hi, lo * 10), left, width)


def svg_text(x: float, y: float, text: str, **attrs: str) -> str:
    """A <text> element; attrs' underscores become dashes (text_anchor -> text-anchor)."""
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def svg_axis(scale: Scale, top: float, bottom: float) -> list[str]:
    """Vertical grid lines at each decade, labelled in seconds."""
    parts = []
    for d in decades(scale.lo, scale.hi):
        x = scale.x(d)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#ccc"/>')
        parts.append(svg_text(x, bottom + 14, f"{d:g} s", text_anchor="middle", fill="#555"))
    return parts


def svg_bar(scale: Scale, y: float, name: str, s: Stats, color: str) -> list[str]:
    """Label, bar to the median, a min-max whisker and the median's value."""
    x0, xm = scale.x(scale.lo), scale.x(s.median)
    x1, x2 = scale.x(s.min), scale.x(s.max)
    mid = y + 7
    return [
        svg_text(scale.left - 8, y + 11, name, text_anchor="end"),
        f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(xm - x0, 1):.1f}" height="14" '
        f'fill="{color}"><title>{escape(name)}: median {s.median:.3f} s</title></rect>',
        f'<line x1="{x1:.1f}" y1="{mid}" x2="{x2:.1f}" y2="{mid}" stroke="#222"/>',
        f'<line x1="{x1:.1f}" y1="{y + 3}" x2="{x1:.1f}" y2="{y + 11}" stroke="#222"/>',
        f'<line x1="{x2:.1f}" y1="{y + 3}" x2="{x2:.1f}" y2="{y + 11}" stroke="#222"/>',
        svg_text(max(xm, x2) + 6, y + 11, f"{s.median:.3f} s"),
    ]


def render_svg(stats: Mapping[str, Mapping[str, Stats]], title: str) -> str:
    """Horizontal bars of the medians per scenario on a log-seconds axis, min-max whiskers."""
    left, width, row, top = 300.0, 520.0, 22.0, 46.0
    scale = scale_for(stats, left, width)
    body: list[str] = []
    y = top
    for scenario, by in stats.items():
        body.append(
            svg_text(10, y + 12, f"{scenario}: {SCENARIOS.get(scenario, '')}", font_weight="bold")
        )
        y += row
        for name, s in by.items():
            body += svg_bar(scale, y, name, s, COLORS.get(scenario, "#888"))
            y += row
        y += 6
    height = y + 40
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 110:.0f}" '
        f'height="{height:.0f}" font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        svg_text(10, 20, title, font_weight="bold", font_size="14"),
        svg_text(10, 36, "median (bar) and min-max (whisker), seconds, log scale", fill="#555"),
    ]
    return "\n".join([*head, *svg_axis(scale, top, y), *body, "</svg>"]) + "\n"


# ---------------------------------------------------------------- environment facts


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_facts() -> dict[str, Any]:
    """Host, platform, CPU model and count, memory."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    mem = ""
    try:
        mem = Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()[0]
    except OSError:
        pass
    return {
        "node": platform.node(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "memory": " ".join(mem.split()[1:]),
    }


def tool_versions(ws: Workspace, uv: Path) -> dict[str, str]:
    """Versions of everything the contenders run."""
    try:
        from importlib.metadata import version

        invoke_version = version("invoke")
    except Exception:
        invoke_version = ""
    nvcc = shutil.which("nvcc", path=ws.env.get("PATH", "")) or "/usr/local/cuda/bin/nvcc"
    return {
        "python": f"{sys.version.split()[0]} ({sys.executable})",
        "venv python": first_line([ws.venv_bin / "python", "--version"]),
        "invoke": invoke_version,
        "uv": first_line([uv, "--version"]),
        "cmake": first_line([ws.venv_bin / "cmake", "--version"]),
        "ninja": first_line([ws.venv_bin / "ninja", "--version"]),
        "ccache": first_line(["ccache", "--version"]),
        "nvcc": first_line([nvcc, "--version"], pick=-1),
        "c++": first_line(["c++", "--version"]),
        "suite commit": git_describe(),
    }


def git_describe() -> str:
    """The suite's commit (with -dirty when tracked files are modified)."""
    return first_line(["git", "-C", SUITE_ROOT, "describe", "--always", "--dirty"])


def environment_notes(ws: Workspace) -> dict[str, Any]:
    """What of the environment changes the numbers: shims, bytecode, the arch."""
    path = ws.env.get("PATH", "")
    return {
        "VLLM_BUILD_ARCH": ARCH,
        "uv contender TORCH_CUDA_ARCH_LIST": ARCH,
        "CCACHE_DIR": str(ws.ccache_dir),
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
        "invoke sets sys.dont_write_bytecode unless --write-pyc": True,
        "invoke on this process's PATH": shutil.which("invoke", path=path),
        "invoke pyenv shim": pyenv_shim("invoke", ws.env),
        "python3 on this process's PATH": shutil.which("python3", path=path),
        "python3 pyenv shim": pyenv_shim("python3", ws.env),
        "uv on PATH": shutil.which("uv", path=path),
        "uv pyenv shim": pyenv_shim("uv", ws.env),
        "uv binary timed": str(real_uv()),
        "source copy": str(ws.source),
    }


# ---------------------------------------------------------------- self-check (--quick)


def self_check() -> None:
    """Quick checks of the pure parts: stats, rotation, markers, targets, SVG, copy, trees."""
    s = summarize([3.0, 1.0, 2.0])
    assert (s.median, s.min, s.max, s.spread) == (2.0, 1.0, 3.0, 2.0), s
    names = ["a", "b", "c"]
    fakes = [Contender(n, ("true",), Path("/"), {}) for n in names]
    orders = [[c.name for c in order] for _, order in rotations(fakes, 4)]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]], orders
    assert marker_name(1).encode() not in cpp_marker(10).encode()
    assert marker_name(7) in cu_marker(7) and "__global__" in cu_marker(7)
    summary = "==> build\n    configure skipped: ok\n    build ran (0.3s): up to date\ndone in 0.5s"
    assert step_seconds(summary) == {"build": 0.3, "done": 0.5}, step_seconds(summary)
    goals = targets({"P1 invoke/raw": 1.2, "P1 uv/invoke": 25.0, "P2 invoke-raw [s]": 0.1})
    assert [g["met"] for g in goals] == [False, True, True, None], goals
    stats = {"P1": {"x": summarize([0.5, 0.6]), "y": summarize([20.0, 30.0])}}
    svg = ElementTree.fromstring(render_svg(stats, "self-check <&>"))
    rects = svg.findall("{http://www.w3.org/2000/svg}rect")
    assert len(rects) == 3, len(rects)  # background + one bar per contender
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "src")
        for rel in ("keep.cpp", ".venv/x", "pkg/_C.abi3.so", "cmake-build-release/y"):
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_text("x")
        (src / "pyproject.toml").write_text('[project]\nname = "my-pkg"\n')
        copy = copy_sources(src, Path(tmp, "a b", "src"))
        assert sorted(tree_state(copy)) == ["keep.cpp", "pyproject.toml"], tree_state(copy)
        assert package_name(copy) == "my_pkg"
        before = tree_state(copy)
        (copy / "new.txt").write_text("n")
        assert tree_changes(before, tree_state(copy)) == ["+new.txt"]
    progress("self-check passed")


# ---------------------------------------------------------------- main


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Flags; --quick means 3 rounds everywhere (P2 too) and the self-check first."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.loop", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--source", type=Path, default=EXAMPLE_SOURCE, help="checkout to copy")
    parser.add_argument("--runs", type=int, default=5, help="rounds per scenario (P2: >= 10)")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "loop.json")
    parser.add_argument("--svg", type=Path, default=RESULTS_DIR / "loop.svg")
    parser.add_argument("--quick", action="store_true", help="3 rounds everywhere + self-check")
    parser.add_argument("--cpp", default="csrc/layernorm.cpp", help="P1's file, in the source")
    parser.add_argument("--cu", default="csrc/activation_kernels.cu", help="P4's file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 3
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    return args


def code_fingerprint() -> str:
    """sha256 of tasks.py and build_tools/: the code under test, which others may be editing."""
    digest = hashlib.sha256()
    paths = [SUITE_ROOT / "tasks.py", *(SUITE_ROOT / "build_tools").rglob("*.py")]
    for path in sorted(paths):
        digest.update(str(path.relative_to(SUITE_ROOT)).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()[:16]


@dataclass
class Phases:
    """Seconds per phase, and the code under test's fingerprint at its start and end."""

    seconds: dict[str, float] = field(default_factory=dict)
    code: dict[str, tuple[str, str]] = field(default_factory=dict)

    def warnings(self) -> list[str]:
        """Phases whose code changed while they ran, or that measured different code."""
        out = [
            f"the code under test changed during {name} ({a} -> {b}): its samples mix versions"
            for name, (a, b) in self.code.items()
            if a != b
        ]
        if len({fp for pair in self.code.values() for fp in pair}) > 1:
            out.append(f"the phases measured different code: {self.code}; rerun for one version")
        return out


def timed_phase(phases: Phases, name: str, body: Callable[[], list[Trial]]) -> list[Trial]:
    """Run one phase; note its seconds and the code fingerprint around it."""
    before, start = code_fingerprint(), time.perf_counter()
    trials = body()
    phases.seconds[name] = round(time.perf_counter() - start, 2)
    phases.code[name] = (before, code_fingerprint())
    return trials


def measure(ws: Workspace, runs: int, p2_runs: int, phases: Phases) -> list[Trial]:
    """All four scenarios, cheapest state first: P2, P1, P4, then P3 (which wipes the build)."""
    counter = itertools.count(1)
    trials = timed_phase(phases, "P2", lambda: scenario_p2(ws, p2_runs, counter))
    trials += timed_phase(phases, "P1", lambda: scenario_p1(ws, runs, counter))
    trials += timed_phase(phases, "P4", lambda: scenario_p4(ws, runs, counter))
    trials += timed_phase(phases, "P3", lambda: scenario_p3(ws, runs, counter))
    return trials


def report(
    ws: Workspace, trials: list[Trial], args: argparse.Namespace, meta: dict[str, Any]
) -> None:
    """Print the table, write JSON and SVG."""
    stats = stats_by(trials)
    values = ratios(stats)
    goals = targets(values)
    print(f"nvcc builds one arch: VLLM_BUILD_ARCH={ARCH} (uv path: TORCH_CUDA_ARCH_LIST={ARCH})")
    print(f"source copy: {ws.source}; seconds, {args.runs} rounds (P2: {meta['p2_runs']})")
    steps = step_medians(trials)
    print("\n".join([*table(stats), *step_lines(steps), *target_lines(values, goals)]))
    print(f"wall time of the whole run: {meta['wall_seconds']:.1f} s ({meta['phase_seconds']})")
    for warning in meta["warnings"]:
        print(f"WARNING: {warning}")
    data = {
        **meta,
        "samples": [vars(t) for t in trials],
        "medians": {
            s: {c: {**vars(v), "spread": v.spread} for c, v in by.items()}
            for s, by in stats.items()
        },
        "invoke_step_medians": steps,
        "ratios": values,
        "targets": goals,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    title = (
        f"edit-build loop, {meta['date'][:10]}, {meta['machine']['cpu_count']} CPUs, arch {ARCH}"
    )
    args.svg.parent.mkdir(parents=True, exist_ok=True)
    args.svg.write_text(render_svg(stats, title), encoding="utf-8")
    print(f"wrote {args.json} and {args.svg}")


def run_all(args: argparse.Namespace, tmp: Path, start: float, date: str) -> None:
    """Copy, bootstrap, measure every scenario, report."""
    ws = make_workspace(args.source.resolve(), tmp, args.cpp, args.cu)
    progress(f"bootstrapping {ws.source} (VLLM_BUILD_ARCH={ARCH}) ...")
    phases = Phases()
    timed_phase(phases, "bootstrap", lambda: bootstrap(ws))
    p2_runs = args.runs if args.quick else max(10, 2 * args.runs)
    trials = measure(ws, args.runs, p2_runs, phases)
    meta = {
        "date": date,
        "machine": machine_facts(),
        "tools": tool_versions(ws, real_uv()),
        "environment": environment_notes(ws),
        "runs": args.runs,
        "p2_runs": p2_runs,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "phase_seconds": phases.seconds,
        "code_under_test": {"suite commit": git_describe(), "fingerprints": phases.code},
        "warnings": phases.warnings(),
    }
    report(ws, trials, args, meta)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: 0 when every scenario ran and verified, 1 on a BenchError."""
    args = parse_args(argv)
    if args.quick:
        self_check()
    start = time.perf_counter()
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    tmp = Path(tempfile.mkdtemp(prefix="vllm-loop-"))
    try:
        run_all(args, tmp, start, date)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            progress(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
