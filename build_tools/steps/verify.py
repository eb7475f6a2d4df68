"""targets, smoke and cache-stats: what a configured or built checkout can tell us."""

from __future__ import annotations

from pathlib import Path

from build_tools.cmake.codemodel import read_codemodel
from build_tools.errors import BuildToolsError
from build_tools.insight.last_build import Built
from build_tools.run import Run

# Imports the package from the source tree but its extensions from the staging prefix first,
# then runs <package>.smoke (if any) and fails if an extension came from anywhere else.
STAGED_SMOKE = """\
import importlib, pathlib, runpy, sys
package, stage, modules = sys.argv[1], pathlib.Path(sys.argv[2]).resolve(), sys.argv[3:]
pkg = importlib.import_module(package)
pkg.__path__.insert(0, str(stage / package))
for name in modules:
    importlib.import_module(name)
if (pathlib.Path(pkg.__file__).parent / "smoke.py").is_file():
    try:
        runpy.run_module(package + ".smoke", run_name="__main__")
    except SystemExit as done:
        if done.code not in (0, None):
            raise
for name, mod in list(sys.modules.items()):
    where = getattr(mod, "__file__", None) or ""
    if name.startswith(package + ".") and where.endswith(".so"):
        if stage not in pathlib.Path(where).resolve().parents:
            sys.exit(f"{name} was imported from {where}, not from the staging prefix {stage}")
        print(f"{name} imported from the staging prefix")
"""


def targets(ctx: Run) -> list[str]:
    """List the extension targets of the configured build (for build --target)."""
    directory = ctx.checkout.build_dir
    model = None if ctx.dry_run else read_codemodel(directory)
    if model is None and not ctx.dry_run:
        raise BuildToolsError(
            f"{directory} has no CMake File API reply to read targets from.",
            "run `invoke configure` (it records them)",
        )
    found = model.extension_targets if model else []
    ctx.console.table(f"extension targets of {directory}", [[t] for t in found], ["target"])
    return found


def installed_extensions(ctx: Run) -> list[str]:
    """Dotted module names of the extensions `cmake --install` put under the install prefix."""
    prefix = _stage(ctx) or ctx.tree.root
    root = prefix.resolve()
    modules = set()
    for path in ctx.checkout.build_tree.installed_libraries():
        # an extension module: no version after .so (libx.so.1 is no module)
        if path.suffix != ".so" or root not in path.resolve().parents:
            continue
        relative = path.resolve().relative_to(root)
        stem = relative.name.split(".", 1)[0]
        modules.add(".".join([*relative.parent.parts, stem]))
    return sorted(modules)


def _stage(ctx: Run) -> Path | None:
    prefix = ctx.settings.install_prefix
    return Path(prefix) if prefix and Path(prefix).is_absolute() else None


def smoke(ctx: Run) -> None:
    """Import every installed extension from the venv; run `<package>.smoke` if it has one."""
    with ctx.step("smoke") as step:
        ctx.need_venv()
        package, python, stage = ctx.tree.package, ctx.tree.venv_python, _stage(ctx)
        modules = [] if ctx.dry_run else installed_extensions(ctx)
        has_smoke = (ctx.tree.root / package / "smoke.py").is_file()
        if stage is not None:
            argv = [python, "-c", STAGED_SMOKE, package, stage, *modules]
            ctx.runner.run(ctx.command(argv))
            passed = f"{package}.smoke passed, " if has_smoke else ""
            step.ran(f"{passed}extensions imported from the staging prefix {stage}")
            return
        if has_smoke:
            ctx.runner.run(ctx.command([python, "-m", f"{package}.smoke"]))
            step.ran(f"{package}.smoke passed")
            return
        if not modules and not ctx.dry_run:
            raise BuildToolsError(
                f"No installed extension modules were found in {ctx.checkout.build_dir}.",
                "run `invoke build` first",
            )
        code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
        ctx.runner.run(ctx.command([python, "-c", code, *modules]))
        step.ran(f"imported {', '.join(modules)}")


def cache_stats(ctx: Run) -> None:
    """What this run's build got from the compiler cache (its own hits, never the totals of a
    cache or server shared with other builds)."""
    with ctx.step("cache-stats") as step:
        launcher = ctx.checkout.launcher
        if launcher is None:
            step.skipped("the preset uses no compiler cache")
            return
        built = [r.outcome for r in ctx.results if isinstance(r.outcome, Built)]
        hits = [b.cache for b in built if b.cache]
        name = Path(launcher).name
        if hits:
            step.ran(f"{name}, this run: {hits[-1]}")
        elif built and built[-1].up_to_date:
            step.ran(f"{name}, this run: nothing compiled")
        else:
            step.ran(f"{name}, this run: not known (no per-build count from {name})")
