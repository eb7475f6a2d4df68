"""doctor's load check: every installed extension loaded in the checkout's environment, torch
first (statically where loading is impossible), as after a build (loading/check.py)."""

from __future__ import annotations

from pathlib import Path

from build_tools.cmake.unit_deps import runner_capture
from build_tools.console import Console
from build_tools.doctor.findings import Finding, Subject, error, ok, warn
from build_tools.loading import check
from build_tools.process.runner import Runner


def load(c: Subject) -> list[Finding]:
    if c.tree is None or c.build_dir is None:
        return []
    if not c.tree.venv_python.is_file():
        return [ok("load check", "not checked: no venv yet")]
    prefix = c.settings.install_prefix
    staged = Path(prefix) if prefix and Path(prefix).is_absolute() else None
    runner = Runner(Console(), base_env=c.machine.environ)
    report = check.check(
        c.tree,
        c.build_dir,
        staged,
        c.machine.environ,
        runner_capture(runner, timeout=check.TIMEOUT_S),
        again=True,
    )
    if report.not_checked:
        return [warn("load check", report.summary(), "run `invoke deps`, then `invoke doctor`")]
    if report.bad:
        return [error("load check", bad.line(), bad.fix) for bad in report.bad]
    return [ok("load check", report.summary())]


CHECKS = (load,)
