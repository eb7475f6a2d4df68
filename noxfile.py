"""nox sessions: the kernel build CI runs (workflow.CI, the same steps as `invoke`), tests, lint.

`nox -l` lists them (importing this file discovers nothing);
`nox -s kernels -- --source PATH --target _C --preset ci --clean`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
CONSTRAINTS = ROOT / "constraints.txt"
PYTHONS = nox.project.python_versions(
    nox.project.load_toml(ROOT / "pyproject.toml"), max_version="3.13"
)

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "uv|virtualenv"


def _kernel_args(posargs: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nox -s kernels --", description=kernels.__doc__)
    parser.add_argument("--source", help="checkout to build (default: the bundled example)")
    parser.add_argument("--preset", default="ci", help="preset name (default: ci)")
    parser.add_argument("--target", help="build and install only this target")
    parser.add_argument("--clean", action="store_true", help="delete the build dir first")
    return parser.parse_args(posargs)


@nox.session(python=False)
def kernels(session: nox.Session) -> None:
    """Build, install to a staging prefix and smoke-test the kernels, from nothing.

    Its own venv, `ci` preset and build dir: a developer's build and installed kernels are
    never touched."""
    sys.path.insert(0, str(ROOT))
    from build_tools import settings, workflow
    from build_tools.checkout.source_tree import STATE_DIR
    from build_tools.errors import BuildToolsError
    from build_tools.process.runner import Command

    def install(command: Command) -> None:  # through nox, so `nox -R` can skip installs
        session.run_install(*command.argv, env=dict(command.env), external=True)

    args = _kernel_args(session.posargs)
    session.env["UV_CONSTRAINT"] = str(CONSTRAINTS)  # the same cmake/ninja every run
    venv = Path(session.create_tmp()).parent / "venv"  # <envdir>/kernels/venv
    flags = {"source": args.source, "preset": args.preset, "venv": str(venv), "target": args.target}
    plan = workflow.with_clean(workflow.CI) if args.clean else workflow.CI
    try:
        resolved = settings.resolve({k: v for k, v in flags.items() if v is not None})
        stage = resolved.source / STATE_DIR / "stage" / resolved.preset
        resolved = dataclasses.replace(resolved, install_prefix=str(stage))
        workflow.execute(resolved, plan, "nox -s kernels", installer=install)
    except BuildToolsError as exc:
        session.error(exc.message)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the suite's pytest tests (unit and integration) on each supported Python."""
    session.install("-c", str(CONSTRAINTS), "-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def unit(session: nox.Session) -> None:
    """The fast loop for contributors: the unit tests only (no real builds), in seconds."""
    session.install("-c", str(CONSTRAINTS), "-e", ".[test]")
    session.run("pytest", "-m", "not integration", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy over the suite."""
    session.install("-c", str(CONSTRAINTS), "-e", ".[test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
