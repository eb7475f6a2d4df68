"""Fault injection with real tools on the example: signals at random points of build and
clean-build, concurrent builds, a full disk, a read-only cache and tree.

After every interrupted run a recovery `invoke build` must succeed and leave installed .so
files equal to a clean build's (byte for byte, else the same ELF section sizes: nvcc output
may differ in bytes), no process of ours running, and every user file as it was. The table
of cycles is printed (run pytest with -s to see it; CI prints it) and written to
<tmp>/faults.json; docs/reliability.md records it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import copy_example
from tests.integration.tools import build_env, digest, invoke, mounted, ok
from tests.integration.tools import start as start_invoke

CYCLES = int(os.environ.get("VLLM_BUILD_FAULT_CYCLES", "32"))
SEED = int(os.environ.get("VLLM_BUILD_FAULT_SEED", "20261201"))
EXTENSIONS = ("_C", "_moe_C")
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


@dataclass
class Workspace:
    src: Path
    env: dict[str, str]
    reference: dict[str, tuple[str, dict[str, int]]]  # .so name -> (sha256, section sizes)
    user_files: dict[Path, str] = field(default_factory=dict)

    @property
    def build_dir(self) -> Path:
        return self.src / "cmake-build-release"


def sections(path: Path) -> dict[str, int]:
    """ELF section name -> size, from readelf (binutils)."""
    out = subprocess.run(
        ["readelf", "-SW", str(path)], capture_output=True, text=True, check=True
    ).stdout
    found = {}
    for line in out.splitlines():
        parts = line.replace("[ ", "[").split()
        if len(parts) > 6 and parts[0].startswith("[") and parts[0] != "[Nr]":
            found[parts[1]] = int(parts[5], 16)
    return found


def installed(ws: Workspace, name: str) -> Path:
    return ws.src / "minivllm" / f"{name}.abi3.so"


def snapshot(ws: Workspace) -> dict[str, tuple[str, dict[str, int]]]:
    return {n: (digest(installed(ws, n)), sections(installed(ws, n))) for n in EXTENSIONS}


def ours(ws: Workspace) -> list[int]:
    """Processes whose command line names the workspace: our cmake, ninja, compilers."""
    needle = str(ws.src).encode()
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if needle in cmdline.read_bytes() and int(cmdline.parent.name) != os.getpid():
                stat = (cmdline.parent / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":
                    pids.append(int(cmdline.parent.name))
        except (OSError, ValueError):
            continue
    return pids


def user_files_intact(ws: Workspace) -> list[str]:
    return [str(p) for p, sha in ws.user_files.items() if not p.is_file() or digest(p) != sha]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    src = copy_example(tmp_path_factory.mktemp("faults") / "my src" / "minivllm")
    env = build_env(tmp_path_factory.mktemp("ccache"))
    ok("bootstrap", "--source", str(src), env=env)
    workspace = Workspace(src, env, {})
    workspace.reference = snapshot(workspace)
    notes = src / "my-notes.txt"  # a file the user keeps in their tree
    notes.write_text("mine\n")
    for path in [notes, src / "CMakeUserPresets.json", *sorted((src / "csrc").rglob("*.c*"))]:
        workspace.user_files[path] = digest(path)
    return workspace


def start(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`invoke ARGS --source <the workspace>` in the background, signalled alone."""
    return start_invoke(*args, "--source", str(ws.src), env={**ws.env, **(env or {})})


def matches_reference(ws: Workspace) -> bool:
    now = snapshot(ws)
    for name, (sha, sizes) in ws.reference.items():
        built = ws.build_dir / f"{name}.abi3.so"
        if not built.is_file() or digest(built) != now[name][0]:
            return False  # the installed .so is not the one ninja linked: stale
        if now[name][0] != sha and now[name][1] != sizes:
            return False
    return True


def wait_gone(ws: Workspace, seconds: float = 10) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := ours(ws)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_random_interrupts_never_cost_a_build(
    ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED)
    sources = [p for p in ws.user_files if p.suffix in (".cpp", ".cu")]
    rows = []
    counts = {"cycles": 0, "interrupted": 0, "stale installs": 0, "orphans": 0, "lost files": 0}
    start_all = time.monotonic()
    for cycle in range(CYCLES):
        action = rng.choice(["build", "build", "build --target _moe_C", "clean-build"])
        signum = rng.choices(SIGNALS, weights=(4, 4, 2))[0]
        for path in rng.sample(sources, rng.randint(3, 6)):
            path.touch()  # content unchanged: the right result is the reference build
        delay = rng.uniform(0.2, 6.0 if action == "clean-build" else 1.8)
        proc = start(ws, *action.split(), env={"CCACHE_DISABLE": "1"})  # real compiles to cut
        time.sleep(delay)
        proc.send_signal(signum)
        proc.communicate(timeout=120)
        interrupted = proc.returncode in (128 + signum, -signum)
        orphans = len(wait_gone(ws, 2)) if signum != signal.SIGKILL else 0
        recovery = invoke("build", "--source", str(ws.src), env=ws.env, timeout=600)
        orphans += len(wait_gone(ws))
        stale = recovery.returncode != 0 or not matches_reference(ws)
        lost = user_files_intact(ws)
        counts["cycles"] += 1
        counts["interrupted"] += interrupted
        counts["stale installs"] += stale
        counts["orphans"] += orphans
        counts["lost files"] += len(lost)
        rows.append(
            f"{cycle:3d} {action:<22} {signal.Signals(signum).name:<8} after {delay:4.2f}s"
            f" -> exit {proc.returncode:4d}  recovery {recovery.returncode}"
            f"  stale {int(stale)}  orphans {orphans}  lost {len(lost)}"
        )
        assert recovery.returncode == 0, f"cycle {cycle}: recovery failed:\n{recovery.output}"
    seconds = time.monotonic() - start_all
    with capsys.disabled():
        print(f"\nfault injection: {CYCLES} cycles, seed {SEED}, {seconds:.0f} s")
        print("\n".join(rows))
        print("  ".join(f"{k}: {v}" for k, v in counts.items()))
    (ws.src.parent / "faults.json").write_text(json.dumps({**counts, "seconds": seconds}))
    assert counts["interrupted"] >= CYCLES * 0.5, "too few signals landed mid-run: no test"
    assert counts["stale installs"] == 0 and counts["orphans"] == 0 and counts["lost files"] == 0


@pytest.mark.parametrize("n", [2, 3])
def test_concurrent_builds_compile_each_unit_once(ws: Workspace, n: int) -> None:
    # Settle first: a SIGKILLed build of the test before can leave its ninja and nvcc running
    # on (SIGKILL cannot be forwarded), finishing a unit after the recovery build did.
    wait_gone(ws, 30)
    ok("build", "--source", str(ws.src), env=ws.env)
    touched = [ws.src / "csrc" / "layernorm.cpp", ws.src / "csrc" / "moe" / "topk_softmax.cpp"]
    for path in touched:
        path.touch()
    procs = [start(ws, "build", env={"CCACHE_DISABLE": "1"}) for _ in range(n)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * n, "\n".join(outputs)
    compiled = [
        line.split(" object ", 1)[1]
        for out in outputs
        for line in out.splitlines()
        if line.startswith("[") and " Building " in line
    ]
    assert sorted(compiled) == sorted(set(compiled)) and len(compiled) == 2, compiled
    assert sum("waiting for build dir" in out for out in outputs) >= 1
    assert matches_reference(ws) and not user_files_intact(ws)


def test_clean_build_racing_build(ws: Workspace) -> None:
    (ws.src / "csrc" / "layernorm.cpp").touch()
    build = start(ws, "build")
    time.sleep(0.3)
    clean = start(ws, "clean-build")
    outputs = [build.communicate(timeout=300)[0], clean.communicate(timeout=300)[0]]
    assert (build.returncode, clean.returncode) == (0, 0), "\n".join(outputs)
    assert matches_reference(ws) and not user_files_intact(ws) and not wait_gone(ws)


def test_a_full_disk_is_named_and_the_build_resumes_after(ws: Workspace) -> None:
    data = json.loads((ws.src / "CMakeUserPresets.json").read_text())
    data["configurePresets"].append({"name": "small", "inherits": "release"})
    data["configurePresets"][-1]["binaryDir"] = "${sourceDir}/cmake-build-small"
    data["buildPresets"].append({"name": "small", "configurePreset": "small"})
    (ws.src / "CMakeUserPresets.json").write_text(json.dumps(data, indent=2))
    ws.user_files[ws.src / "CMakeUserPresets.json"] = digest(ws.src / "CMakeUserPresets.json")
    small = ws.src / "cmake-build-small"
    small.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=1500k", "tmpfs", str(small)):
        run = invoke("build", "--source", str(ws.src), "--preset", "small", env=ws.env)
        assert run.returncode == 1, run.output
        assert "fix: free space on the disk" in run.output, run.output
        subprocess.run(["mount", "-o", "remount,size=200m", str(small)], check=True)
        ok("build", "--source", str(ws.src), "--preset", "small", env=ws.env)
        assert (small / "_C.abi3.so").is_file()
    assert not user_files_intact(ws)
    ok("build", "--source", str(ws.src), env=ws.env)  # the release build again owns the .so


def test_a_read_only_cache_never_fails_the_build(ws: Workspace, tmp_path: Path) -> None:
    cache, view = tmp_path / "cache", tmp_path / "ro-cache"
    cache.mkdir()
    view.mkdir()
    with mounted("--bind", "-o", "ro", str(cache), str(view)):
        if os.access(view, os.W_OK) and not _really_read_only(view):
            pytest.skip("the bind mount is writable here")
        (ws.src / "csrc" / "layernorm.cpp").touch()
        out = ok("build", "--source", str(ws.src), env={**ws.env, "CCACHE_DIR": str(view)})
    assert "is not writable: building without the cache" in out and "CCACHE_DISABLE=1" in out
    assert matches_reference(ws)


def _really_read_only(path: Path) -> bool:
    try:
        (path / ".probe").write_text("x")
    except OSError:
        return True
    (path / ".probe").unlink()
    return False


def test_a_read_only_tree_fails_clearly_and_loses_nothing(ws: Workspace) -> None:
    (ws.src / "csrc" / "layernorm.cpp").touch()
    with mounted("--bind", "-o", "ro", str(ws.src), str(ws.src)):
        run = invoke("build", "--source", str(ws.src), env=ws.env)
    assert run.returncode == 1 and "Traceback" not in run.output, run.output
    assert "not writable" in run.output or "Read-only file system" in run.output
    assert not user_files_intact(ws)
    ok("build", "--source", str(ws.src), env=ws.env)
    assert matches_reference(ws)
