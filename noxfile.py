"""nox sessions: the kernel build CI runs (the same steps as `invoke`), the tests and lint.

`nox -l` lists them; `nox -s kernels -- --source PATH --target _C --preset ci --clean`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from build_tools import settings as settings_mod  # noqa: E402
from build_tools import steps, toolchain  # noqa: E402
from build_tools.errors import BuildToolsError  # noqa: E402
from build_tools.runner import Command, Outcome, Runner  # noqa: E402

CONSTRAINTS = ROOT / "constraints.txt"

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests", "kernels"]


def _kernels_python() -> tuple[str | None, str]:
    """The interpreter for `kernels`, found as `invoke venv` finds it (not via pyenv shims)."""
    try:
        wanted = settings_mod.resolve().python
        machine = toolchain.Machine()
        uv = None
        try:
            uv = toolchain.find_uv(machine)
        except BuildToolsError:
            pass
        return str(toolchain.find_interpreter(machine, wanted, uv).path), ""
    except BuildToolsError as exc:
        return None, exc.message


KERNELS_PYTHON, KERNELS_PYTHON_ERROR = _kernels_python()


class NoxRunner(Runner):
    """Our runner, except that package installs go through `session.run_install` (nox -R)."""

    def __init__(self, session: nox.Session, base: Runner) -> None:
        super().__init__(base.sink, dry_run=base.dry_run, log=base.log, base_env=base.base_env)
        self.session = session

    def run(
        self, command: Command, *, fix: str = "", quiet: bool = False, install: bool = False
    ) -> Outcome:
        if not install or self.dry_run:
            return super().run(command, fix=fix, quiet=quiet, install=install)
        self.session.run_install(*command.argv, env=dict(command.env), external=True)
        return Outcome(command, 0, 0.0, ())


def _kernel_args(posargs: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nox -s kernels --", description=kernels.__doc__)
    parser.add_argument("--source", help="checkout to build (default: the bundled example)")
    parser.add_argument("--preset", default="ci", help="preset name (default: ci)")
    parser.add_argument("--target", help="build and install only this target")
    parser.add_argument("--clean", action="store_true", help="delete the build dir first")
    return parser.parse_args(posargs)


@nox.session(python=KERNELS_PYTHON, tags=["ci"])
def kernels(session: nox.Session) -> None:
    """Build, install and smoke-test the kernels from nothing (own `ci` preset and build dir)."""
    if KERNELS_PYTHON_ERROR:
        session.error(KERNELS_PYTHON_ERROR)
    args = _kernel_args(session.posargs)
    session.env["UV_CONSTRAINT"] = str(CONSTRAINTS)  # the same cmake/ninja every run
    flags: dict[str, Any] = {
        "source": args.source,
        "preset": args.preset,
        "venv": session.virtualenv.location,
    }
    try:
        ctx = steps.make_context(settings_mod.resolve(flags))
        ctx.runner = NoxRunner(session, ctx.runner)
        steps.deps(ctx)
        steps.install(ctx)
        steps.presets(ctx)
        (steps.clean_build if args.clean else steps.build)(ctx, args.target)
        steps.smoke(ctx)
        steps.cache_stats(ctx)
    except BuildToolsError as exc:
        session.error(exc.message)
    ctx.reporter.summary(ctx.results, sum(r.seconds for r in ctx.results))


@nox.session
def tests(session: nox.Session) -> None:
    """Run the suite's pytest tests (unit and integration)."""
    session.install("-c", str(CONSTRAINTS), "-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy over the suite."""
    session.install("-c", str(CONSTRAINTS), "-e", ".[test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
