"""configure: `cmake --preset <name>`, skipped when the build dir is configured for it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from build_tools import drift
from build_tools.checkout import base
from build_tools.cmake import (
    archs,
    cmake_python,
    compile_db,
    compiler_id,
    configure_cache,
    configure_inputs,
)
from build_tools.cmake import build_dir as bd
from build_tools.cmake.build_tree import BuildTree, ConfiguredFrom, ConfigureStamp
from build_tools.cmake.codemodel import files_read, read_codemodel, request_codemodel
from build_tools.cmake.project import CACHE_FILE, compile_commands
from build_tools.errors import DISK_FULL, OTHER_SOURCE, READ_ONLY, BuildToolsError, classify
from build_tools.process.runner import CommandFailed
from build_tools.run import Run

FIX = (
    "read the CMake error above: it names the file and line (a preset value, a dependency, "
    "an arch); fix that and run `invoke configure` again"
)


def _fix(tail: Sequence[str]) -> str:
    found = classify(tail)
    return found.fix if found in (DISK_FULL, READ_ONLY, OTHER_SOURCE) else FIX


def new_cache_needed(
    directory: Path, old: Optional[ConfigureStamp], new: ConfiguredFrom
) -> Optional[str]:
    """Why CMake's cache must be started anew (None when a plain configure is right): it
    would keep values the preset no longer sets, or it cannot be read."""
    if damage := bd.cache_damage(directory):
        return f"{directory / CACHE_FILE} is damaged: {damage}"
    if old is None:
        return None
    removed = sorted(set(old.made.cache_keys or ()) - set(new.cache_keys or ()))
    if removed:
        return f"the preset no longer sets {', '.join(removed)}, and CMake keeps old values"
    if old.made.generator not in (None, new.generator):
        return f"the generator changed from {old.made.generator or 'the default'}"
    return None


def configured(tree: BuildTree, made: ConfiguredFrom) -> bool:
    """Configured by us from exactly this preset, with its generator's files and targets."""
    recorded = tree.stamp()
    return (
        bd.cache_readable(tree.path)
        and bd.has_generator_files(tree.path)
        and recorded is not None
        and recorded.made == made
        and read_codemodel(tree.path) is not None
    )


def configure(ctx: Run) -> None:
    """`cmake --preset <name>`, skipped when already configured for the current presets."""
    with ctx.step("configure") as step:
        checkout = ctx.checkout
        directory, preset = checkout.build_dir, checkout.configure_preset
        ctx.install_python()  # the interpreter script the preset names, where it is missing
        ctx.install_pools()
        named = checkout.cache_value("VLLM_PYTHON_EXECUTABLE")
        python = cmake_python.interpreter_of(named) if named else None
        if python and not ctx.dry_run and not python.is_file():
            raise BuildToolsError(
                f"Preset {ctx.preset!r} points VLLM_PYTHON_EXECUTABLE at {python}, which does "
                "not exist.",
                "run `invoke bootstrap` to create the venv, or `invoke presets` to regenerate",
            )
        if not ctx.dry_run:
            bd.finish_removals(directory, ctx.console.note)
        asked = checkout.environment.get("TORCH_CUDA_ARCH_LIST", "")
        made = ConfiguredFrom.of(preset, ctx.cmake().binary, asked)
        again = ctx.settings.force or ctx.assume_undone()
        tree = checkout.build_tree
        last = tree.stamp()
        read_then = last.read if last else {}
        moved = configure_inputs.changed(ctx.tree.root, read_then)
        if not again and not moved and configured(tree, made):
            step.skipped(f"{directory.name} is configured for preset {ctx.preset!r}")
            return
        if moved:
            ctx.console.note(configure_inputs.said(moved, read_then))
        anew = new_cache_needed(directory, last, made)
        if anew and not ctx.dry_run:
            backup = bd.reset_cache(directory)
            kept = f" (the old one is kept as {backup.name})" if backup else ""
            ctx.console.note(f"configuring from a new cache{kept}: {anew}; objects are kept")
        if warning := drift.torch_pin(ctx.tree).warning:
            ctx.console.warn(warning)
        _warn_network(ctx)
        ctx.install_gate()  # configure's own test compiles may run through it
        recorded = None if ctx.dry_run else base.load(ctx.tree)
        before = base.listing(ctx.tree) if recorded and not recorded.absorbed else None
        state, root = ctx.tree.state_dir, ctx.tree.root
        environ, warn = ctx.machine.environ, ctx.console.warn
        hook = {} if ctx.dry_run else configure_inputs.environment(state, root, environ, warn)
        try:
            reused = _configure(ctx, preset, hook)
        finally:  # a configure that fails after a generator ran still watches it
            if hook:
                configure_inputs.keep_scripts(state, root, directory)
        if recorded is not None and before is not None:
            _absorb(ctx, recorded, before)
        if not ctx.dry_run:
            compiled = tuple(sorted(archs.compiled(compile_commands(directory) or [])))
            read = configure_inputs.record(state, root, read_codemodel(directory), directory)
            tree.write_stamp(ConfigureStamp(made, compiled, read))
            compile_db.publish(
                ctx.tree.root, ctx.tree.state_dir, directory, warn=ctx.console.warn, git=ctx.git()
            )
        step.ran(directory.name + (f"; {reused}" if reused else ""))


def _configure(ctx: Run, preset: dict[str, Any], hook: dict[str, str]) -> str:
    """Run `cmake --preset` (with `hook`: what records the scripts it runs): into a new build
    dir, with the compiler identification recorded for the same inputs (cmake/compiler_id.py),
    proven by the generated files equal to the recorded configure's, else afresh; a fresh
    configure's is recorded for the next."""
    directory, root = ctx.checkout.build_dir, ctx.configure_cache
    command = ctx.command(ctx.cmake().configure(ctx.preset), {**ctx.cache_env(), **hook})
    if ctx.dry_run or root is None or not configure_cache.fresh(directory):
        if not ctx.dry_run:
            request_codemodel(directory)
        ctx.runner.run(command, fix=_fix)
        return ""
    environ = {**ctx.machine.environ, **ctx.cache_env(), **hook}
    where = configure_cache.Where(
        ctx.tree.root,
        directory,
        configure_cache.context(ctx.cmake().binary, ctx.tree.root, preset, environ),
    )
    found = compiler_id.find(root, where)
    if found is not None:
        compiler_id.seed(found, where)
    request_codemodel(directory)
    if found is None:
        ctx.runner.run(command, fix=_fix)
    else:
        try:
            ctx.runner.run(command, fix=_fix)
            differs = ", ".join(compiler_id.check(found, where))
        except CommandFailed:  # what a fresh configure does, it says below
            differs = "a failed configure"
        if not differs:
            return "compiler identification reused (build files identical to its recorded ones)"
        ctx.console.note(
            f"the reused compiler identification gave {differs} unlike the configure it was "
            "recorded from: configuring afresh, and that record is dropped"
        )
        compiler_id.forget(found)
        compiler_id.unseed(directory)
        request_codemodel(directory)
        ctx.runner.run(command, fix=_fix)
    inputs = files_read(directory)
    if inputs is not None:
        compiler_id.record(root, where, inputs)
    return ""


def _absorb(ctx: Run, recorded: base.Base, before: dict[str, tuple[int, int]]) -> None:
    """The first configure after a precompiled install may write sources into the tree (vLLM
    generates kernels under csrc/): they come from the wheel's sources, so they join the base."""
    written = recorded.absorb(ctx.tree, before)
    base.save(ctx.tree, recorded)
    if written:
        ctx.console.note(
            f"configure wrote {len(written)} file(s) into the tree (e.g. {written[0]}): taken "
            "as part of the precompiled base"
        )


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
