"""What every step gets: settings, the source tree, the machine, the reporter and the runner,
plus the facts several steps share, each computed in one place (the cmake to run, the presets,
the build dir of the preset) and the build-dir lock."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from build_tools import compiler_cache, lock, remote_cache, safe_paths, source_tree
from build_tools import toolchain as tc
from build_tools.cmake import presets_file
from build_tools.cmake.presets_gen import BUILD_TYPES
from build_tools.cmake.project import CMake
from build_tools.errors import BuildToolsError
from build_tools.report import PlainReporter, StepResult, StepStatus, make_reporter
from build_tools.runner import Command, Runner
from build_tools.settings import Settings

LAST_LOG, PREVIOUS_LOG, SUMMARY = "last-run.log", "previous-run.log", "last-summary.json"


@dataclass
class Step:
    """The outcome a step body reports; `with ctx.step(name) as step:` times and records it."""

    name: str
    status: StepStatus = StepStatus.RAN
    detail: str = ""

    def skipped(self, detail: str) -> None:
        self.status, self.detail = StepStatus.SKIPPED, detail

    def ran(self, detail: str) -> None:
        self.status, self.detail = StepStatus.RAN, detail


@dataclass
class Context:
    settings: Settings
    tree: source_tree.SourceTree
    machine: tc.Machine
    reporter: PlainReporter
    runner: Runner
    results: list[StepResult] = field(default_factory=list)
    # Dry run only: earlier steps of this plan would change what this step's "done?" check reads.
    upstream_pending: bool = False
    _cmake: Optional[CMake] = None
    _cache_env: Optional[dict[str, str]] = None
    _presets: Optional[presets_file.Presets] = None  # read once a run; the presets step resets

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
        self.reporter.step(name)
        start = time.monotonic()
        step = Step(name)
        yield step
        if self.dry_run and step.status is StepStatus.RAN:
            step.status = StepStatus.DRY_RUN
        result = StepResult(name, step.status, step.detail, time.monotonic() - start)
        self.reporter.done(result)
        self.results.append(result)

    # ------------------------------------------------------------ shared facts

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
        """Environment that keeps the preset's compiler cache from failing the build, and a
        warning when its shared remote cache does not answer (ccache then just misses)."""
        if self._cache_env is None:
            found = self.configure_preset()
            launcher = compiler_cache.launcher_in(found.get("cacheVariables") or {})
            self._cache_env = compiler_cache.environment(
                launcher, self.machine.environ, self.reporter.warn
            )
            remote = (found.get("environment") or {}).get("CCACHE_REMOTE_STORAGE")
            why = remote_cache.unreachable(remote) if isinstance(remote, str) and remote else None
            if why and launcher and not self.dry_run:
                self.reporter.warn(
                    f"the remote compiler cache {remote} cannot be used: {why}; building "
                    "with the local cache only"
                )
            scheduler = self.settings.dist_scheduler if self.settings.dist else ""
            why = remote_cache.unreachable(scheduler) if scheduler and not self.dry_run else None
            if why:
                self.reporter.warn(
                    f"the sccache-dist scheduler {scheduler} cannot be used: {why}; "
                    "compiling on this machine"
                )
        return self._cache_env

    def sccache_client(self) -> Optional[tuple[Path, dict[str, str], bool]]:
        """(sccache, its environment, distributed?) when the preset's launcher is sccache."""
        found = self.configure_preset()
        launcher = compiler_cache.launcher_in(found.get("cacheVariables") or {})
        if not launcher or Path(launcher).name != "sccache":
            return None
        conf = (found.get("environment") or {}).get("SCCACHE_CONF")
        extra = {"SCCACHE_CONF": conf} if isinstance(conf, str) else {}
        return Path(launcher), {**self.machine.environ, **extra}, bool(extra)

    def presets(self) -> presets_file.Presets:
        if self._presets is None:
            self._presets = presets_file.load(self.tree.root)
        return self._presets

    def presets_written(self) -> None:
        """The presets file changed: what was read or derived from it is read again."""
        self._presets = self._cache_env = None

    def configure_preset(self) -> dict[str, Any]:
        """The asked configure preset, inherits applied ({} while it is not written yet)."""
        presets = self.presets()
        if not self.has_preset(presets):
            return {}
        return presets_file.resolve_configure(presets, self.preset, self.machine.environ)

    def has_preset(self, presets: Optional[presets_file.Presets] = None) -> bool:
        return (presets or self.presets()).find(self.preset) is not None

    def build_dir(self, presets: Optional[presets_file.Presets] = None) -> Path:
        """The preset's binaryDir as CMake resolves it; ours (cmake-build-<name>) while the
        preset is not written yet."""
        presets = presets or self.presets()
        found = None
        if presets.find(self.preset) is not None:
            found = presets_file.binary_dir(presets, self.preset, self.machine.environ)
        directory = found or self.tree.root / f"cmake-build-{self.preset}"
        return safe_paths.check(directory, "build dir")

    def need_venv(self) -> None:
        if not self.dry_run and not self.tree.venv_python.is_file():
            raise BuildToolsError(
                f"There is no venv at {self.tree.venv_dir}.",
                "run `invoke bootstrap` (or `invoke venv`) first",
            )

    def need_preset(self, *, creating: bool = False) -> None:
        """The preset exists, or is one we generate (any name when `creating`); a near miss
        of an existing or standard name ("Release") is an error, never a new preset."""
        presets = self.presets()
        if self.has_preset(presets):
            return
        names = presets.configure_names()
        wanted = self.preset
        same = [n for n in names + list(BUILD_TYPES) if n.lower() == wanted.lower() and n != wanted]
        if same and wanted not in BUILD_TYPES:
            raise BuildToolsError(
                f"Preset {self.preset!r} does not exist; preset names are case-sensitive.",
                f"did you mean {self.preset} -> {same[0]}? pass --preset {same[0]}",
            )
        if self.preset not in BUILD_TYPES and not creating:
            have = ", ".join(names) or "none"
            raise BuildToolsError(
                f"Preset {self.preset!r} is not in {self.tree.root / presets_file.USER_FILE} "
                f"(it has: {have}).",
                "pick one of those with --preset, or create it with "
                f"`invoke presets --preset {self.preset}`",
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
            say=self.reporter.note,
            warn=self.reporter.warn,
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


def make_context(
    settings: Settings,
    *,
    machine: Optional[tc.Machine] = None,
    reporter: Optional[PlainReporter] = None,
    runner: Optional[Runner] = None,
) -> Context:
    """Read the checkout and wire the pieces; a dry run writes no log."""
    tree = source_tree.load(settings)
    safe_paths.check(tree.root, "source")
    safe_paths.check(tree.venv_dir, "venv")
    machine = machine or tc.Machine()
    reporter = reporter or make_reporter(environ=machine.environ)
    if runner is None:
        log = None if settings.dry_run else _state_dir(tree) / LAST_LOG
        runner = Runner(reporter, dry_run=settings.dry_run, log=log, base_env=machine.environ)
    return Context(settings, tree, machine, reporter, runner)
