"""venv: create the checkout's venv with uv, or reuse one of the right Python version."""

from __future__ import annotations

import os
import shlex
from typing import Optional

from packaging.version import Version

from build_tools.errors import BuildToolsError, ErrorKind
from build_tools.machine import interpreters, venv_state
from build_tools.machine import toolchain as tc
from build_tools.run import Run


def _release(version: Version) -> tuple[int, int]:
    return (version.major, version.minor)


def _other_release(ctx: Run, have: Version) -> Optional[BuildToolsError]:
    """The checkout's venv holds another Python release than the one asked for: the error."""
    tree, request = ctx.tree, ctx.settings.python
    if os.sep in request:  # an interpreter path: ask it
        wanted = interpreters.find_interpreter(ctx.machine, request, None).version
    else:
        wanted = tc.parse_version(request) or (0, 0, 0)
    if _release(have) == tuple(wanted[:2]):
        return None
    return BuildToolsError(
        f"{tree.venv_dir} holds Python {have}, but Python {request} was asked for.",
        f"remove it (rm -r {shlex.quote(str(tree.venv_dir))}) and rerun "
        f"`invoke bootstrap`, or keep it with --python {have.major}.{have.minor}",
    )


def tools_run(ctx: Run) -> None:
    """Before a build runs the venv's tools: a venv of ours that holds another Python release
    than the one asked for, whose ninja does not run (made again with another Python over
    the old one), is said as `venv` says it, not as `.venv/bin/ninja --version` failing. A
    venv of another release whose tools run (bootstrapped with --python X.Y) builds."""
    tree = ctx.tree
    have = venv_state.python_version(tree.venv_dir)
    if ctx.dry_run or not tree.venv_is_ours or not have or not tree.venv_python.exists():
        return
    asked = tc.parse_version(ctx.settings.python)
    if os.sep not in ctx.settings.python and asked and _release(have) == asked[:2]:
        return  # the venv holds the Python asked for: nothing to run
    ninja = tree.venv_tool("ninja")
    if ninja.is_file() and tc.tool_version(str(ninja)) is not None:
        return
    other = _other_release(ctx, have)
    if other is not None:
        raise other


def venv(ctx: Run) -> None:
    """Create the checkout's venv with uv (reused when it already has the right Python)."""
    with ctx.step("venv") as step:
        tree, request = ctx.tree, ctx.settings.python
        if not tree.venv_is_ours and tree.venv_python.exists():
            found = interpreters.probe_interpreter(tree.venv_python)
            text = tc.version_text(found.version) if found else "unknown"
            step.skipped(f"using the existing environment {tree.venv_dir} (Python {text})")
            return
        if tree.venv_dir.is_symlink() and not tree.venv_dir.exists():
            target = os.readlink(tree.venv_dir)
            raise BuildToolsError(
                f"{tree.venv_dir} is a symlink to {target}, which does not exist: there is "
                "no environment there, and none can be created in its place.",
                f"remove the link (`rm {shlex.quote(str(tree.venv_dir))}`) to create the venv "
                "here, or make the environment it points to",
                kind=ErrorKind.BAD_INPUT,
            )
        have = venv_state.python_version(tree.venv_dir)
        if have and tree.venv_python.exists():
            other = _other_release(ctx, have)
            if other is not None:
                raise other
            step.skipped(f"{tree.venv_dir} has Python {have}")
            return
        if tree.venv_dir.exists() and any(tree.venv_dir.iterdir()):
            raise BuildToolsError(
                f"{tree.venv_dir} exists but is not a venv (no pyvenv.cfg).",
                "move it away or set `venv` to another directory",
            )
        uv = tc.find_uv(ctx.machine)
        interp = interpreters.find_interpreter(ctx.machine, request, uv)
        version = Version(tc.version_text(interp.version))
        if not tree.requires_python.contains(version, prereleases=True):
            raise BuildToolsError(
                f"{tree.name} needs Python {tree.requires_python}, but {request} was asked for "
                f"({version} at {interp.path}).",
                "pick a supported version with --python X.Y",
            )
        ctx.console.note(f"Python {version} at {interp.path}")
        ctx.runner.run(ctx.command([uv, "venv", "--python", interp.path, "--seed", tree.venv_dir]))
        if not ctx.dry_run:
            (tree.venv_dir / venv_state.MARKER).write_text("created by vllm-build-tools\n")
        step.ran(f"Python {version}")
