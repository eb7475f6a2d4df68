"""The order of the steps, written once: both front doors (invoke, nox) run these lists.

A stage names the earlier stages whose work its "already done?" check reads: in a dry run,
once one of those would run, the check cannot be answered from disk, so the stage is shown
as one that would run (`clean-build --dry-run` shows the configure and build that follow).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Literal, Optional

from build_tools.console import StepStatus, summary_data
from build_tools.errors import BuildToolsError, as_error
from build_tools.plan import asked
from build_tools.process.runner import Installer
from build_tools.process.signals import termination_as_interrupt
from build_tools.run import SUMMARY, Run, make_run
from build_tools.settings import Settings
from build_tools.steps import (
    build,
    clean,
    configure,
    deps,
    install,
    load,
    presets,
    sources,
    venv,
    verify,
)


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[Run], object]
    reads: tuple[str, ...] = ()  # earlier stages whose changes this stage's check reads
    locks: bool = False  # runs under the build dir's lock (held from here to the end)


def ensure_presets(ctx: Run) -> None:
    """Write the presets only when the asked preset is missing (and is one we generate), or
    when CUDA archs are asked anew (an exported TORCH_CUDA_ARCH_LIST that differs). First of
    every build: a venv whose tools no longer run is said for what it is (venv.tools_run)."""
    venv.tools_run(ctx)
    ctx.need_preset()
    if not ctx.checkout.has_preset or asked.pending(ctx.settings, ctx.checkout):
        presets.presets(ctx)


VENV = Stage("venv", venv.venv)
DEPS = Stage("deps", deps.deps, ("venv",))
INSTALL = Stage("install", install.install, ("venv", "deps"))
PRESETS = Stage("presets", presets.presets, ("venv", "deps"))
ENSURE_PRESETS = Stage("presets", ensure_presets)
CLEAN = Stage("clean", clean.clean, locks=True)
CONFIGURE = Stage("configure", configure.configure, ("deps", "presets", "clean"), locks=True)
BUILD = Stage("build", build.build, locks=True)
LOAD = Stage("load", load.load)
TARGETS = Stage("targets", verify.targets, locks=True)
SOURCES = Stage("sources", sources.sources)
SMOKE = Stage("smoke", verify.smoke)
CACHE_STATS = Stage("cache-stats", verify.cache_stats)

VENV_ONLY, DEPS_ONLY, INSTALL_ONLY, PRESETS_ONLY = (VENV,), (DEPS,), (INSTALL,), (PRESETS,)
SOURCES_ONLY = (SOURCES,)
BOOTSTRAP = (VENV, DEPS, INSTALL, PRESETS, CONFIGURE, BUILD, LOAD)
CI = (*BOOTSTRAP, SMOKE, CACHE_STATS)
CONFIGURE_ONLY = (ENSURE_PRESETS, CONFIGURE)
BUILD_ONLY = (ENSURE_PRESETS, CONFIGURE, BUILD, LOAD)
CLEAN_BUILD = (ENSURE_PRESETS, CLEAN, CONFIGURE, BUILD, LOAD)
LIST_TARGETS = (ENSURE_PRESETS, CONFIGURE, TARGETS)

# The plans a task names (cli/tasks.py), typed so that a name no plan has fails mypy.
PlanName = Literal[
    "VENV_ONLY",
    "DEPS_ONLY",
    "INSTALL_ONLY",
    "PRESETS_ONLY",
    "SOURCES_ONLY",
    "BOOTSTRAP",
    "CONFIGURE_ONLY",
    "BUILD_ONLY",
    "CLEAN_BUILD",
    "LIST_TARGETS",
]
PLANS: dict[PlanName, tuple[Stage, ...]] = {
    "VENV_ONLY": VENV_ONLY,
    "DEPS_ONLY": DEPS_ONLY,
    "INSTALL_ONLY": INSTALL_ONLY,
    "PRESETS_ONLY": PRESETS_ONLY,
    "SOURCES_ONLY": SOURCES_ONLY,
    "BOOTSTRAP": BOOTSTRAP,
    "CONFIGURE_ONLY": CONFIGURE_ONLY,
    "BUILD_ONLY": BUILD_ONLY,
    "CLEAN_BUILD": CLEAN_BUILD,
    "LIST_TARGETS": LIST_TARGETS,
}


def with_clean(stages: Sequence[Stage]) -> tuple[Stage, ...]:
    """The same plan with CLEAN just before CONFIGURE (nox -s kernels -- --clean)."""
    at = stages.index(CONFIGURE)
    return (*stages[:at], CLEAN, *stages[at:])


def run(ctx: Run, stages: Sequence[Stage]) -> None:
    """Run the stages in order; the build dir's lock is taken before the first that needs it."""
    with ExitStack() as held:
        locked = False
        for stage in stages:
            ctx.upstream_pending = _pending(ctx, stage)
            if stage.locks and not locked:
                held.enter_context(ctx.locked(ctx.checkout.build_dir))
                locked = True
            stage.run(ctx)


def execute(
    settings: Settings,
    stages: Sequence[Stage],
    command: str,
    *,
    installer: Optional[Installer] = None,
) -> Run:
    """What a front door does: a context, the plan, the summary (printed and as JSON).

    BuildToolsError (Interrupted included: Ctrl-C, SIGTERM, SIGHUP) propagates, for the front
    door to turn into its message and exit code; the JSON summary is written either way.
    """
    start = time.monotonic()
    ctx = make_run(settings)
    ctx.runner.installer = installer
    failure: Optional[BuildToolsError] = None
    try:
        with termination_as_interrupt():
            try:
                run(ctx, stages)
            except (KeyboardInterrupt, OSError) as exc:
                raise as_error(exc) from None
    except BuildToolsError as exc:
        failure = exc
        raise
    finally:
        seconds = time.monotonic() - start
        if ctx.results and failure is None:
            ctx.console.summary(ctx.results, seconds)
        _write_summary(ctx, summary_data(command, ctx.results, seconds, failure))
    return ctx


def _write_summary(ctx: Run, data: dict[str, object]) -> None:
    if ctx.dry_run:
        return
    try:
        ctx.tree.state_dir.mkdir(exist_ok=True)
        (ctx.tree.state_dir / SUMMARY).write_text(json.dumps(data, indent=1) + "\n")
    except OSError:
        pass


def _pending(ctx: Run, stage: Stage) -> bool:
    changed = {r.name for r in ctx.results if r.status is not StepStatus.SKIPPED}
    return bool(changed & set(stage.reads))
