"""invoke tasks for vLLM's incremental kernel build: thin wrappers over build_tools.steps.

Each task turns its flags into Settings and calls the step functions; nothing here decides how
to build. `invoke --list` shows the tasks, `invoke --help <task>` their flags.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Optional

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

# invoke turns bytecode caching off for the tasks file; let our own modules keep their .pyc
# (a no-op build saves ~20 ms) unless the user asked for none.
sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))

from build_tools.errors import BuildToolsError  # noqa: E402
from build_tools.settings import DESCRIPTIONS  # noqa: E402

COMMON_HELP = {
    "source": "checkout to work on (default: configured `source`, else examples/minivllm)",
    "preset": "CMake preset name (default: release)",
    "dry-run": "print the exact commands and environment, run nothing",
}


def _help(*extra: str, **more: str) -> dict[str, str]:
    """--help text for the common flags plus `extra` settings keys and `more` task flags."""
    texts = dict(COMMON_HELP)
    for key in extra:
        texts[key.replace("_", "-")] = DESCRIPTIONS[key]
    texts.update({k.replace("_", "-"): v for k, v in more.items()})
    return texts


@contextmanager
def _steps(**flags: Any) -> Iterator[Any]:
    """A step Context from flags; any BuildToolsError becomes one message and a non-zero exit."""
    from build_tools import settings, steps

    start = time.monotonic()
    try:
        ctx = steps.make_context(settings.resolve(flags))
        yield ctx
        if ctx.results:
            ctx.reporter.summary(ctx.results, time.monotonic() - start)
    except BuildToolsError as exc:
        raise Exit(f"error: {exc.message}", code=exc.code) from None
    except OSError as exc:  # a file we had to read or write: say which, without a traceback
        where = f" ({exc.filename})" if exc.filename else ""
        raise Exit(f"error: {exc.strerror or exc}{where}\n  fix: check that path", code=1) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130) from None


def _one(step: Callable[[Any], object], flags: dict[str, Any]) -> None:
    with _steps(**flags) as ctx:
        step(ctx)


@task(help=_help("python"))
def venv(
    c: Context,
    source: Optional[str] = None,
    preset: Optional[str] = None,
    python: Optional[str] = None,
    dry_run: bool = False,
) -> None:
    """Create the checkout's .venv with uv (reused when it already has the right Python)."""
    from build_tools import steps

    _one(steps.venv, dict(source=source, preset=preset, python=python, dry_run=dry_run or None))


NO_PRECOMPILED = "full source build instead of precompiled kernels (setup.py compiles them)"


@task(help=_help("force", no_precompiled=NO_PRECOMPILED))
def install(
    c: Context,
    source: Optional[str] = None,
    preset: Optional[str] = None,
    no_precompiled: bool = False,
    force: bool = False,
    dry_run: bool = False,
) -> None:
    """Editable install with precompiled kernels: VLLM_USE_PRECOMPILED=1 uv pip install -e."""
    from build_tools import steps

    flags = dict(source=source, preset=preset, force=force or None, dry_run=dry_run or None)
    _one(steps.install, {**flags, "precompiled": False if no_precompiled else None})


@task(help=_help("device"))
def deps(
    c: Context,
    source: Optional[str] = None,
    preset: Optional[str] = None,
    device: Optional[str] = None,
    dry_run: bool = False,
) -> None:
    """Install the checkout's build requirements (cmake, ninja, ...) into its venv."""
    from build_tools import steps

    _one(steps.deps, dict(source=source, preset=preset, device=device, dry_run=dry_run or None))


PRESET_KEYS = ("arch", "all_archs", "jobs", "nvcc_threads", "launcher", "force")


@task(help=_help(*PRESET_KEYS))
def presets(
    c: Context,
    source: Optional[str] = None,
    preset: Optional[str] = None,
    arch: Optional[str] = None,
    all_archs: bool = False,
    jobs: Optional[str] = None,
    nvcc_threads: Optional[str] = None,
    launcher: Optional[str] = None,
    force: bool = False,
    dry_run: bool = False,
) -> None:
    """Write or merge CMakeUserPresets.json (your presets survive; --dry-run shows a diff)."""
    from build_tools import steps

    _one(
        steps.presets,
        dict(
            source=source,
            preset=preset,
            arch=arch,
            all_archs=all_archs or None,
            jobs=jobs,
            nvcc_threads=nvcc_threads,
            launcher=launcher,
            force=force or None,
            dry_run=dry_run or None,
        ),
    )


@task(help=_help())
def configure(
    c: Context, source: Optional[str] = None, preset: Optional[str] = None, dry_run: bool = False
) -> None:
    """cmake --preset <name>, skipped when already configured for the current presets."""
    from build_tools import steps

    _one(steps.configure, dict(source=source, preset=preset, dry_run=dry_run or None))


@task(help=_help(target="build only this target and install only its component, e.g. _C"))
def build(
    c: Context,
    source: Optional[str] = None,
    preset: Optional[str] = None,
    target: Optional[str] = None,
    dry_run: bool = False,
) -> None:
    """Build and install the kernels (cmake --build --preset <name> --target install)."""
    from build_tools import steps

    with _steps(source=source, preset=preset, dry_run=dry_run or None) as ctx:
        steps.build(ctx, target)


@task(help=_help())
def targets(
    c: Context, source: Optional[str] = None, preset: Optional[str] = None, dry_run: bool = False
) -> None:
    """List the extension targets of the configured checkout (for build --target)."""
    from build_tools import steps

    _one(steps.targets, dict(source=source, preset=preset, dry_run=dry_run or None))


@task(help=_help(target="rebuild only this target and install only its component"))
def clean_build(
    c: Context,
    source: Optional[str] = None,
    preset: Optional[str] = None,
    target: Optional[str] = None,
    dry_run: bool = False,
) -> None:
    """Delete the preset's build directory, reconfigure and rebuild from scratch."""
    from build_tools import steps

    with _steps(source=source, preset=preset, dry_run=dry_run or None) as ctx:
        steps.clean_build(ctx, target)


@task(help=_help("python", "device", *PRESET_KEYS, no_precompiled=NO_PRECOMPILED))
def bootstrap(
    c: Context,
    source: Optional[str] = None,
    preset: Optional[str] = None,
    python: Optional[str] = None,
    device: Optional[str] = None,
    no_precompiled: bool = False,
    arch: Optional[str] = None,
    all_archs: bool = False,
    jobs: Optional[str] = None,
    nvcc_threads: Optional[str] = None,
    launcher: Optional[str] = None,
    force: bool = False,
    dry_run: bool = False,
) -> None:
    """venv -> install -> deps -> presets -> configure -> build; each skipped when done."""
    from build_tools import steps

    with _steps(
        source=source,
        preset=preset,
        python=python,
        device=device,
        precompiled=False if no_precompiled else None,
        arch=arch,
        all_archs=all_archs or None,
        jobs=jobs,
        nvcc_threads=nvcc_threads,
        launcher=launcher,
        force=force or None,
        dry_run=dry_run or None,
    ) as ctx:
        steps.bootstrap(ctx)


@task(
    help={
        "source": "checkout to benchmark a copy of (default: the bundled example)",
        "runs": "rounds per scenario, contenders alternated (default 5; P2 takes at least 10)",
        "quick": "3 rounds and a self-check of the harness",
        "json": "where to write the results (default benchmarks/results/loop.json)",
        "svg": "where to write the chart (default benchmarks/results/loop.svg)",
    }
)
def bench(
    c: Context,
    source: Optional[str] = None,
    runs: Optional[str] = None,
    quick: bool = False,
    json: Optional[str] = None,
    svg: Optional[str] = None,
) -> None:
    """Time edit -> installed .so against raw cmake and `uv pip install -e .` (benchmarks/)."""
    from benchmarks.loop import main

    given = {"--source": source, "--runs": runs, "--json": json, "--svg": svg}
    argv = [item for flag, value in given.items() if value for item in (flag, value)]
    code = main(argv + (["--quick"] if quick else []))
    if code:
        raise Exit(code=code)


@task(help=_help())
def config(
    c: Context, source: Optional[str] = None, preset: Optional[str] = None, dry_run: bool = False
) -> None:
    """Show the effective settings and where each one came from."""
    from build_tools import settings
    from build_tools.report import make_reporter

    try:
        resolved = settings.resolve(dict(source=source, preset=preset, dry_run=dry_run or None))
    except BuildToolsError as exc:
        raise Exit(f"error: {exc.message}", code=exc.code) from None
    make_reporter().table(
        f"settings (user file: {settings.user_file(os.environ)})",
        settings.describe(resolved),
        ("key", "value", "from"),
    )


ns = Collection(
    venv, install, deps, presets, configure, build, targets, clean_build, bootstrap, config, bench
)
