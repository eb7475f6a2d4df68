"""The build over precompiled kernels, wired to the checkout: which extension targets the build
step builds (targets.py decides from the base, what changed since, and where each installed
library came from), the plan it prints before anything compiles, and the provenance it records
after installing."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from build_tools.checkout import base as precompiled
from build_tools.checkout import base_repair, provenance, source_tree
from build_tools.checkout.view import Checkout
from build_tools.cmake.build_tree import is_shared_library
from build_tools.cmake.codemodel import CodeModel
from build_tools.cmake.project import compile_commands, make_program, read_cache
from build_tools.cmake.unit_deps import UnitDeps, runner_capture
from build_tools.console import Console
from build_tools.insight import held, memory, ninja_log
from build_tools.machine import venv_state
from build_tools.plan.affected import Affected, affected
from build_tools.plan.targets import (
    RERUN,
    Choice,
    choose,
    custom_commands,
    forecast,
    objects_in_dry_run,
)
from build_tools.process.runner import Command, Git, Runner


@dataclass(frozen=True)
class Over:
    """What building over precompiled kernels reads and asks with: the checkout and its
    preset; `console` to speak; `git` (None: none) and `runner` to ask (headers are scanned with
    `cache_env`, the build's); what was asked: --all, --plan, and `acting` (neither a dry run
    nor --plan: a damaged base is rebuilt on disk)."""

    checkout: Checkout
    console: Console
    git: Git
    runner: Runner
    cache_env: Callable[[], dict[str, str]]
    all_targets: bool = False
    plan: bool = False
    acting: bool = True


def installed_libraries(
    checkout: Checkout, model: CodeModel, component: str, known: Collection[str] = ()
) -> list[str]:
    """The shared libraries `component` installs, relative to the checkout (absolute when the
    install prefix is outside it).

    The install rules give each path, but an `install(CODE)` may move the prefix when the
    install runs (vLLM's flash-attention libraries land under vllm/ that way): where the
    component's last install manifest, else exactly one of the `known` libraries (the base's),
    has a library of the same file name, that path wins."""
    root = checkout.tree.root
    prefix = Path(checkout.cache_value("CMAKE_INSTALL_PREFIX") or root)
    installed = checkout.build_tree.installed_by(component)
    done = installed.libraries if installed else []
    own = installed is not None and installed.own  # the component's alone
    names = Counter(Path(k).name for k in known)
    by_name = {Path(k).name: root / k for k in known if names[Path(k).name] == 1}
    by_name.update({p.name: p for p in done})
    found = []
    for rule in model.installed_by(component):
        if rule.type == "directory" and own:  # what it installs only its manifest says
            found += [_relative(root, p) for p in done]
        for rel in rule.installed():
            path = prefix / rel
            if not is_shared_library(path):
                continue
            if str(_relative(root, path)) not in known:
                path = by_name.get(path.name, path)
            found.append(_relative(root, path))
    return found


def _relative(root: Path, path: Path) -> str:
    return str(path.relative_to(root)) if root in path.parents else str(path)


def choose_targets(over: Over, model: CodeModel) -> Choice:
    """The extension targets this build builds, and why (see plan/targets.py)."""
    extensions, tree = model.extension_targets, over.checkout.tree
    base = precompiled.load(tree) if over.all_targets else _base(over)
    everything = ""
    if over.all_targets:
        everything = "--all: every target is built"
    elif base is None or not base.kernels:
        everything = "no precompiled kernels are recorded for this checkout: every target is built"
    known = base.kernels if base is not None else {}
    libraries = {t: installed_libraries(over.checkout, model, t, known) for t in extensions}
    wheel = [
        t
        for t, files in libraries.items()
        if base is not None and files and all(base.intact(tree, f) for f in files)
    ]
    record = provenance.load(tree)
    here = {o.component for o in record.values() if o.origin == provenance.BUILT}
    found: Optional[Affected] = None
    if not everything and base is not None:
        changed = base.changed(tree, over.git)
        if changed:
            found = _affected(over, model, changed)
    files_only = [t for t, files in libraries.items() if not files]
    return choose(extensions, wheel, here, found, everything=everything, files_only=files_only)


def _base(over: Over) -> Optional[precompiled.Base]:
    """The recorded base; a damaged one rebuilt from what can be known, said, and kept (outside
    a dry run or plan), or the build refuses (base_repair.py)."""
    tree = over.checkout.tree
    found, damaged = precompiled.read(tree)
    if not damaged:
        return found
    rebuilt, how = base_repair.repair(tree, over.git, damaged)
    aside = base_repair.keep_damaged(tree) if over.acting else None
    if over.acting:
        precompiled.save(tree, rebuilt)
    kept = f"; the damaged one is kept as {aside.name}" if aside else ""
    over.console.warn(f"{damaged}: the base is rebuilt from {how}{kept}")
    return rebuilt


def _affected(over: Over, model: CodeModel, changed: list[str]) -> Affected:
    tree, directory = over.checkout.tree, over.checkout.build_dir
    capture = runner_capture(over.runner, over.cache_env())
    jobs = over.checkout.build_preset.get("jobs")
    deps = UnitDeps(
        directory,
        tree.state_dir,
        capture,
        model=model,
        jobs=jobs if isinstance(jobs, int) and jobs > 0 else 1,
    )
    start = time.monotonic()
    fetched = (read_cache(directory) or {}).get("FETCHCONTENT_BASE_DIR")
    outside = [tree.venv_dir, directory, Path(fetched) if fetched else tree.root / ".deps"]
    found = affected(tree.root, model, changed, deps, outside)
    stats, spent = deps.stats, time.monotonic() - start
    if stats.scans or found.unreachable:
        said = [f"{stats.scans} unit(s) scanned for the changed headers in {spent:.1f} s"]
        if stats.failed:
            said.append(f"{stats.failed} scan(s) failed (their targets are built)")
        if found.unreachable:
            said.append(
                f"{found.unreachable} unit(s) not scanned: nothing they search for headers lies "
                "in the checkout"
            )
        over.console.note("; ".join(said) + " (scans are kept until a file they listed changes)")
    return found


def nothing_differs(choice: Choice) -> str:
    kept = ", ".join(choice.kept) or "none"
    return f"nothing differs from the precompiled kernels: every extension is the wheel's ({kept})"


def show_plan(
    over: Over, model: CodeModel, choice: Choice, stale: Mapping[str, Sequence[str]] = {}
) -> None:
    """The blast radius, before anything compiles: per target why, how many units and what
    they cost when they last compiled (or "not measured yet"). `stale`: per target, objects
    the build compiles again though ninja trusts them (plan/content.py)."""
    console, tree, directory = over.console, over.checkout.tree, over.checkout.build_dir
    if choice.everything:
        console.note(choice.everything)
        if not over.plan:
            return
    if choice.kept:
        console.note(f"kept as the wheel has them: {', '.join(choice.kept)}")
    if not choice.build:
        return
    ninja = make_program(directory) or "ninja"
    dry = over.runner.capture(Command.of([ninja, "-n", "-C", directory, *choice.build], tree.root))
    planned = objects_in_dry_run(dry.output) if dry.returncode == 0 else {}
    for target, objects in stale.items():
        planned[target] = list(dict.fromkeys([*planned.get(target, []), *objects]))
    utility = [t for t in choice.build if model.targets.get(t) == "UTILITY"]
    estimated, custom = None, {}
    if RERUN in dry.output:  # ninja cannot tell before cmake ran again: the last configure's
        estimated = {t: len(model.target(t).sources) for t in choice.build if t not in utility}
        custom = {t: 1 for t in utility}
    for target in utility if estimated is None else ():  # a script builds it: its commands
        one = over.runner.capture(Command.of([ninja, "-n", "-C", directory, target], tree.root))
        custom[target] = custom_commands(one.output) if one.returncode == 0 else -1
        if one.returncode != 0:
            said = one.output.strip().splitlines()[-1:] or ["no output"]
            console.warn(f"ninja cannot plan {target}: {said[0]}")
    latest: dict[str, ninja_log.Entry] = {}
    try:
        for entry in ninja_log.read(directory).entries:
            latest[entry.output] = entry
    except Exception:
        pass
    durations = {output: entry.ms for output, entry in latest.items()}
    waits = held.held_ms(tree.state_dir, directory, list(latest.values()))
    peaks = memory.load(tree.state_dir, directory)
    for item in forecast(
        choice, planned, durations, peaks, waits, estimated=estimated, commands=custom
    ):
        why = "" if choice.everything else f": {'; '.join(item.why[:3])}"  # said once above
        console.note(item.text() + why)


def record_built(over: Over, model: CodeModel, components: list[str]) -> None:
    """After an install: the libraries of `components` are ours, built from this tree."""
    tree = over.checkout.tree
    detail = _build_detail(over.checkout, over.git)
    record = provenance.load(tree)
    base = precompiled.load(tree)
    for component in components:
        files = installed_libraries(over.checkout, model, component, base.kernels if base else ())
        provenance.built(tree, record, component, files, detail)
    try:
        provenance.save(tree, record)
    except OSError as exc:
        over.console.warn(f"could not record where the installed kernels came from ({exc})")


def _enclosing_head(git: Git, root: Path) -> Optional[str]:
    """The commit of the repository the checkout lies in, where its root holds no .git of
    its own (a checkout inside a larger clone, like the bundled example)."""
    if git is None:
        return None
    code, out = git(["-C", str(root), "rev-parse", "--verify", "-q", "HEAD"])
    return out.strip() if code == 0 and out.strip() else None


def _build_detail(checkout: Checkout, git: Git) -> dict[str, Any]:
    root = checkout.tree.root
    head = source_tree.git_head(root) or _enclosing_head(git, root)
    dirty: Optional[bool] = None
    if git is not None and head:
        code, out = git(["-C", str(root), "status", "--porcelain", "--untracked-files=no"])
        dirty = bool(out.strip()) if code == 0 else None
    commands = compile_commands(checkout.build_dir) or []
    flags = hashlib.sha256(json.dumps(commands, sort_keys=True).encode()).hexdigest()[:16]
    torch = venv_state.installed(checkout.tree.venv_dir).get("torch")
    return {
        "commit": head,
        "dirty": dirty,
        "preset": checkout.preset,
        "archs": checkout.environment.get("TORCH_CUDA_ARCH_LIST", ""),
        "flags": flags,
        "torch": torch.version if torch else None,
    }
