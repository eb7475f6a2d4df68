"""nvcc time of each CUDA file for the local GPU arch vs vLLM's default arch list.

Configures the checkout once per arch list (no compiler cache), asks ninja for each CUDA
object's exact compile command, and times that command, alternating the contenders, `--repeat`
times each. Prints a table and writes JSON. Needs nvcc; no GPU (pass --local-arch without one).

    python -m benchmarks.nvcc_archs [--source PATH] [--local-arch 9.0] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional

from build_tools.console import Console
from build_tools.machine import toolchain as tc
from build_tools.process.runner import Command, Outcome, Runner, probe
from build_tools.settings import EXAMPLE_SOURCE

VLLM_DEFAULT_ARCHS = "7.5;8.0;8.6;8.7;8.9;9.0;10.0;11.0;12.0"  # vLLM's list for CUDA 13
TIMEOUT_S = 1800.0


def run(argv: Sequence[object], cwd: Path, env: Optional[Mapping[str, str]] = None) -> Outcome:
    """Run a command to completion, output captured; exit with its tail when it fails."""
    runner = Runner(Console(sys.stderr), base_env=os.environ if env is None else env)
    done = runner.capture(Command.of(argv, cwd), timeout=TIMEOUT_S)
    if done.returncode != 0:
        sys.exit(
            f"`{shlex.join(done.command.argv)}` exited {done.returncode}:\n" + "\n".join(done.tail)
        )
    return done


def configure(source: Path, build: Path, archs: str, nvcc_threads: int, python: str) -> None:
    cmake = shutil.which("cmake") or sys.exit("cmake >= 3.26 is needed on PATH")
    argv = [cmake, "-S", source, "-B", build, "-G", "Ninja", f"-DVLLM_PYTHON_EXECUTABLE={python}"]
    argv += ["-DCMAKE_BUILD_TYPE=Release", f"-DNVCC_THREADS={nvcc_threads}"]
    run(argv, Path.cwd(), {**os.environ, "TORCH_CUDA_ARCH_LIST": archs})


def cuda_commands(build: Path) -> dict[str, str]:
    """CUDA object -> its compile command, from ninja."""
    ninja = shutil.which("ninja") or sys.exit("ninja is needed on PATH")
    targets = run([ninja, "-C", build, "-t", "targets", "all"], build).output
    objects = [line.split(":")[0] for line in targets.splitlines() if ".cu.o:" in line]
    commands = {}
    for obj in objects:
        out = run([ninja, "-C", build, "-t", "commands", obj], build).output
        lines = [line for line in out.splitlines() if line and not line.startswith("ninja: ")]
        commands[obj] = lines[-1]  # stderr is merged in: ninja's own warnings are left out
    return commands


def time_once(build: Path, command: str) -> float:
    """Wall seconds of one compile. One compiler call (no launcher is configured here), so it
    splits into an argv."""
    return run(shlex.split(command), build).seconds


def nvcc_version() -> str:
    lines = probe(["nvcc", "--version"]).strip().splitlines()
    return lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=EXAMPLE_SOURCE)
    parser.add_argument("--local-arch", help="default: nvidia-smi's compute capability")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/nvcc_archs.json"))
    args = parser.parse_args()
    machine = tc.Machine()
    local = args.local_arch or ";".join(tc.gpu_archs(machine))
    if not local:
        sys.exit("no GPU found: pass --local-arch, e.g. --local-arch 9.0")
    threads = max(1, min(4, tc.available_cpus(machine)))
    contenders = {
        f"local ({local})": (local, 1),
        "vLLM default, NVCC_THREADS=1": (VLLM_DEFAULT_ARCHS, 1),
        f"vLLM default, NVCC_THREADS={threads}": (VLLM_DEFAULT_ARCHS, threads),
    }
    with tempfile.TemporaryDirectory(prefix="nvcc-archs-") as tmp:
        builds = {}
        for i, (name, (archs, nthreads)) in enumerate(contenders.items()):
            build = Path(tmp) / f"b{i}"
            configure(args.source, build, archs, nthreads, sys.executable)
            builds[name] = (build, cuda_commands(build))
        objects = sorted(next(iter(builds.values()))[1])
        times: dict[str, dict[str, list[float]]] = {n: {o: [] for o in objects} for n in builds}
        for _ in range(args.repeat):  # alternate the contenders within each round
            for obj in objects:
                for name, (build, commands) in builds.items():
                    times[name][obj].append(time_once(build, commands[obj]))
    medians = {n: {o: statistics.median(t) for o, t in per.items()} for n, per in times.items()}
    local_name = next(iter(medians))
    heaviest = max(objects, key=lambda o: medians[local_name][o])
    print(f"nvcc seconds (median of {args.repeat}); heaviest file: {heaviest}")
    for name in medians:
        cells = "  ".join(f"{Path(o).name}={medians[name][o]:.2f}s" for o in objects)
        ratio = medians[name][heaviest] / medians[local_name][heaviest]
        print(f"  {name:<32} {cells}  ({ratio:.1f}x local on the heaviest)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "machine": platform.node(),
                "cpus": tc.available_cpus(machine),
                "nvcc": nvcc_version(),
                "date": time.strftime("%Y-%m-%d"),
                "repeat": args.repeat,
                "heaviest": heaviest,
                "seconds": times,
                "medians": medians,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
