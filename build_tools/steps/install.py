"""install: the editable install, with precompiled kernels or as a full source build."""

from __future__ import annotations

from typing import Any

from packaging.utils import canonicalize_name

from build_tools import drift
from build_tools.checkout import base, provenance, source_tree, wheel_origin
from build_tools.checkout.source_tree import SourceTree
from build_tools.machine import venv_state
from build_tools.run import Run

PRECOMPILED_VARS = ("VLLM_PRECOMPILED_WHEEL_LOCATION", "VLLM_PRECOMPILED_WHEEL_COMMIT")


def _record_base(ctx: Run, env: dict[str, str], before: dict[str, base.Stamp]) -> None:
    """What the kernels were built from and which libraries the wheel put into the tree."""
    environ = {**ctx.machine.environ, **env}
    found = base.record(ctx.tree, environ, before, ctx.git(), base.load(ctx.tree))
    try:
        base.save(ctx.tree, found)
        provenance.save(ctx.tree, provenance.precompiled(ctx.tree, found))
    except OSError as exc:
        ctx.console.warn(f"could not record the precompiled kernels ({exc}): builds build all")
        return
    ctx.console.note(f"precompiled kernels {found.recorded}")


def _kernels_missing(tree: SourceTree) -> bool:
    """A precompiled install whose kernels the tree does not hold (a fresh tree unpacked where
    the venv's editable install points): the recorded base's libraries, else any library in
    the package's folder."""
    found = base.load(tree)
    if found is not None and found.kernels:
        return not all((tree.root / rel).is_file() for rel in found.kernels)
    return (tree.root / tree.package).is_dir() and next(base.libraries(tree), None) is None


def install(ctx: Run) -> None:
    """Editable install: precompiled kernels (VLLM_USE_PRECOMPILED=1), or a full source build."""
    with ctx.step("install") as step:
        tree, precompiled = ctx.tree, ctx.settings.precompiled
        ctx.need_venv()
        stamp_path = drift.install_stamp(tree)
        stamp: dict[str, Any] = {"source": str(tree.root), "precompiled": precompiled}
        dist = venv_state.installed(tree.venv_dir).get(canonicalize_name(tree.name))
        source = venv_state.editable_source(dist) if dist else None
        recorded = venv_state.read_json(stamp_path) or {}
        same_mode = {k: recorded.get(k) for k in stamp} == stamp or (not recorded and precompiled)
        here = source is not None and source.resolve() == tree.root.resolve()
        missing = precompiled and here and same_mode and _kernels_missing(tree)
        if (
            here
            and same_mode
            and not missing
            and not ctx.settings.force
            and not ctx.assume_undone()
        ):
            if warning := drift.precompiled_kernels(tree, ctx.checkout.build_trees).warning:
                ctx.console.warn(warning)
            how = "precompiled kernels" if precompiled else "built from source"
            step.skipped(f"{tree.name} is installed editable ({how}) from {tree.root}")
            return
        if missing:
            ctx.console.note(
                f"{tree.root} is installed editable, but holds none of its precompiled kernels "
                "(a fresh tree?): installing them again"
            )
        if not tree.venv_is_ours and not ctx.settings.install_into_venv:
            step.skipped(
                f"not installing {tree.name} into {tree.venv_dir}, an environment we did not "
                "create (--install-into-venv does)"
            )
            return
        stamp["head"] = source_tree.git_head(tree.root)
        args: list[object] = ["-e", tree.root]
        # vLLM's setup.py takes a wheel location alone as "precompiled": a source build must
        # not see one, even when the user's shell exports it.
        env = {k: "" for k in PRECOMPILED_VARS}
        if precompiled:
            env = {k: v for k in PRECOMPILED_VARS if (v := ctx.machine.environ.get(k, ""))}
            env["VLLM_USE_PRECOMPILED"] = "1"
            ctx.console.note(f"precompiled kernels from {wheel_origin.kernel_source(tree, env)[0]}")
        elif drift.requirements_installed(tree):
            args.append("--no-build-isolation")  # build with the venv's torch, cmake, ninja
        before = {} if ctx.dry_run else base.shared_libraries(tree)
        ctx.pip_install(args, env)
        if not ctx.dry_run:
            stamp_path.parent.mkdir(parents=True, exist_ok=True)
            venv_state.write_json(stamp_path, stamp)
            if precompiled:
                _record_base(ctx, env, before)
            else:
                base.forget(tree)
        kind = "precompiled kernels)" if precompiled else "kernels built from source)"
        step.ran(f"{tree.name} (editable, {kind}")
