"""configure: `cmake --preset <name>`, skipped when the build dir is configured for it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from build_tools import drift
from build_tools.cmake import build_dir as bd
from build_tools.cmake import compile_db
from build_tools.cmake.project import CACHE_FILE, read_codemodel, request_codemodel
from build_tools.errors import DISK_FULL, READ_ONLY, BuildToolsError, classify
from build_tools.run import Run

FIX = "read the CMake error above; `invoke clean-build` starts afresh"


def _fix(tail: Sequence[str]) -> str:
    found = classify(tail)
    return found.fix if found in (DISK_FULL, READ_ONLY) else FIX


def _stamp(ctx: Run, preset: dict[str, Any]) -> dict[str, Any]:
    return {
        "preset": bd.preset_digest(preset),
        "cmake": str(ctx.cmake().binary),
        "cache_keys": sorted(preset.get("cacheVariables") or {}),
        "generator": preset.get("generator", ""),
    }


def needs_fresh(old: Any, new: dict[str, Any]) -> Optional[str]:
    """Why CMake's cache would keep stale values (None when a plain configure is right)."""
    if not isinstance(old, dict):
        return None
    removed = sorted(set(old.get("cache_keys") or ()) - set(new["cache_keys"]))
    if removed:
        return f"the preset no longer sets {', '.join(removed)}"
    if old.get("generator") not in (None, new["generator"]):
        return f"the generator changed from {old['generator'] or 'the default'}"
    return None


def configured(directory: Path, stamp: dict[str, Any]) -> bool:
    """Configured by us from exactly this preset, with its generator's files and targets."""
    return (
        (directory / CACHE_FILE).is_file()
        and bd.has_generator_files(directory)
        and bd.read_stamp(directory) == stamp
        and read_codemodel(directory) is not None
    )


def configure(ctx: Run) -> None:
    """`cmake --preset <name>`, skipped when already configured for the current presets."""
    with ctx.step("configure") as step:
        checkout = ctx.checkout
        directory, preset = checkout.build_dir, checkout.configure_preset
        python = checkout.cache_value("VLLM_PYTHON_EXECUTABLE")
        if python and not ctx.dry_run and not Path(python).is_file():
            raise BuildToolsError(
                f"Preset {ctx.preset!r} points VLLM_PYTHON_EXECUTABLE at {python}, which does "
                "not exist.",
                "run `invoke bootstrap` to create the venv, or `invoke presets` to regenerate",
            )
        if not ctx.dry_run:
            bd.finish_removals(directory, ctx.console.note)
        stamp = _stamp(ctx, preset)
        if not ctx.assume_undone() and configured(directory, stamp):
            step.skipped(f"{directory.name} is configured for preset {ctx.preset!r}")
            return
        fresh = needs_fresh(bd.read_stamp(directory), stamp)
        if fresh:
            ctx.console.note(f"configuring with --fresh: {fresh}, and CMake keeps old values")
        if warning := drift.torch_pin(ctx.tree).warning:
            ctx.console.warn(warning)
        _warn_network(ctx)
        if not ctx.dry_run:
            request_codemodel(directory)
        ctx.install_gate()  # configure's own test compiles may run through it
        command = ctx.cmake().configure(ctx.preset, fresh=fresh is not None)
        ctx.runner.run(ctx.command(command, ctx.cache_env()), fix=_fix)
        if not ctx.dry_run:
            bd.write_stamp(directory, stamp)
            compile_db.publish(
                ctx.tree.root, ctx.tree.state_dir, directory, warn=ctx.console.warn, git=ctx.git()
            )
        step.ran(directory.name)


def _warn_network(ctx: Run) -> None:
    """Before a configure: the dependencies CMake will clone (offline, that fails)."""
    environ = ctx.checkout.environment
    remote = drift.network_fetches(ctx.tree, environ, ctx.settings.deps_dir)
    if remote:
        names = ", ".join(f"{s.dependency.name} ({s.dependency.variable})" for s in remote)
        ctx.console.warn(
            f"CMake will fetch {names} from the network; offline, set those variables or "
            "`deps_dir` to local copies (`invoke sources` lists them)"
        )
