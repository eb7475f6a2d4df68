"""The command line: flags, the run (copy, bootstrap, P2, P1, P4, P3, P5, P6, P7, P8), the report.

Prints a table, writes JSON and a hand-written SVG chart. A benchmark, not a test: nothing here
asserts on time; a run that did not do what its scenario says (the .so unchanged after an edit,
changed after a no-op, a P3/P5/P6 whose warm runs got no cache hits) is an error and exits 1.

    python -m benchmarks.loop [--source PATH] [--runs 5] [--json PATH] [--svg PATH] [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from benchmarks.loop import environment as envfacts
from benchmarks.loop import scenarios, scenarios_cache, scenarios_gate
from benchmarks.loop.harness import BenchError, Trial, progress
from benchmarks.loop.stats import (
    SCENARIOS,
    ratios,
    stats_by,
    step_lines,
    step_medians,
    table,
    target_lines,
    targets,
)
from benchmarks.loop.svg import render_svg
from benchmarks.loop.workspace import ARCH, Workspace, bootstrap, make_workspace
from build_tools.errors import BuildToolsError
from build_tools.machine.toolchain import Machine, find_uv
from build_tools.settings import EXAMPLE_SOURCE, SUITE_ROOT

RESULTS_DIR = SUITE_ROOT / "benchmarks" / "results"
DESCRIPTION = (
    "The edit -> rebuild loop, side by side: `invoke build` vs raw cmake vs `uv pip install -e`;"
    " clean-builds from a warm, a shared (2nd worktree) and a remote (Redis) compiler cache; the"
    " memory gate's cost on a cold build; a reused configure against a fresh one."
)
P3_RATIO = "P3 cold/warm"
EPILOG = "scenarios (contenders alternate every round; medians over the rounds):\n" + "\n".join(
    f"  {key}  {what}" for key, what in SCENARIOS.items()
)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Flags; --quick means 3 rounds everywhere (P2 too)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.loop",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--source", type=Path, default=EXAMPLE_SOURCE, help="checkout to copy")
    parser.add_argument("--runs", type=int, default=5, help="rounds per scenario (P2: >= 10)")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "loop.json")
    parser.add_argument("--svg", type=Path, default=RESULTS_DIR / "loop.svg")
    parser.add_argument("--quick", action="store_true", help="3 rounds everywhere (P2 too)")
    parser.add_argument("--cpp", default="csrc/layernorm.cpp", help="P1's file, in the source")
    parser.add_argument("--cu", default="csrc/activation_kernels.cu", help="P4's file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 3
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    return args


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
    before, start = envfacts.code_fingerprint(), time.perf_counter()
    trials = body()
    phases.seconds[name] = round(time.perf_counter() - start, 2)
    phases.code[name] = (before, envfacts.code_fingerprint())
    return trials


def measure(ws: Workspace, runs: int, p2_runs: int, phases: Phases, uv: Path) -> list[Trial]:
    """Every scenario, cheapest state first: P2, P1, P4, then the cache ones (P3 wipes the
    build; P5 needs what P3 left in the cache; P6 rewrites the copy's presets for Redis), then
    P7 and P8 (each writes the presets again first)."""
    counter = itertools.count(1)
    cache, gate = scenarios_cache, scenarios_gate
    trials = timed_phase(phases, "P2", lambda: scenarios.scenario_p2(ws, p2_runs, counter))
    trials += timed_phase(phases, "P1", lambda: scenarios.scenario_p1(ws, runs, counter, uv))
    trials += timed_phase(phases, "P4", lambda: scenarios.scenario_p4(ws, runs, counter))
    trials += timed_phase(phases, "P3", lambda: cache.scenario_p3(ws, runs, counter))
    trials += timed_phase(phases, "P5", lambda: cache.scenario_p5(ws, runs, counter))
    trials += timed_phase(phases, "P6", lambda: cache.scenario_p6(ws, runs, counter))
    trials += timed_phase(phases, "P7", lambda: gate.scenario_p7(ws, runs, counter))
    trials += timed_phase(phases, "P8", lambda: gate.scenario_p8(ws, runs, counter))
    return trials


def report(
    ws: Workspace,
    trials: list[Trial],
    args: argparse.Namespace,
    meta: dict[str, Any],
    withheld: Sequence[str] = (),
) -> None:
    """Print the table, write JSON and SVG; the ratios in `withheld` are reported as n/a."""
    stats = stats_by(trials)
    values = ratios(stats, trials)
    for key in withheld:
        values[key] = None
    goals = targets(values)
    print(f"nvcc builds one arch: VLLM_BUILD_ARCH={ARCH} (uv path: TORCH_CUDA_ARCH_LIST={ARCH})")
    print(f"source copy: {ws.source}; seconds, {args.runs} rounds (P2: {meta['p2_runs']})")
    steps = step_medians(trials)
    print("\n".join([*table(stats), *step_lines(steps), *target_lines(values, goals)]))
    print(f"wall time of the whole run: {meta['wall_seconds']:.1f} s ({meta['phase_seconds']})")
    for warning in meta["warnings"]:
        print(f"WARNING: {warning}")
    for key in withheld:
        print(f"NOT REPORTED: {key} (see the error below)")
    for error in meta["errors"]:
        print(f"ERROR: {error}")
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
    """Copy, bootstrap, measure every scenario, report; a cache scenario that measured
    nothing (no compiler cache, no hits in a warm run, no redis-server) fails."""
    ws = make_workspace(args.source.resolve(), tmp, args.cpp, args.cu)
    uv = find_uv(Machine(environ=ws.env))
    progress(f"bootstrapping {ws.source} (VLLM_BUILD_ARCH={ARCH}) ...")
    phases = Phases()
    timed_phase(phases, "bootstrap", lambda: bootstrap(ws))
    p2_runs = args.runs if args.quick else max(10, 2 * args.runs)
    trials = measure(ws, args.runs, p2_runs, phases, uv)
    problems = scenarios_cache.problems(ws, trials) + scenarios_gate.problems(trials)
    errors = [why for why, _ in problems]
    withheld = [key for _, keys in problems for key in keys]
    meta = {
        "date": date,
        "machine": envfacts.machine_facts(),
        "tools": envfacts.tool_versions(ws, uv),
        "environment": envfacts.environment_notes(ws, uv),
        "runs": args.runs,
        "p2_runs": p2_runs,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "phase_seconds": phases.seconds,
        "code_under_test": {"suite commit": envfacts.git_describe(), "fingerprints": phases.code},
        "warnings": phases.warnings(),
        "errors": errors,
    }
    report(ws, trials, args, meta, withheld=withheld)
    if errors:
        raise BenchError(f"{'; '.join(errors)}; not reported: {', '.join(withheld)}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: 0 when every scenario ran, verified and measured something; 1 otherwise."""
    args = parse_args(argv)
    start = time.perf_counter()
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    tmp = Path(tempfile.mkdtemp(prefix="vllm-loop-"))
    try:
        run_all(args, tmp, start, date)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BuildToolsError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.code
    finally:
        if args.keep:
            progress(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0
