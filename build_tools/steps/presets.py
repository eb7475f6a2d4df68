"""presets: write (merge) CMakeUserPresets.json; untouched when nothing would change."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from build_tools.cmake import presets_file, presets_merge
from build_tools.cmake import presets_gen as gen
from build_tools.cmake.unit_deps import runner_capture
from build_tools.errors import BuildToolsError
from build_tools.plan import asked, configured, facts
from build_tools.process import lock
from build_tools.run import Run
from build_tools.safety import atomic_file


def inputs(ctx: Run) -> facts.Inputs:
    """What the presets' facts are gathered from (the venv's Python asked within 120 s)."""
    capture = runner_capture(ctx.runner, timeout=120)
    return facts.Inputs(ctx.settings, ctx.checkout, ctx.machine, capture, ctx.configure_cache)


def presets(ctx: Run) -> None:
    """Write or merge CMakeUserPresets.json for the preset family; your presets survive."""
    path = ctx.tree.root / presets_file.USER_FILE
    with ctx.step("presets") as step, _presets_lock(ctx, path):
        loaded = ctx.checkout.presets  # every file, shapes checked: a wrong one stops us here
        existing = presets_file.read_object(path)
        taken = {  # presets of the other files (CMakePresets.json, includes): not ours to write
            preset["name"]: where
            for where, data in loaded.files
            if where != path
            for preset in data.get("configurePresets", [])
        }
        ctx.need_preset(creating=True)
        if ctx.preset in taken:
            step.skipped(f"preset {ctx.preset!r} is defined in {taken[ctx.preset]}, not ours")
            return
        found, notes = facts.gather(inputs(ctx))
        for note in notes:
            ctx.console.note(note)
        family = [name for name in gen.family(ctx.preset) if name not in taken]
        ours = {p["name"]: p for p in (existing or {}).get("configurePresets", [])}
        parts, notices = [], []
        for name in family:
            kept, said = configured.keep_configured(
                ctx.settings, ctx.tree, name, found, ours.get(name)
            )
            parts.append(gen.generate(name, kept))
            notices += said
        configured.say_once(ctx.console.note, ctx.tree.state_dir, notices, ctx.dry_run)
        if not ctx.dry_run:
            asked.remember(ctx.settings, ctx.tree.state_dir)
        merged = presets_merge.merge(
            existing,
            {kind: [p for part in parts for p in part[kind]] for kind in gen.KINDS},
            ctx.tree.cmake_minimum,
            force=ctx.settings.force,
            asked=ctx.preset,
        )
        for entry in merged.kept:
            ctx.console.note(
                f"kept your {entry} as it is (not written by us, or edited since): builds use "
                "it; `invoke presets --force` regenerates it (your file is backed up first)"
            )
        if not ctx.dry_run:
            if found.pools_script:
                ctx.install_pools(found.pools_script, found.parallelism.heavy_targets)
            if found.gate:
                ctx.install_gate(found.gate.script)
            if found.cmake_python:
                ctx.install_python(found.python)
        old = path.read_text(encoding="utf-8") if existing is not None else ""
        new = presets_merge.render(merged.data)
        if new == old:
            step.skipped(f"{path.name} is up to date")
            return
        changed = merged.changed_names
        what = "presets " + ", ".join(changed) if changed else "file layout"
        if ctx.dry_run:
            ctx.console.output(presets_merge.unified_diff(path, old, new))
            step.ran(f"would write {path.name} ({what})")
            return
        backup = atomic_file.write_atomic(path, new)
        ctx.presets_written()
        _validate(ctx, path, backup)
        saved = f"; previous file kept as {backup.name}" if backup else ""
        step.ran(f"wrote {path.name} ({what}){saved}")


def _presets_lock(ctx: Run, path: Path) -> lock.Hold:
    if ctx.dry_run:
        return lock.nothing()
    return lock.hold(
        lock.lock_path(ctx.tree.state_dir, path),
        f"presets file {path}",
        wait=True,
        say=ctx.console.note,
        warn=ctx.console.warn,
    )


def _validate(ctx: Run, path: Path, backup: Optional[Path]) -> None:
    """Ask cmake itself to read the file; on refusal put the previous file back."""
    try:
        cmake = ctx.cmake()
    except BuildToolsError:
        ctx.console.note("no cmake new enough yet: presets not checked with --list-presets")
        return
    checked = ctx.runner.capture(ctx.command(cmake.list_presets()), timeout=60)
    if checked.returncode == 0:
        return
    if backup:
        path.write_bytes(backup.read_bytes())
    else:
        path.unlink()
    before = ctx.runner.capture(ctx.command(cmake.list_presets()), timeout=60)
    error = checked.output.strip()
    if backup and before.returncode != 0:
        raise BuildToolsError(
            f"cmake rejects the presets of {ctx.tree.root} (your file as it was, too): {error}",
            f"fix what cmake names above; {path.name} was left as it was",
        )
    raise BuildToolsError(
        f"cmake rejected the generated {path.name}: {error}",
        "report this as a bug in vllm-build-tools; your previous file was restored",
    )
