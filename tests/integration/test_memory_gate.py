"""The memory gate with real tools: a build whose planned jobs times its units' real peaks
exceed the memory it may use (a memory cgroup of its own) is OOM-killed without the gate, and
finishes with it, its units never running together beyond the limit; the first build, with
nothing measured yet, finishes too (the priors make each unit run alone).

The units are inflated by the C++ compiler the test configures (`CXX`): a wrapper that holds
HOG_MIB of memory for HOLD_S seconds, then runs the real compiler, and logs when it ran.
Needs root and a memory cgroup hierarchy (v1, or v2 with the memory controller delegated);
elsewhere it skips, saying why, and tests/unit/test_gate.py covers admission with an injected
available memory.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import pytest

from build_tools.insight import memory
from build_tools.process import gate_memory
from tests.helpers import copy_example
from tests.integration.tools import invoke, ok

MiB = 2**20
CPP_UNITS = 12  # the example's C++ units (one generated at configure time)
HOG_MIB = 300
HOLD_S = 1.5
JOBS = 4
LIMIT = 1200 * MiB  # JOBS x (HOG_MIB + the compiler) > LIMIT > 2 x a unit + the build's tools
HOGCC = """#!{python}
import os, subprocess, sys, time
argv = sys.argv[1:]
unit = argv[argv.index("-o") + 1] if "-o" in argv else ""
log = os.environ.get("HOG_LOG")
if not (log and "-c" in argv and unit.startswith("CMakeFiles/_")):  # CMake's checks, links
    os.execv({cxx!r}, [{cxx!r}, *argv])
began = time.time()
grow = float(os.environ.get("HOG_GROW_S", "0"))  # as a compile grows, over seconds
blocks = []
for step in range(10):
    block = bytearray({mib} * 2**20 // 10)
    for i in range(0, len(block), 4096):
        block[i] = 1
    blocks.append(block)
    time.sleep(grow / 10)
time.sleep({hold})
code = subprocess.call([{cxx!r}, *argv])
with open(log, "a") as handle:
    handle.write(f"{{unit}}\\t{{began}}\\t{{time.time()}}\\n")
sys.exit(code)
"""
_names = itertools.count()


def _cgroup_parent() -> tuple[Optional[Path], bool, str]:
    """The memory cgroup directory we run in, whether it is v2, or why there is none."""
    if os.geteuid() != 0:
        return None, False, f"creating a memory cgroup needs root (euid {os.geteuid()})"
    path, v2 = gate_memory.own_cgroup()
    levels = gate_memory.cgroup_levels(path, v2)
    if not levels:
        return None, v2, f"no memory cgroup hierarchy is mounted for {path or 'this process'}"
    return Path(levels[0].directory), v2, ""


@contextmanager
def memory_cgroup(limit: int) -> Iterator[Path]:
    """A child memory cgroup of ours limited to `limit` bytes, removed afterwards."""
    parent, v2, why = _cgroup_parent()
    if parent is None:
        pytest.skip(why)
    new = parent / f"vllm-build-tools-test-{os.getpid()}-{next(_names)}"
    try:
        new.mkdir()
        if v2:
            (new / "memory.max").write_text(str(limit))
            if (new / "memory.swap.max").exists():
                (new / "memory.swap.max").write_text("0")
        else:
            (new / "memory.limit_in_bytes").write_text(str(limit))
            if (new / "memory.memsw.limit_in_bytes").exists():
                (new / "memory.memsw.limit_in_bytes").write_text(str(limit))
    except OSError as exc:
        if new.is_dir():
            new.rmdir()
        pytest.skip(f"cannot create a memory cgroup with a limit under {parent}: {exc}")
    try:
        yield new
    finally:
        deadline = time.monotonic() + 30
        while (new / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.1)
        new.rmdir()


def oom_kills(cgroup: Path) -> int:
    """How many processes the kernel killed in `cgroup` for want of memory."""
    for name in ("memory.events", "memory.oom_control"):
        if (cgroup / name).is_file():
            for line in (cgroup / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    return 0


def lifetimes(log: Path) -> dict[str, tuple[float, float]]:
    """unit -> (began, ended) as the inflated compiler logged them."""
    found = {}
    for line in log.read_text().splitlines() if log.is_file() else []:
        unit, began, ended = line.split("\t")
        found[unit] = (float(began), float(ended))
    return found


def most_at_once(runs: dict[str, tuple[float, float]], peaks: dict[str, int]) -> tuple[int, int]:
    """The most units that ran at one moment, and the largest sum of their peaks then."""
    events = sorted(
        [(b, 1, u) for u, (b, _) in runs.items()] + [(e, -1, u) for u, (_, e) in runs.items()]
    )
    running: set[str] = set()
    most = heaviest = 0
    for _, step, unit in events:
        if step > 0:
            running.add(unit)
        else:
            running.discard(unit)
        most = max(most, len(running))
        heaviest = max(heaviest, sum(peaks[u] for u in running))
    return most, heaviest


@pytest.fixture(scope="module")
def inflated(
    tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]
) -> tuple[Path, dict[str, str]]:
    """A copy of the example whose C++ units each hold HOG_MIB, bootstrapped without a limit
    (that build measures every unit's real peak), C++ only, no compiler cache, JOBS jobs."""
    _, _, why = _cgroup_parent()
    if why:
        pytest.skip(why)
    root = tmp_path_factory.mktemp("gate")
    cxx = shutil.which("c++")
    assert cxx, "no C++ compiler on PATH"
    hogcc = root / "bin" / "hogcc"
    hogcc.parent.mkdir()
    hogcc.write_text(HOGCC.format(python=sys.executable, cxx=cxx, mib=HOG_MIB, hold=HOLD_S))
    hogcc.chmod(0o755)
    inflated_env = {
        **env,
        "CXX": str(hogcc),
        "VLLM_BUILD_LAUNCHER": "none",
        "VLLM_BUILD_DEVICE": "cpu",
        "VLLM_BUILD_JOBS": str(JOBS),
        "HOG_LOG": str(root / "learn.log"),
    }
    src = copy_example(root / "my src" / "minivllm")
    ok("bootstrap", "--source", str(src), env=inflated_env)
    return src, inflated_env


def store(src: Path) -> Path:
    return memory.store(src / ".vllm-build-tools", Path("cmake-build-release"))


def learned(src: Path) -> dict[str, int]:
    return memory.load(src / ".vllm-build-tools", Path("cmake-build-release"))


def timed_build(src: Path, env: dict[str, str], log: Path, cgroup: Path) -> tuple[int, str, float]:
    start = time.monotonic()
    run = invoke(
        "clean-build", "--source", str(src), env={**env, "HOG_LOG": str(log)}, cgroup=cgroup
    )
    return run.returncode, run.output, time.monotonic() - start


def test_without_the_gate_the_build_is_oom_killed_with_it_it_finishes(
    inflated: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    src, env = inflated
    peaks = learned(src)
    units = sorted(peaks)
    low = {u: p // MiB for u, p in peaks.items() if p <= HOG_MIB * MiB}
    assert len(units) == CPP_UNITS and not low, f"MiB of units below the hog's: {low}"
    heaviest = max(peaks.values())
    assert JOBS * heaviest > LIMIT > 2 * heaviest, (heaviest, LIMIT)

    ok("presets", "--source", str(src), "--no-memory-gate", env=env)
    with memory_cgroup(LIMIT) as cgroup:
        code, out, off_s = timed_build(src, env, tmp_path / "off.log", cgroup)
        off_kills = oom_kills(cgroup)
    assert code != 0, f"{JOBS} units of {heaviest / MiB:.0f} MiB in {LIMIT / MiB:.0f} MiB:\n{out}"
    assert off_kills >= 1, f"the build failed, but not by an OOM kill:\n{out}"
    assert "fix: a compile was killed for memory" in out, out

    # The gate is on by default, but a build dir configured without it keeps its compile
    # commands until asked (test_sticky.py): --force, as the notice says.
    ok("presets", "--source", str(src), "--force", env=env)
    with memory_cgroup(LIMIT) as cgroup:
        code, out, on_s = timed_build(src, env, tmp_path / "on.log", cgroup)
        killed = oom_kills(cgroup)
    assert code == 0, out
    assert killed == 0, f"{killed} OOM kill(s) with the gate on:\n{out}"
    assert "the memory gate held" in out, f"the build does not say the gate held compiles:\n{out}"
    runs = lifetimes(tmp_path / "on.log")
    assert sorted(runs) == units, runs
    together, summed = most_at_once(runs, peaks)
    assert summed <= LIMIT, f"{together} units ran at once, {summed / MiB:.0f} MiB of peaks"
    print(
        f"\nlimit {LIMIT / MiB:.0f} MiB, {JOBS} jobs, units' peaks "
        f"{min(peaks.values()) / MiB:.0f}-{heaviest / MiB:.0f} MiB: without the gate failed "
        f"after {off_s:.1f} s ({off_kills} OOM kill(s)); with it finished in {on_s:.1f} s, "
        f"at most {together} unit(s) at once ({summed / MiB:.0f} MiB of peaks)"
    )


def test_the_first_build_with_nothing_measured_finishes(
    inflated: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """No learned peaks: the priors (2 GiB a C++ unit) exceed the limit, so the first units
    run alone, saying so; the units that ended teach their folder's family (1.5 times their
    largest peak), and the build finishes within the limit."""
    src, env = inflated
    ok("presets", "--source", str(src), env=env)
    store(src).unlink()
    with memory_cgroup(LIMIT) as cgroup:
        code, out, first_s = timed_build(src, env, tmp_path / "first.log", cgroup)
        killed = oom_kills(cgroup)
    assert code == 0 and killed == 0, out
    assert "C/C++ prior" in out and "runs alone" in out, out
    assert "the memory gate held" in out, f"the build does not say the gate held compiles:\n{out}"
    runs = lifetimes(tmp_path / "first.log")
    assert len(runs) == CPP_UNITS, runs
    peaks = learned(src)
    together, summed = most_at_once(runs, peaks)
    assert summed <= LIMIT, f"{together} units ran at once, {summed / MiB:.0f} MiB of peaks"
    print(
        f"\nfirst build (priors, then families), limit {LIMIT / MiB:.0f} MiB: finished in "
        f"{first_s:.1f} s, at most {together} unit(s) at once ({summed / MiB:.0f} MiB of peaks)"
    )


def test_heavy_units_admitted_together_on_low_expectations_are_paused_not_killed(
    inflated: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Several heavy units arrive together, all expected light (a store measured before an
    edit made every unit heavy): admitted together, they grow past the limit. The gate's watch
    pauses the youngest as memory runs short, the oldest goes on, and the build finishes
    without an OOM kill (the same build without the gate is killed: the first test)."""
    src, env = inflated
    ok("presets", "--source", str(src), env=env)
    units = sorted(learned(src))
    stale = {u: 50 * MiB for u in units}
    memory_store = json.loads(store(src).read_text())
    memory_store["units"] = {
        u: {**memory_store["units"][u], "peak": peak} for u, peak in stale.items()
    }
    store(src).write_text(json.dumps(memory_store))
    assert learned(src) == stale
    grow = {**env, "HOG_GROW_S": "8"}
    with memory_cgroup(LIMIT) as cgroup:
        code, out, seconds = timed_build(src, grow, tmp_path / "burst.log", cgroup)
        killed = oom_kills(cgroup)
    assert code == 0 and killed == 0, f"{killed} OOM kill(s):\n{out}"
    runs = lifetimes(tmp_path / "burst.log")
    assert len(runs) == len(units), runs
    starts = sorted(began for began, _ in runs.values())
    assert starts[JOBS - 1] - starts[0] < 2, f"the first {JOBS} were admitted together: {starts}"
    assert "the memory gate paused" in out, f"the build does not say what the gate paused:\n{out}"
    print(f"\n{JOBS} heavy units admitted together on stale peaks: finished in {seconds:.1f} s")
