"""Learned memory budgets: per-unit peaks measured from a live session, and the plan."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

from build_tools.cmake.project import uncached_compiles
from build_tools.console import Console
from build_tools.insight import memory
from build_tools.process.runner import Command, Runner

# A "compile" (its argv has -c ... -o u.o) that holds 160 MB for a while, as cc1plus would.
HOG = (
    "import time\nblock = bytearray(160 * 2**20)\n"
    "for i in range(0, len(block), 4096): block[i] = 1\ntime.sleep(1.2)\n"
)


# The same, but it frees the memory long before it ends, as nvcc's stages do.
FREED = (
    "import time\ntime.sleep(0.3)\nblock = bytearray(160 * 2**20)\n"
    "for i in range(0, len(block), 4096): block[i] = 1\ndel block\ntime.sleep(1.2)\n"
)


def peaks_of(script: str, cwd: Path) -> dict[str, int]:
    """Run `script` as a compile of CMakeFiles/t.dir/u.o under a sampler; its peaks."""
    sampler = memory.Sampler()
    runner = Runner(Console(io.StringIO()))
    runner.observers.append(sampler.observe)
    runner.run(Command.of([sys.executable, "-c", script, "-o", "CMakeFiles/t.dir/u.o"], cwd))
    return sampler.peaks


def test_a_units_peak_is_measured_while_it_runs(tmp_path: Path) -> None:
    peaks = peaks_of(HOG, tmp_path)
    assert 150 * 2**20 < peaks["CMakeFiles/t.dir/u.o"] < 400 * 2**20
    measured = {u: memory.Measured(p, "cc1plus") for u, p in peaks.items()}
    memory.record(tmp_path, tmp_path / "b", measured)
    memory.record(tmp_path, tmp_path / "b", {"CMakeFiles/t.dir/u.o": memory.Measured(1, "cc1")})
    assert memory.load(tmp_path, tmp_path / "b") == peaks, "the larger peak stays"


# A build of three units, each a launcher (its argv names the unit) running a child that holds
# memory: one compiled (the child is named cc1plus), one a cache served (no compiler ran), one
# whose compiler only preprocessed (-E).
UNITS = """
import subprocess, sys
compiler, hog = sys.argv[1], sys.argv[2]
launcher = "import subprocess, sys; subprocess.run(sys.argv[1:-2], check=True)"
for unit, child in (("real", [compiler, "-c", hog]), ("hit", [sys.executable, "-c", hog]),
                    ("pre", [compiler, "-c", hog, "-E"])):
    subprocess.run([sys.executable, "-c", launcher, *child, "-o", f"CMakeFiles/t.dir/{unit}.o"],
                   check=True)
"""


def test_only_real_compiles_teach_a_peak(tmp_path: Path) -> None:
    """A unit a compiler cache served (ccache, sccache, Redis, sccache-dist: no compiler at
    work) is measured but not kept: its memory says nothing of the compile's."""
    compiler = tmp_path / "bin" / "cc1plus"  # the name /proc reports for the compiler
    compiler.parent.mkdir()
    compiler.symlink_to(sys.executable)
    sampler = memory.Sampler()
    runner = Runner(Console(io.StringIO()))
    runner.observers.append(sampler.observe)
    runner.run(Command.of([sys.executable, "-c", UNITS, str(compiler), HOG], tmp_path))
    assert set(sampler.peaks) == {f"CMakeFiles/t.dir/{u}.o" for u in ("real", "hit", "pre")}
    kept = sampler.measured()
    assert list(kept) == ["CMakeFiles/t.dir/real.o"], f"only the real compile teaches: {kept}"
    assert kept["CMakeFiles/t.dir/real.o"].by == "cc1plus"
    assert kept["CMakeFiles/t.dir/real.o"].peak > 150 * 2**20


def test_where_no_cache_can_serve_a_unit_every_unit_teaches(tmp_path: Path) -> None:
    """With no compiler cache configured, a unit is a real compile even when its compiler was
    too quick to be seen at work (a small generated unit): it teaches its peak."""
    sampler = memory.Sampler(uncached=True)
    runner = Runner(Console(io.StringIO()))
    runner.observers.append(sampler.observe)
    runner.run(Command.of([sys.executable, "-c", HOG, "-o", "CMakeFiles/t.dir/u.o"], tmp_path))
    kept = sampler.measured()
    assert kept["CMakeFiles/t.dir/u.o"].by == memory.UNCACHED
    assert kept["CMakeFiles/t.dir/u.o"].peak > 150 * 2**20
    assert memory.Sampler().measured() == {}


def _cache(build: Path, **values: str) -> Path:
    build.mkdir(parents=True, exist_ok=True)
    lines = [f"{k}:STRING={v}" for k, v in values.items()]
    (build / "CMakeCache.txt").write_text("\n".join(lines) + "\n")
    return build


def test_uncached_compiles_only_where_no_launcher_and_no_compiler_is_a_cache(
    tmp_path: Path,
) -> None:
    ccache = tmp_path / "bin" / "ccache"
    ccache.parent.mkdir()
    ccache.write_text("")
    masquerade = tmp_path / "bin" / "g++"
    masquerade.symlink_to(ccache)
    gate = "python3;-S;/s/memory-gate.py;--"
    assert uncached_compiles(_cache(tmp_path / "a", CMAKE_CXX_COMPILER="/usr/bin/c++"))
    assert uncached_compiles(
        _cache(tmp_path / "g", CMAKE_CXX_COMPILER="/usr/bin/c++", CMAKE_CXX_COMPILER_LAUNCHER=gate)
    ), "the memory gate is no cache"
    assert not uncached_compiles(
        _cache(
            tmp_path / "c",
            CMAKE_CXX_COMPILER="/usr/bin/c++",
            CMAKE_CUDA_COMPILER_LAUNCHER=f"{gate};/usr/bin/sccache",
        )
    )
    assert not uncached_compiles(_cache(tmp_path / "m", CMAKE_CXX_COMPILER=str(masquerade)))
    assert not uncached_compiles(tmp_path / "none"), "an unreadable cache proves nothing"


# Two stages one after the other, each holding 160 MB, as nvcc runs cudafe++, cicc and ptxas:
# the unit's process holds it first and frees it, then a child holds as much.
STAGES = f"""
import subprocess, sys, time
block = bytearray(160 * 2**20)
for i in range(0, len(block), 4096): block[i] = 1
time.sleep(0.5)
del block
subprocess.run([sys.executable, "-c", {HOG!r}], check=True)
"""


def test_stages_that_run_one_after_another_count_once(tmp_path: Path) -> None:
    """A unit's peak is what its processes hold at one moment: two stages of 160 MB one after
    the other peak at 160 MB, not 320 (the sum of each process's own peak)."""
    peak = peaks_of(STAGES, tmp_path)["CMakeFiles/t.dir/u.o"]
    assert 150 * 2**20 < peak < 250 * 2**20, peak


# An sccache server stand-in (a process named sccache, in a session of its own): it runs a
# unit's compile in the build dir, then two nvcc steps in a temporary dir of its own, the
# first naming the unit's source (as cudafe++ and cicc do), the second nothing (as ptxas).
SERVER = """
import os, subprocess, sys, time
build, step, source, done = sys.argv[1:5]
hog = "b = bytearray({mib} * 2**20)\\nfor i in range(0, len(b), 4096): b[i] = 1\\n"
hog += "import time; time.sleep(1.2)\\n"
while not os.path.exists(done + ".clients"):
    time.sleep(0.02)
python = os.path.realpath(sys.executable)  # not our own name: sccache's compilers are not
def run(mib, cwd, *args):
    subprocess.run([python, "-c", hog.format(mib=mib), *args], cwd=cwd, check=True)
run(160, build, "-o", "CMakeFiles/t.dir/u.cpp.o")
run(160, step, "--orig_src_path_name", source)
run(300, step, "x.ptx")
open(done, "w").close()
"""
# The build: two sccache clients in the build's session, waiting for the server.
CLIENTS = """
import os, subprocess, sys, time
source, done = sys.argv[1:3]
wait = "import os, sys, time\\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.02)\\n"
clients = [
    subprocess.Popen([sys.executable, "-c", wait, done, "-c", "/s/u.cpp",
                      "-o", "CMakeFiles/t.dir/u.cpp.o"]),
    subprocess.Popen([sys.executable, "-c", wait, done, "-c", source,
                      "-o", "CMakeFiles/t.dir/k.cu.o"]),
]
time.sleep(0.5)
open(done + ".clients", "w").close()
for client in clients:
    client.wait()
"""


def test_compiles_an_sccache_server_runs_count_for_their_unit(tmp_path: Path) -> None:
    build, step = tmp_path / "build", tmp_path / "sccache_nvcc1"
    build.mkdir()
    step.mkdir()
    fake = tmp_path / "bin" / "sccache"  # the name /proc reports for the server
    fake.parent.mkdir()
    fake.symlink_to(sys.executable)
    source, done = str(tmp_path / "src" / "k.cu"), str(tmp_path / "done")
    server = subprocess.Popen(
        [str(fake), "-c", SERVER, str(build), str(step), source, done], start_new_session=True
    )
    sampler = memory.Sampler(build)
    runner = Runner(Console(io.StringIO()))
    runner.observers.append(sampler.observe)
    try:
        runner.run(Command.of([sys.executable, "-c", CLIENTS, source, done], build))
    finally:
        assert server.wait(60) == 0
    peaks = sampler.peaks
    assert peaks.get("CMakeFiles/t.dir/u.cpp.o", 0) > 150 * 2**20, peaks  # in the build dir
    # the step naming the source (160 MiB), then the one in its dir only (300 MiB)
    assert peaks.get("CMakeFiles/t.dir/k.cu.o", 0) > 250 * 2**20, peaks


# Two compiles one after the other, as ninja with one job runs them (the compiler: argv[1]).
SEQUENCE = """
import subprocess, sys
for unit, hold in (("a", 0.4), ("b", 2.5)):
    subprocess.run([sys.argv[1], "-c", f"import time; time.sleep({hold})", "-o",
                    f"CMakeFiles/t.dir/{unit}.o"], check=True)
"""


def test_units_that_ended_are_kept_while_the_build_runs(tmp_path: Path) -> None:
    """The memory gate reads the store during a build: a unit's peak is kept once it ends,
    not only when the whole build does."""
    calls: list[tuple[dict[str, memory.Measured], float]] = []
    sampler = memory.Sampler(keep=lambda ended: calls.append((dict(ended), time.monotonic())))
    runner = Runner(Console(io.StringIO()))
    runner.observers.append(sampler.observe)
    compiler = tmp_path / "cc1plus"
    compiler.symlink_to(sys.executable)
    runner.run(Command.of([sys.executable, "-c", SEQUENCE, str(compiler)], tmp_path))
    ended = time.monotonic()
    assert calls, "nothing was kept while the build ran"
    first, at = calls[0]
    assert list(first) == ["CMakeFiles/t.dir/a.o"] and first["CMakeFiles/t.dir/a.o"].peak > 0
    assert ended - at > 1.0, "a.o was kept only as the build ended"
