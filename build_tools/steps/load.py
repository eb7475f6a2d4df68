"""load: after a build that installed something, every installed extension loads in the
checkout's environment (loading/check.py): torch imported first, each in a child process;
statically where loading is impossible, and said so. A library that does not load fails the
run, naming it, the undefined symbol (demangled), the likely cause and its fix."""

from __future__ import annotations

from pathlib import Path

from build_tools.cmake.unit_deps import runner_capture
from build_tools.errors import BuildToolsError, ErrorKind
from build_tools.loading import check
from build_tools.run import Run


def load(ctx: Run) -> None:
    """Load every installed extension as vLLM would (torch first); fail on one that cannot."""
    with ctx.step("load") as step:
        if not ctx.settings.load_check:
            step.skipped("load_check = false")
            return
        if ctx.settings.plan:
            step.skipped("--plan: nothing was installed")
            return
        if ctx.dry_run:
            step.ran(f"would load every installed extension with {ctx.tree.venv_python}")
            return
        ctx.need_venv()
        prefix = ctx.settings.install_prefix
        staged = Path(prefix) if prefix and Path(prefix).is_absolute() else None
        report = check.check(
            ctx.tree,
            ctx.checkout.build_dir,
            staged,
            ctx.machine.environ,
            runner_capture(ctx.runner, timeout=check.TIMEOUT_S),
            again=False,
        )
        if report.not_checked:
            ctx.console.warn(
                f"the installed extensions were not load-checked: {report.not_checked}"
            )
            step.skipped(report.summary())
        elif not report.ok:
            raise BuildToolsError(report.problem(), report.fix(), kind=ErrorKind.NO_LOAD)
        elif not report.loaded and not report.static:
            step.skipped(report.summary())
        else:
            step.ran(report.summary())
