"""What a configured build dir keeps when the presets are written again: the auto-detected
choices in every compile command stay as configured unless asked (plan/asked.py), and what
changed on the machine is said once per checkout, with how to switch."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from build_tools.checkout.source_tree import SourceTree
from build_tools.cmake import build_dir as bd
from build_tools.cmake import presets_gen as gen
from build_tools.cmake.presets_gen import Facts
from build_tools.cmake.project import LAUNCHERS, compile_cache, gate_items
from build_tools.machine import venv_state
from build_tools.plan import asked, jobs
from build_tools.settings import Settings

NOTICES = "notices.json"  # in the state dir: what was said once already


def keep_configured(
    settings: Settings,
    tree: SourceTree,
    name: str,
    found: Facts,
    existing: Optional[Mapping[str, Any]],
) -> tuple[Facts, list[str]]:
    """Auto-detected choices that are part of every compile command (the compiler cache, the
    CUDA archs, NVCC_THREADS, nvcc itself) stay what preset `name`'s configured build dir was
    configured with: a tool appearing on the machine never recompiles everything unasked. What
    the person set (flag, environment, settings file) or `--force` applies; a kept tool that
    is gone is replaced (it could only fail). The jobs follow the machine: they change no
    object. Returns the facts for `name` (a preset of `tree`) and what changed on the
    machine, with how to switch."""
    root, state = tree.root, tree.state_dir
    if existing is None or settings.force or gen.VENDOR not in (existing.get("vendor") or {}):
        return found, []
    if not bd.cache_readable(root / bd.default_name(name)):
        return found, []  # not configured yet: nothing to keep
    cache = existing.get("cacheVariables") or {}
    env = existing.get("environment") or {}
    said: list[str] = []
    kept = found

    def switch(what: str, old: str, new: str, command: str) -> None:
        said.append(
            f"{what} on this machine is now {new}, but preset {name!r} was configured with "
            f"{old}: kept {old}, so nothing recompiles. To switch: `{command}` (it changes "
            "every compile command, so every unit recompiles)"
        )

    configured = cache.get(LAUNCHERS[0])
    if settings.launcher == "auto" and settings.origin("launcher") == "default":
        old, new = compile_cache(configured), str(found.launcher) if found.launcher else None
        if old != new and (old is None or Path(old).is_file()):
            kept = replace(kept, launcher=Path(old) if old else None)
            name_new = Path(new).name if new else "none"
            switch("the compiler cache", Path(old).name if old else "none", name_new,
                   f"invoke presets --launcher {name_new}")  # fmt: skip
    gate_then = gate_items(configured)
    if found.gate and gate_then:
        kept = replace(kept, gate=replace(found.gate, configured=gate_then))
    elif found.gate and settings.origin("memory_gate") == "default":
        kept = replace(kept, gate=None)
        switch("the memory gate", "none", "on", "invoke presets --force")
    old, new = env.get(asked.VARIABLE), found.arch_list
    if not settings.all_archs and found.nvcc and old != new:
        if asked.asked_anew(settings, state, "arch"):
            said.append(asked.notice(settings, root, name, "arch", old, new))
        else:  # detected, or asked before (an exported variable gone: a lower layer's value)
            kept = replace(kept, arch_list=old)
            to = f"invoke presets --arch '{new}'" if new else "invoke presets --force"
            switch("the CUDA arch list", old or "the project's default", new or "the default", to)
    threads = cache.get(asked.THREADS)
    if found.nvcc and threads and threads.isdigit():
        new_threads = found.parallelism.nvcc_threads
        if int(threads) != new_threads and asked.asked_anew(settings, state, "nvcc_threads"):
            said.append(
                asked.notice(settings, root, name, "nvcc_threads", threads, str(new_threads))
            )
        elif int(threads) != new_threads:  # detected, or asked before
            plan = replace(job_plan_of(kept), nvcc_threads=int(threads))
            kept = replace(kept, parallelism=plan)
            switch("NVCC_THREADS", threads, str(new_threads),
                   f"invoke presets --nvcc-threads {new_threads}")  # fmt: skip
    old_nvcc = cache.get("CMAKE_CUDA_COMPILER")
    if old_nvcc and found.nvcc and str(found.nvcc) != old_nvcc and Path(old_nvcc).is_file():
        kept = replace(kept, nvcc=Path(old_nvcc))
        switch("nvcc", old_nvcc, str(found.nvcc), "invoke presets --force")
    return kept, said


def job_plan_of(found: Facts) -> jobs.JobPlan:
    plan = found.parallelism
    assert isinstance(plan, jobs.JobPlan), plan  # gather puts one there
    return plan


def say_once(say: Callable[[str], None], state: Path, notices: list[str], dry_run: bool) -> None:
    """Each notice once per checkout (the `state` dir remembers); in a dry run, every time."""
    path = state / NOTICES
    known = venv_state.read_json(path)
    seen = set(known) if isinstance(known, list) else set()
    new = [n for n in notices if n not in seen]
    for notice in new if not dry_run else notices:
        say(notice)
    if new and not dry_run:
        try:
            path.parent.mkdir(exist_ok=True)
            venv_state.write_json(path, sorted(seen | set(new)))
        except OSError:
            pass
