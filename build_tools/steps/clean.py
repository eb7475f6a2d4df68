"""clean: remove the preset's build directory, after checking everything that could go wrong."""

from __future__ import annotations

from build_tools.cmake import build_dir as bd
from build_tools.cmake.codemodel import read_codemodel
from build_tools.errors import BuildToolsError
from build_tools.process.runner import Command
from build_tools.run import Run


def clean(ctx: Run) -> None:
    """Check the preset, the target and that the dir is a build dir; then rename it aside and
    delete it (an interrupt never leaves half a build dir in place)."""
    with ctx.step("clean") as step:
        directory = ctx.checkout.build_dir
        bd.check_deletable(directory, ctx.tree.root, ctx.machine.home, ctx.git())
        targets = ctx.settings.targets
        if targets and directory.exists():
            model = read_codemodel(directory)
            if model is None:
                raise BuildToolsError(
                    f"Cannot check --target {','.join(targets)} before deleting {directory}: it "
                    "holds no CMake File API reply (configured by another tool?). Nothing was "
                    "deleted.",
                    "run `invoke configure` first (it records the targets), then clean-build",
                )
            for target in targets:
                model.require(target, directory)
        leftovers = bd.leftovers(directory)
        if not directory.exists() and not leftovers:
            step.skipped(f"{directory} does not exist")
            return
        shown = [directory] if directory.exists() else leftovers
        for path in shown:
            ctx.console.command(Command.of(["rm", "-rf", path], ctx.tree.root), ctx.dry_run)
        if not ctx.dry_run:
            bd.finish_removals(directory, ctx.console.note)
            if directory.exists():
                bd.remove(directory)
        step.ran(f"removed {directory}")
