"""What the person asks of a configured build dir, told from what was asked before: CUDA archs
and NVCC_THREADS are in every CUDA unit's compile command, so a change recompiles every CUDA
unit (vLLM: hours), and must be asked for.

What asks: a flag (every time it is given), or a layer of the settings (an exported
`TORCH_CUDA_ARCH_LIST`, `NVCC_THREADS` or `MAX_JOBS`, a `VLLM_BUILD_*` variable, a settings
file) whose value differs from the one that same layer gave the last time presets were written
(the state dir remembers each layer's last value). So an exported variable that differs applies
once; when it disappears, a lower layer's older value comes back, which is not new, and the
build dir keeps what it has. An ask that applies is said once, naming old -> new and how many
CUDA units recompile; `invoke build` writes the presets first when one is pending (the jobs
too, which change no object: an explicit `jobs` or `MAX_JOBS` the preset does not carry).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from build_tools.checkout.view import Checkout
from build_tools.cmake import build_dir as bd
from build_tools.cmake.project import compile_commands
from build_tools.machine import venv_state
from build_tools.settings import Settings

ASKED = "asked.json"  # in the state dir: setting -> origin -> the value it gave last
VARIABLE = "TORCH_CUDA_ARCH_LIST"  # where the preset carries the archs (its environment)
THREADS = "NVCC_THREADS"  # where it carries nvcc's threads (a cache variable)
CUDA_SUFFIXES = (".cu", ".hip")
WHAT = {"arch": "CUDA archs", "nvcc_threads": "NVCC_THREADS"}


def _asked(state_dir: Path) -> dict[str, dict[str, str]]:
    found = venv_state.read_json(state_dir / ASKED)
    if not isinstance(found, dict):
        return {}
    return {
        str(k): {str(o): str(v) for o, v in seen.items()}
        for k, seen in found.items()
        if isinstance(seen, dict)
    }


def _value(settings: Settings, key: str) -> str:
    value = settings.arch if key == "arch" else settings.nvcc_threads
    return str(value) if value else ""


def asked_anew(settings: Settings, state_dir: Path, key: str = "arch") -> bool:
    """Whether the settings ask for `key` now: a flag, or a layer's value it did not give
    last time (`state_dir` remembers)."""
    value, origin = _value(settings, key), settings.origin(key)
    if not value:
        return False
    last = _asked(state_dir).get(key, {}).get(origin)
    return origin.startswith("flag") or last != value


def pending(settings: Settings, checkout: Checkout) -> bool:
    """An ask the preset does not carry yet (the build then writes the presets first)."""
    state = checkout.tree.state_dir
    arch = checkout.preset_environment.get(VARIABLE)
    if asked_anew(settings, state, "arch") and arch != settings.arch:
        return True
    threads = checkout.cache_value(THREADS)  # None: the preset builds no CUDA
    wanted = str(settings.nvcc_threads)
    if asked_anew(settings, state, "nvcc_threads") and threads not in (None, wanted):
        return True
    return bool(settings.jobs) and checkout.build_preset.get("jobs") != settings.jobs


def remember(settings: Settings, state_dir: Path) -> None:
    """After presets were written: the value each winning layer gives now."""
    known = _asked(state_dir)
    changed = False
    for key in WHAT:
        value, origin = _value(settings, key), settings.origin(key)
        if value and known.get(key, {}).get(origin) != value:
            known.setdefault(key, {})[origin] = value
            changed = True
    if changed:
        try:
            venv_state.write_json(state_dir / ASKED, known)
        except OSError:
            pass  # then the next run takes the same value as new again: it applies, as now


def cuda_units(build_dir: Path) -> int:
    """The CUDA units of a configured build dir (its compilation database)."""
    return sum(
        1
        for entry in compile_commands(build_dir) or []
        if str(entry.get("file", "")).endswith(CUDA_SUFFIXES)
    )


def notice(
    settings: Settings, root: Path, name: str, key: str, old: Optional[str], new: Optional[str]
) -> str:
    """What an ask that applies to preset `name`'s configured build dir (under `root`)
    changes."""
    units = cuda_units(root / bd.default_name(name))
    default = "the project default" if key == "arch" else "automatic"
    return (
        f"{WHAT[key]} of preset {name!r}: {old or default} -> {new or default}, asked by "
        f"{settings.origin(key)}: {units} CUDA unit(s) recompile; the build dir keeps "
        "this until something else is asked"
    )
