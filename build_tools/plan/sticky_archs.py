"""The CUDA archs of a configured build dir change only when asked: every unit's compile command
names them, so a change recompiles every CUDA unit (vLLM: hours).

What asks: `--arch` (every time it is given), or a layer of the settings (an exported
`TORCH_CUDA_ARCH_LIST`, `VLLM_BUILD_ARCH`, a settings file) whose value differs from the one
that same layer gave the last time presets were written (the state dir remembers each layer's
last value). So an exported variable that differs applies once; when it disappears, a lower
layer's value comes back, which is not new, and the build dir keeps its archs. An ask that
applies is said once, naming old -> new and how many CUDA units recompile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from build_tools.cmake import build_dir as bd
from build_tools.cmake.project import compile_commands
from build_tools.machine import venv_state
from build_tools.run import Run

ASKED = "archs-asked.json"  # in the state dir: origin -> the arch list it gave last
VARIABLE = "TORCH_CUDA_ARCH_LIST"
CUDA_SUFFIXES = (".cu", ".hip")


def _asked(state_dir: Path) -> dict[str, str]:
    found = venv_state.read_json(state_dir / ASKED)
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def asked_anew(ctx: Run) -> bool:
    """Whether the settings ask for archs now: a flag, or a layer's value it did not give
    last time."""
    arch, origin = ctx.settings.arch, ctx.settings.origin("arch")
    if not arch:
        return False
    return origin.startswith("flag") or _asked(ctx.tree.state_dir).get(origin) != arch


def pending(ctx: Run) -> bool:
    """An ask the preset does not carry yet (the build then writes the presets first)."""
    configured = ctx.checkout.preset_environment.get(VARIABLE)
    return asked_anew(ctx) and configured != ctx.settings.arch


def remember(ctx: Run) -> None:
    """After presets were written: the value the winning layer gives now."""
    arch, origin = ctx.settings.arch, ctx.settings.origin("arch")
    if not arch or ctx.dry_run:
        return
    known = _asked(ctx.tree.state_dir)
    if known.get(origin) == arch:
        return
    try:
        venv_state.write_json(ctx.tree.state_dir / ASKED, {**known, origin: arch})
    except OSError:
        pass  # then the next run takes the same value as new again: it applies, as now


def cuda_units(build_dir: Path) -> int:
    """The CUDA units of a configured build dir (its compilation database)."""
    return sum(
        1
        for entry in compile_commands(build_dir) or []
        if str(entry.get("file", "")).endswith(CUDA_SUFFIXES)
    )


def notice(ctx: Run, name: str, old: Optional[str], new: Optional[str]) -> str:
    """What an ask that applies to preset `name`'s configured build dir changes."""
    units = cuda_units(ctx.tree.root / bd.default_name(name))
    default = "the project default"
    return (
        f"CUDA archs of preset {name!r}: {old or default} -> {new or default}, asked by "
        f"{ctx.settings.origin('arch')}: {units} CUDA unit(s) recompile; the build dir keeps "
        "these archs until something else is asked"
    )
