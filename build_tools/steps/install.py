"""install: the editable install, with precompiled kernels or as a full source build."""

from __future__ import annotations

from typing import Any

from packaging.utils import canonicalize_name

from build_tools import source_tree, venv_state
from build_tools.context import Context
from build_tools.steps.deps import deps_installed, uv_pip_install, warn_mismatch

PRECOMPILED_VARS = ("VLLM_PRECOMPILED_WHEEL_LOCATION", "VLLM_PRECOMPILED_WHEEL_COMMIT")


def _warn_stale_kernels(ctx: Context, recorded: dict[str, Any]) -> None:
    """Precompiled kernels from another commit than the checkout's cause import errors."""
    then, now = recorded.get("head"), source_tree.git_head(ctx.tree.root)
    if not recorded.get("precompiled") or not then or not now or then == now:
        return
    stamp_time = (ctx.tree.stamp_dir / venv_state.INSTALL_STAMP).stat().st_mtime
    built = [
        m
        for m in ctx.tree.root.glob("cmake-build-*/install_manifest*.txt")
        if m.stat().st_mtime > stamp_time
    ]
    if not built:  # kernels built here since then replace the precompiled ones
        cause = (
            f"the precompiled kernels are from commit {then[:12]}, the checkout is at {now[:12]}"
        )
        warn_mismatch(ctx, cause, "invoke build` (or `invoke install --force` for matching ones")


def install(ctx: Context) -> None:
    """Editable install: precompiled kernels (VLLM_USE_PRECOMPILED=1), or a full source build."""
    with ctx.step("install") as step:
        tree, precompiled = ctx.tree, ctx.settings.precompiled
        ctx.need_venv()
        stamp_path = tree.stamp_dir / venv_state.INSTALL_STAMP
        stamp: dict[str, Any] = {"source": str(tree.root), "precompiled": precompiled}
        dist = venv_state.installed(tree.venv_dir).get(canonicalize_name(tree.name))
        source = venv_state.editable_source(dist) if dist else None
        recorded = venv_state.read_json(stamp_path) or {}
        same_mode = {k: recorded.get(k) for k in stamp} == stamp or (not recorded and precompiled)
        here = source is not None and source.resolve() == tree.root.resolve()
        if here and same_mode and not ctx.settings.force and not ctx.assume_undone():
            _warn_stale_kernels(ctx, recorded)
            how = "precompiled kernels" if precompiled else "built from source"
            step.skipped(f"{tree.name} is installed editable ({how}) from {tree.root}")
            return
        if not tree.venv_is_ours and not ctx.settings.install_into_venv:
            step.skipped(
                f"not installing {tree.name} into {tree.venv_dir}, an environment we did not "
                "create (--install-into-venv does)"
            )
            return
        stamp["head"] = source_tree.git_head(tree.root)
        env = {k: ctx.machine.environ[k] for k in PRECOMPILED_VARS if ctx.machine.environ.get(k)}
        args: list[object] = ["-e", tree.root]
        if precompiled:
            env["VLLM_USE_PRECOMPILED"] = "1"
        elif deps_installed(ctx):
            args.append("--no-build-isolation")  # build with the venv's torch, cmake, ninja
        uv_pip_install(ctx, args, env)
        if not ctx.dry_run:
            stamp_path.parent.mkdir(parents=True, exist_ok=True)
            venv_state.write_json(stamp_path, stamp)
        kind = "precompiled kernels)" if precompiled else "kernels built from source)"
        step.ran(f"{tree.name} (editable, {kind}")
