"""The run: what every step gets besides the checkout view. The settings, the machine, the
console, the runner, the results so far, the step timer and the build-dir lock.

`with ctx.step(name) as step:` times and records one step: `step.skipped(...)` when it was
already done, `step.ran(...)` otherwise; a step that raises is recorded as failed, with the
kind of its failure, before the error goes on to the front door.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from build_tools.cache import policy
from build_tools.checkout import source_tree
from build_tools.checkout.view import Checkout
from build_tools.cmake import cmake_python, configure_cache
from build_tools.cmake.presets_file import USER_FILE
from build_tools.cmake.presets_gen import BUILD_TYPES, pools_script
from build_tools.cmake.project import CMake
from build_tools.console import Console, StepResult, StepStatus, make_console
from build_tools.errors import BuildToolsError, ErrorKind, as_error
from build_tools.machine import toolchain as tc
from build_tools.process import gate, lock
from build_tools.process.runner import Command, Git, Runner
from build_tools.safety import safe_paths
from build_tools.settings import Settings

LAST_LOG, PREVIOUS_LOG, SUMMARY = "last-run.log", "previous-run.log", "last-summary.json"


@dataclass
class Step:
    """The outcome a step body reports (`outcome`: what later steps read, typed by the step)."""

    name: str
    status: StepStatus = StepStatus.RAN
    detail: str = ""
    outcome: object = None

    def skipped(self, detail: str) -> None:
        self.status, self.detail = StepStatus.SKIPPED, detail

    def ran(self, detail: str) -> None:
        self.status, self.detail = StepStatus.RAN, detail


@dataclass
class Run:
    settings: Settings
    checkout: Checkout
    machine: tc.Machine
    console: Console
    runner: Runner
    results: list[StepResult] = field(default_factory=list)
    # Dry run only: earlier steps of this plan would change what this step's "done?" check reads.
    upstream_pending: bool = False
    _cmake: Optional[CMake] = None
    _cache_env: Optional[dict[str, str]] = None

    @property
    def tree(self) -> source_tree.SourceTree:
        return self.checkout.tree

    @property
    def dry_run(self) -> bool:
        return self.settings.dry_run

    @property
    def preset(self) -> str:
        return self.settings.preset

    def command(self, argv: Sequence[object], env: Optional[dict[str, str]] = None) -> Command:
        return Command.of(argv, self.tree.root, env)

    def assume_undone(self) -> bool:
        """In a dry run after a step that would run, "already done?" cannot be answered."""
        return self.dry_run and self.upstream_pending

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        self.console.step(name)
        start = time.monotonic()
        step = Step(name)
        try:
            yield step
        except (BuildToolsError, KeyboardInterrupt, OSError) as exc:
            error = as_error(exc)
            seconds = time.monotonic() - start
            failed = StepResult(name, StepStatus.FAILED, error.problem, seconds, error.kind)
            self.results.append(failed)
            if error is exc:
                raise
            raise error from None
        if self.dry_run and step.status is StepStatus.RAN:
            step.status = StepStatus.DRY_RUN
        seconds = time.monotonic() - start
        result = StepResult(name, step.status, step.detail, seconds, outcome=step.outcome)
        self.console.done(result)
        self.results.append(result)

    def presets_written(self) -> None:
        """The presets file changed: what was read or derived from it is read again."""
        self.checkout = self.checkout.reread()
        self._cache_env = None

    # ------------------------------------------------------------ what steps share

    def cmake(self) -> CMake:
        """The cmake to run; in a dry run before `deps`, the one `deps` would install."""
        if self._cmake is None:
            venv_bin = self.tree.venv_python.parent
            try:
                binary = tc.find_cmake(self.machine, venv_bin, self.tree.cmake_minimum)
            except BuildToolsError:
                if not self.dry_run:
                    raise
                binary = self.tree.venv_tool("cmake")
            self._cmake = CMake(binary, self.tree.root)
        return self._cmake

    def cache_env(self) -> dict[str, str]:
        """What configure and build run with so the compiler cache never fails them."""
        if self._cache_env is None:
            self._cache_env = policy.build_environment(
                self.checkout,
                self.machine.environ,
                self.console.warn,
                dry_run=self.dry_run,
                settings=self.settings,
            )
        return self._cache_env

    def install_gate(self, script: Optional[Path] = None) -> None:
        """The memory gate the preset runs before each compile (or `script`, for presets about
        to be written), written where it is named when it is missing or another version's (a
        deleted state dir, an older suite)."""
        script = script or self.checkout.gate
        if script is not None and not self.dry_run:
            try:
                gate.install(script)
            except OSError as exc:
                blocking = next((p for p in script.parents if p.exists() and not p.is_dir()), None)
                fix = (
                    f"{blocking} is a file where a directory must be: move it aside"
                    if blocking
                    else f"make {script.parent} writable"
                )
                raise BuildToolsError(
                    f"the memory gate {script} the preset runs before each compile cannot be "
                    f"written: {exc.strerror}.",
                    f"{fix}, or `invoke presets --no-memory-gate`",
                ) from None

    @property
    def configure_cache(self) -> Optional[Path]:
        """Where configure's reusable answers are kept (None: `configure_cache = none`)."""
        setting, environ = self.settings.configure_cache, self.machine.environ
        return configure_cache.root_of(setting, environ, self.tree.root)

    def install_python(self, python: Optional[Path] = None) -> None:
        """The interpreter script the preset gives CMake (cmake/cmake_python.py), written where
        it is named when it is missing or another version's (`python`: for presets about to be
        written, the Python it runs)."""
        named = self.checkout.cache_value("VLLM_PYTHON_EXECUTABLE")
        wrapper = self.tree.state_dir / cmake_python.WRAPPER
        root = self.configure_cache
        if self.dry_run or root is None:
            return
        if python is None and (named is None or Path(named) != wrapper):
            return
        try:
            cmake_python.install_python(self.tree.state_dir, python or self.tree.venv_python, root)
        except OSError as exc:
            raise BuildToolsError(
                f"the interpreter script {wrapper} the preset gives CMake cannot be written: "
                f"{exc.strerror}.",
                f"make {wrapper.parent} a writable folder, or have configure ask Python itself: "
                "`VLLM_BUILD_CONFIGURE_CACHE=none invoke presets`",
            ) from None

    def install_pools(
        self, script: Optional[Path] = None, targets: Optional[tuple[str, ...]] = None
    ) -> None:
        """The heavy-pool script the preset names (CMAKE_PROJECT_INCLUDE), written where it is
        missing: it lives with the measured peaks, and CMake refuses a missing include. Without
        the peaks nothing is known to be heavy, so that script assigns no target. (`script`,
        `targets`: for presets about to be written, the plan's heavy targets.)"""
        if self.dry_run:
            return
        repair = script is None  # the script the preset names: written only where missing
        if script is None:
            script = self.checkout.pools_script
            named = self.checkout.cache_value("CMAKE_PROJECT_INCLUDE")
            if named is None or Path(named) != script or script.is_file():
                return
        text = pools_script(targets or ())
        if script.is_file() and script.read_text(encoding="utf-8") == text:
            return
        try:
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise BuildToolsError(
                f"the heavy-pool script {script} the preset names cannot be written: "
                f"{exc.strerror}.",
                f"make {script.parent} a writable folder, or `invoke presets --force` to "
                "write presets that name none",
            ) from None
        if repair:
            self.console.note(
                f"{script.name} was missing (the measured peaks with it): wrote one that puts "
                "no target in the heavy pool; `invoke presets` plans the pools again once "
                "compiles are measured"
            )

    def pip_install(self, args: Sequence[object], env: Optional[dict[str, str]] = None) -> None:
        """`uv pip install` into the checkout's venv (a front door may route it: nox -R)."""
        uv = tc.find_uv(self.machine)
        argv = [uv, "pip", "install", "--python", self.tree.venv_python, *args]
        backend = self.settings.torch_backend
        argv += [f"--torch-backend={backend}"] if backend else []
        self.runner.run(self.command(argv, env), install=True)

    def git(self) -> Git:
        """git, run through the runner (None where there is no git)."""
        git = self.machine.which("git")
        if git is None:
            return None

        def run(args: Sequence[str]) -> tuple[int, str]:
            done = self.runner.capture(self.command([git, *args]))
            return done.returncode, done.output

        return run

    def need_venv(self) -> None:
        if not self.dry_run and not self.tree.venv_python.is_file():
            raise BuildToolsError(
                f"There is no venv at {self.tree.venv_dir}.",
                "run `invoke bootstrap` (or `invoke venv`) first",
            )

    def need_preset(self, *, creating: bool = False) -> None:
        """The preset exists, or is one we generate (any name when `creating`); a near miss
        of an existing or standard name ("Release") is an error, never a new preset."""
        if self.checkout.has_preset:
            return
        names = self.checkout.presets.configure_names()
        wanted = self.preset
        same = [n for n in names + list(BUILD_TYPES) if n.lower() == wanted.lower() and n != wanted]
        if same and wanted not in BUILD_TYPES:
            raise BuildToolsError(
                f"Preset {wanted!r} does not exist; preset names are case-sensitive.",
                f"did you mean {wanted} -> {same[0]}? pass --preset {same[0]}",
            )
        if wanted not in BUILD_TYPES and not creating:
            have = ", ".join(names) or "none"
            raise BuildToolsError(
                f"Preset {wanted!r} is not in {self.tree.root / USER_FILE} (it has: {have}).",
                "pick one of those with --preset, or create it with "
                f"`invoke presets --preset {wanted}`",
            )

    @contextmanager
    def locked(self, directory: Path) -> Iterator[None]:
        """Hold `directory`'s lock (a dry run takes none)."""
        if self.dry_run:
            yield
            return
        path = lock.lock_path(self.tree.state_dir, directory)
        with lock.hold(
            path,
            f"build dir {directory}",
            wait=self.settings.wait,
            say=self.console.note,
            warn=self.console.warn,
        ) as holder:
            self.runner.observers.append(holder.running)
            try:
                yield
            finally:
                self.runner.observers.remove(holder.running)


def _state_dir(tree: source_tree.SourceTree) -> Path:
    state = tree.state_dir
    try:
        state.mkdir(exist_ok=True)
        ignore = state / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# written by vllm-build-tools: logs and caches, never commit\n*\n")
        last = state / LAST_LOG
        if last.exists():
            os.replace(last, state / PREVIOUS_LOG)
    except OSError:
        pass
    return state


def make_run(
    settings: Settings,
    *,
    machine: Optional[tc.Machine] = None,
    console: Optional[Console] = None,
    runner: Optional[Runner] = None,
) -> Run:
    """Read the checkout and wire the pieces; a dry run writes no log."""
    tree = source_tree.load(settings)
    safe_paths.check(tree.root, "source")
    safe_paths.check(tree.venv_dir, "venv")
    if settings.origin("venv") != "default" and tree.venv_dir.exists():
        if not tree.venv_python.is_file():
            raise BuildToolsError(
                f"venv = {settings.venv!r} from {settings.origin('venv')} is not a Python "
                f"environment ({tree.venv_python} does not exist).",
                "pass the folder that holds bin/python (a venv or conda environment), or "
                "omit it to use the checkout's .venv",
                kind=ErrorKind.BAD_INPUT,
            )
    machine = machine or tc.Machine()
    console = console or make_console(environ=machine.environ)
    console.speak_as(settings)
    if runner is None:
        log = None if settings.dry_run else _state_dir(tree) / LAST_LOG
        runner = Runner(console, dry_run=settings.dry_run, log=log, base_env=machine.environ)
    checkout = Checkout(tree, settings.preset, machine.environ)
    return Run(settings, checkout, machine, console, runner)
