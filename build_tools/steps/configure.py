"""configure: `cmake --preset <name>`, skipped when the build dir is configured for it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from build_tools import build_dir as bd
from build_tools import compile_db, failures, venv_state
from build_tools.cmake.project import read_codemodel, request_codemodel
from build_tools.context import Context
from build_tools.errors import BuildToolsError
from build_tools.steps.deps import warn_torch_mismatch
from build_tools.steps.sources import warn_network

STAMP = ".vllm-build-tools-configure.json"  # in the build dir: dies with it
FIX = "read the CMake error above; `invoke clean-build` starts afresh"


def _fix(tail: Sequence[str]) -> str:
    found = failures.classify(tail)
    return found.fix if found in (failures.DISK_FULL, failures.READ_ONLY) else FIX


def preset_digest(preset: dict[str, Any]) -> str:
    """What the stamp records of the resolved preset (doctor compares it too)."""
    return hashlib.sha256(json.dumps(preset, sort_keys=True).encode()).hexdigest()


def _stamp(ctx: Context, preset: dict[str, Any]) -> dict[str, Any]:
    return {
        "preset": preset_digest(preset),
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
        (directory / "CMakeCache.txt").is_file()
        and bd.has_generator_files(directory)
        and venv_state.read_json(directory / STAMP) == stamp
        and read_codemodel(directory) is not None
    )


def configure(ctx: Context) -> None:
    """`cmake --preset <name>`, skipped when already configured for the current presets."""
    presets = ctx.presets()
    with ctx.step("configure") as step:
        directory = ctx.build_dir(presets)
        preset = ctx.configure_preset()
        python = (preset.get("cacheVariables") or {}).get("VLLM_PYTHON_EXECUTABLE")
        if isinstance(python, str) and not ctx.dry_run and not Path(python).is_file():
            raise BuildToolsError(
                f"Preset {ctx.preset!r} points VLLM_PYTHON_EXECUTABLE at {python}, which does "
                "not exist.",
                "run `invoke bootstrap` to create the venv, or `invoke presets` to regenerate",
            )
        if not ctx.dry_run:
            bd.finish_removals(directory, ctx.reporter.note)
        stamp = _stamp(ctx, preset)
        if not ctx.assume_undone() and configured(directory, stamp):
            step.skipped(f"{directory.name} is configured for preset {ctx.preset!r}")
            return
        fresh = needs_fresh(venv_state.read_json(directory / STAMP), stamp)
        if fresh:
            ctx.reporter.note(f"configuring with --fresh: {fresh}, and CMake keeps old values")
        warn_torch_mismatch(ctx)
        env = {k: str(v) for k, v in (preset.get("environment") or {}).items() if v is not None}
        warn_network(ctx, env)
        if not ctx.dry_run:
            request_codemodel(directory)
        command = ctx.cmake().configure(ctx.preset, fresh=fresh is not None)
        ctx.runner.run(ctx.command(command, ctx.cache_env()), fix=_fix)
        if not ctx.dry_run:
            venv_state.write_json(directory / STAMP, stamp)
            compile_db.publish(ctx, directory)
        step.ran(directory.name)
