"""Running commands and timing contenders: trials, round-robin rotations, progress lines.

Every process goes through build_tools.runner (argv lists, no shell, no stdin, output merged
and captured, monotonic wall time). Step timings come from the machine-readable summary every
invoke task writes (`<source>/.vllm-build-tools/last-summary.json`), deleted before each timed
run and read after it: a contender that writes none (raw cmake, `python -c pass`) has none.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from build_tools.process.runner import Command, Outcome, Runner

COMMAND_TIMEOUT = 900.0  # seconds; a command past it ends with exit code 124


class BenchError(Exception):
    """A command failed, or a run did not do what its scenario says."""


class _Silent:
    """A runner sink that shows nothing: captured commands print nothing while they run."""

    def command(self, command: Command, dry_run: bool) -> None:
        return None

    def output(self, line: str) -> None:
        return None

    def progress(self, done: int, total: int) -> None:
        return None


def run(argv: Sequence[object], cwd: Path, env: Mapping[str, str]) -> Outcome:
    """Run an argv list in `cwd` with exactly `env`, output captured; never raises on exit."""
    runner = Runner(_Silent(), base_env=env)
    return runner.capture(Command.of(argv, cwd), timeout=COMMAND_TIMEOUT)


def tail(outcome: Outcome, lines: int = 30) -> str:
    """The last lines of a command's merged output."""
    return "\n".join(outcome.output.splitlines()[-lines:])


def must(argv: Sequence[object], cwd: Path, env: Mapping[str, str]) -> Outcome:
    """`run`, raising BenchError with the output's tail on a non-zero exit."""
    done = run(argv, cwd, env)
    if done.returncode != 0:
        shown = " ".join(str(a) for a in argv)
        raise BenchError(f"`{shown}` exited {done.returncode} in {cwd}:\n{tail(done)}")
    return done


def step_seconds(summary: Path) -> dict[str, float]:
    """Seconds per step, and in all ('done'), from an invoke task's last-summary.json.

    {} when the file is absent or unreadable: the contender was not an invoke task.
    """
    try:
        data = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    steps: dict[str, float] = {}
    for step in data.get("steps") or []:
        if not isinstance(step, dict):
            continue
        name, seconds = step.get("name"), step.get("seconds")
        if isinstance(name, str) and isinstance(seconds, (int, float)):
            steps[name] = float(seconds)
    total = data.get("seconds")
    if isinstance(total, (int, float)):
        steps["done"] = float(total)
    return steps


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


def _no_verify(trial: Trial, done: Outcome) -> None:
    """Default verify hook: nothing to check."""
    return None


def _no_cleanup(trial: Trial) -> None:
    """Default cleanup hook: nothing to undo."""
    return None


Prepare = Callable[[Trial], dict[str, str]]
Verify = Callable[[Trial, Outcome], None]


@dataclass(frozen=True)
class Contender:
    """A command to time, and untimed hooks: prepare (returns extra env), verify, cleanup."""

    name: str
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    prepare: Prepare = _no_env
    verify: Verify = _no_verify
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
    scenario: str,
    contenders: Sequence[Contender],
    rounds: int,
    counter: Iterator[int],
    summary: Path,
) -> list[Trial]:
    """Time every contender `rounds` times, alternating them within each round.

    `summary` is where invoke tasks leave their step timings; it is removed before each run.
    """
    trials = []
    for r, order in rotations(contenders, rounds):
        for position, contender in enumerate(order):
            trial = Trial(scenario, contender.name, r, position, next(counter))
            extra = contender.prepare(trial)
            summary.unlink(missing_ok=True)
            done = run(contender.argv, contender.cwd, {**contender.env, **extra})
            if done.returncode != 0:
                raise BenchError(
                    f"{scenario} {contender.name} exited {done.returncode}:\n{tail(done)}"
                )
            trial.seconds = done.seconds
            steps = step_seconds(summary)
            if steps:
                trial.checks["steps"] = steps
            contender.verify(trial, done)
            contender.cleanup(trial)
            trials.append(trial)
            progress(
                f"{scenario} round {r + 1}/{rounds}  {contender.name:<34} {done.seconds:8.3f} s"
            )
    return trials


def progress(line: str) -> None:
    """Progress goes to stderr so stdout holds only the report."""
    print(line, file=sys.stderr, flush=True)
