"""`invoke watch`: rebuild on save, then optionally run a command, until Ctrl-C.

Watches csrc/** and cmake/** (every directory, so an editor's save-by-rename is seen too) and
the checkout root's CMakeLists.txt and presets files, with watchfiles. Each cycle runs the plan
`invoke build` runs (workflow.BUILD_ONLY) on a fresh context, quietly, and prints one status
line; a failed build is shown and watching goes on. Saves made during a build are kept by the
watcher and start the next cycle. Ctrl-C, the way to stop it, ends it with "stopped" and exit
0; SIGTERM or SIGHUP with 128 + the signal. The commands we started are ended by the runner
first.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from build_tools import workflow
from build_tools.checkout import source_tree
from build_tools.cmake import presets_file
from build_tools.console import Console, StepResult, make_console
from build_tools.errors import BuildToolsError, Interrupted
from build_tools.insight import ninja_log
from build_tools.process.runner import Command, CommandFailed, Runner
from build_tools.process.signals import termination_as_interrupt
from build_tools.run import make_run
from build_tools.settings import Settings

DIRS = ("csrc", "cmake")
ROOT_FILES = ("CMakeLists.txt", presets_file.PROJECT_FILE, presets_file.USER_FILE)
STEP_MS = 200  # a batch ends after this long without another change (formatters, "save all")
DEBOUNCE_MS = 1600  # ... or after this long in all
IDLE_MS = 500  # how often the watcher comes back while nothing changes


class Quiet(Console):
    """A cycle's console: warnings and the progress bar reach the person, the rest does not."""

    def __init__(self, shown: Console) -> None:
        super().__init__(shown.stream)
        self.shown = shown

    def _print(self, text: str) -> None:
        pass

    def warn(self, text: str) -> None:
        self.shown.warn(text)

    def progress(self, done: int, total: int) -> None:
        self.shown.progress(done, total)

    def done(self, result: StepResult) -> None:
        pass

    def summary(self, results: Sequence[StepResult], seconds: float) -> None:
        pass

    def table(self, title: str, rows: Sequence[Sequence[str]], headers: Sequence[str]) -> None:
        pass


def watched_dirs(root: Path) -> list[Path]:
    """The root (for its own files) and every directory under csrc/ and cmake/."""
    found = [root]
    for name in DIRS:
        top = root / name
        if top.is_dir():
            found.append(top)
            found.extend(sorted(p for p in top.rglob("*") if p.is_dir() and _kept(p, root)))
    return found


def _kept(path: Path, root: Path) -> bool:
    from watchfiles import DefaultFilter

    parts = path.relative_to(root).parts
    return not any(p in DefaultFilter.ignore_dirs for p in parts)


def relevant(root: Path) -> Callable[[Any, str], bool]:
    """The watchfiles filter: the root's build files, and what changes under csrc/ and cmake/
    (editor backups and swap files aside)."""
    from watchfiles import DefaultFilter

    default = DefaultFilter()

    def keep(change: Any, path: str) -> bool:
        try:
            parts = Path(path).relative_to(root).parts
        except ValueError:
            return False
        if len(parts) == 1:
            return parts[0] in ROOT_FILES or parts[0] in DIRS
        return bool(parts) and parts[0] in DIRS and default(change, path)

    return keep


def changes(root: Path) -> Generator[set[Path], None, None]:
    """Batches of changed paths, forever; an empty batch when nothing changed for a while (the
    first comes at once: the watcher is running from then on). A new directory is watched
    from the next batch on."""
    from watchfiles import watch

    while True:
        dirs = watched_dirs(root)
        batches = watch(
            *dirs,
            watch_filter=relevant(root),
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            rust_timeout=IDLE_MS,
            yield_on_timeout=True,
            recursive=False,
        )
        with contextlib.closing(batches):
            for batch in batches:
                paths = {Path(p) for _, p in batch}
                yield paths
                if any(p.is_dir() and p not in dirs for p in paths):
                    break


@dataclass(frozen=True)
class Cycle:
    ok: bool
    seconds: float
    units: int
    error: Optional[BuildToolsError] = None


def build_once(settings: Settings, shown: Console) -> Cycle:
    """One `invoke build`, quietly; a failure is returned, an interrupt raised."""
    start = time.monotonic()
    try:
        ctx = make_run(settings, console=Quiet(shown))
        directory = ctx.checkout.build_dir
        before = ninja_log.mark(directory)
        workflow.run(ctx, workflow.BUILD_ONLY)
        built = ninja_log.appended(directory, before)
    except Interrupted:
        raise
    except BuildToolsError as exc:
        return Cycle(False, time.monotonic() - start, 0, exc)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        problem = BuildToolsError(f"{exc.strerror or exc}{where}.", "check that path")
        return Cycle(False, time.monotonic() - start, 0, problem)
    units = sum(1 for e in built if e.kind == "compile")
    return Cycle(True, time.monotonic() - start, units)


def then_runner(tree: source_tree.SourceTree, shown: Console) -> Runner:
    """Where the --then command runs: our environment with the venv's bin first on PATH."""
    path = os.pathsep.join(p for p in (str(tree.venv_python.parent), os.environ.get("PATH")) if p)
    env = {**os.environ, "PATH": path, "VIRTUAL_ENV": str(tree.venv_dir)}
    return Runner(shown, base_env=env)


def run_then(argv: Sequence[str], tree: source_tree.SourceTree, runner: Runner) -> str:
    """The --then command, in the checkout; how it went."""
    try:
        runner.run(Command.of(argv, tree.root))
    except Interrupted:
        raise
    except CommandFailed as exc:
        return f"failed (exit {exc.outcome.returncode})"
    except BuildToolsError as exc:
        return f"failed ({exc.problem})"
    return "ok"


def status(cycle: Cycle, then: Optional[str], trigger: str) -> str:
    clock = time.strftime("%H:%M:%S")
    why = f" {trigger}:" if trigger else ""
    if not cycle.ok:
        return f"[{clock}]{why} build FAILED after {cycle.seconds:.1f} s"
    units = "up to date" if not cycle.units else f"{cycle.units} unit{'s' * (cycle.units != 1)}"
    line = f"[{clock}]{why} build ok in {cycle.seconds:.1f} s ({units})"
    return line + (f" · then: {then}" if then else "")


def _trigger(paths: set[Path], root: Path) -> str:
    names = sorted(str(p.relative_to(root)) if root in p.parents else str(p) for p in paths)
    more = f" (+{len(names) - 1} more)" if len(names) > 1 else ""
    return names[0] + more if names else ""


def watch(settings: Settings, then: str = "", shown: Optional[Console] = None) -> None:
    """Build now and after every save until Ctrl-C, which stops it (said; no error); SIGTERM
    or SIGHUP raise Interrupted (exit 128 + the signal)."""
    shown = shown or make_console()
    tree = source_tree.load(settings)
    try:
        argv = shlex.split(then)
    except ValueError as exc:
        raise BuildToolsError(
            f"--then {then!r} is not a command line ({exc}).",
            'quote it as a shell would, e.g. --then "pytest tests/kernels/test_x.py"',
        ) from None
    runner = then_runner(tree, shown)
    with termination_as_interrupt() as received:
        try:
            _loop(settings, tree, argv, shown, runner)
        except KeyboardInterrupt:
            if received and received[-1] != signal.SIGINT:
                raise Interrupted(received[-1]) from None
        except Interrupted as exc:  # during a build: the runner ended what it started
            if exc.signum != signal.SIGINT:
                raise
    shown.output(f"stopped watching {tree.root}")


def _loop(
    settings: Settings,
    tree: source_tree.SourceTree,
    argv: Sequence[str],
    shown: Console,
    runner: Runner,
) -> None:
    root = tree.root
    batches = changes(root)
    next(batches)  # the watcher runs from here: saves during the first build are kept
    what = ", ".join([*(f"{d}/" for d in DIRS if (root / d).is_dir()), *ROOT_FILES[:1]])
    shown.output(f"watching {what} and the presets in {root} (Ctrl-C ends)")
    trigger, paths = "start", set[Path]()
    while True:
        cycle = build_once(settings, shown)
        shown.end_progress()
        command = _auto_tests(settings, shown, paths) if list(argv) == [AUTO] else argv
        result = run_then(command, tree, runner) if command and cycle.ok else None
        shown.output(status(cycle, result, trigger))
        if cycle.error is not None:
            shown.output(cycle.error.message)
        trigger = ""
        while not trigger:
            paths = next(batches)
            trigger = _trigger(paths, root)


AUTO = "auto"  # --then auto: the tests of the kernels the cycle's files touch


def _auto_tests(settings: Settings, shown: Console, paths: set[Path]) -> list[str]:
    """`python -m pytest` of the tests for this cycle's files (the first cycle: what differs
    from the precompiled kernels and what the last build compiled); [] when none is chosen."""
    from build_tools.loop import tests

    ctx = make_run(settings, console=Quiet(shown))
    try:
        chosen = tests.for_cycle(ctx, paths) if paths else None
        if not paths:
            selection = tests.select(ctx, tests.changed_files(ctx))
            chosen = [t.test_file for t in selection.tests] or None
    except BuildToolsError as exc:
        shown.warn(f"--then auto chose no tests: {exc.problem}")
        return []
    return ["python", "-m", "pytest", "-q", *chosen] if chosen else []
