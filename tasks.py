"""invoke tasks for vLLM's incremental kernel build: a front door over build_tools.workflow.

Each task turns its flags into Settings and runs a plan from workflow.py; nothing here decides
how to build. `invoke --list` shows the tasks, `invoke --help <task>` their flags.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from inspect import Parameter, Signature
from typing import Any, Optional

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

# invoke turns bytecode caching off for the tasks file; let our own modules keep their .pyc
# (a no-op build saves ~20 ms) unless the user asked for none.
sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))

from build_tools.errors import BuildToolsError  # noqa: E402
from build_tools.settings import DEFAULTS, DESCRIPTIONS  # noqa: E402

COMMON_HELP = {
    "source": "checkout to work on (default: configured `source`, else examples/minivllm)",
    "preset": "CMake preset name (default: release)",
    "dry_run": "print the exact commands and environment, run nothing",
    "no_precompiled": "full source build instead of precompiled kernels (setup.py compiles them)",
    "no_wait": "fail at once when another build holds the build dir (default: wait for it)",
    "no_memory_gate": "presets without the memory gate: compiles start without waiting for memory",
    "json": "print the result as JSON only (for scripts)",
    "then": 'command to run in the checkout after each good build, e.g. "pytest '
    "tests/kernels/test_x.py\" (the venv's bin first on PATH)",
}
SWITCHES = ("dry_run", "json")  # task-only flags that are switches
# Flags that turn a setting off: flag name -> settings key.
NEGATIVE = {"no_precompiled": "precompiled", "no_wait": "wait", "no_memory_gate": "memory_gate"}
PRESET_KEYS = (
    "dev_split",
    "arch",
    "all_archs",
    "jobs",
    "nvcc_threads",
    "launcher",
    "deps_dir",
    "remote_cache",
    "dist",
    "no_memory_gate",
    "force",
)


def _help(*flags: str) -> dict[str, str]:
    """--help text of the common flags and `flags` (settings keys or task-only flags)."""
    names = ("source", "preset", "venv", *flags)
    return {n.replace("_", "-"): COMMON_HELP.get(n) or DESCRIPTIONS[n] for n in names}


def settings_flags(given: dict[str, Any]) -> dict[str, Any]:
    """Flags as settings layers read them: an absent flag (None, or False for a switch) is
    "not given", so it never overrides a config file or environment variable."""
    flags: dict[str, Any] = {}
    for name, value in given.items():
        if name in NEGATIVE:
            if value:
                flags[NEGATIVE[name]] = False
        elif value is not None and value is not False:
            flags[name] = value
    return flags


@contextmanager
def _errors() -> Iterator[None]:
    """Any BuildToolsError becomes its message and exit code (no traceback)."""
    try:
        yield
    except BuildToolsError as exc:
        raise Exit(f"error: {exc.message}", code=exc.code) from None


def _resolved(given: dict[str, Any]) -> Any:
    from build_tools import settings

    with _errors():
        return settings.resolve(settings_flags(given))


def _run(plan: str, command: str, given: dict[str, Any]) -> None:
    """Resolve settings from `given` flags and run workflow.<plan>; errors exit non-zero."""
    from build_tools import workflow

    with _errors():
        workflow.execute(_resolved(given), getattr(workflow, plan), command)


def make_task(
    name: str, doc: str, flags: Sequence[str], body: Callable[[dict[str, Any]], None]
) -> Any:
    """A task with --source, --preset, --venv and `flags`, handing them to `body` as a dict.

    Switches (settings that default to false, --no-*, --dry-run, --json) are boolean flags;
    the rest take a value. The signature is written once here instead of once per task.
    """

    def run(c: Context, **given: Any) -> None:
        body(given)

    def default(flag: str) -> Optional[bool]:
        switch = flag in NEGATIVE or flag in SWITCHES or DEFAULTS.get(flag) is False
        return False if switch else None

    params = [Parameter("c", Parameter.POSITIONAL_OR_KEYWORD)] + [
        Parameter(f, Parameter.POSITIONAL_OR_KEYWORD, default=default(f))
        for f in ("source", "preset", "venv", *flags)
    ]
    run.__signature__ = Signature(params)  # type: ignore[attr-defined]  # invoke reads flags here
    run.__name__ = run.__qualname__ = name.replace("-", "_")
    run.__doc__ = doc
    return task(help=_help(*flags))(run)


def plan_task(name: str, plan: str, doc: str, *flags: str) -> Any:
    """A task that runs workflow.<plan>, with --dry-run besides `flags`."""
    return make_task(name, doc, (*flags, "dry_run"), lambda given: _run(plan, name, given))


venv = plan_task(
    "venv",
    "VENV_ONLY",
    "Create the checkout's .venv with uv (reused when it already has the right Python).",
    "python",
)
install = plan_task(
    "install",
    "INSTALL_ONLY",
    "Editable install with precompiled kernels: VLLM_USE_PRECOMPILED=1 uv pip install -e.",
    "no_precompiled",
    "install_into_venv",
    "force",
)
deps = plan_task(
    "deps",
    "DEPS_ONLY",
    "Install the checkout's build requirements (cmake, ninja, ...) into its venv.",
    "device",
    "install_into_venv",
)
sources = plan_task(
    "sources",
    "SOURCES_ONLY",
    "List the dependencies CMake fetches: pin, and local source, .deps or network.",
    "deps_dir",
)
presets = plan_task(
    "presets",
    "PRESETS_ONLY",
    "Write or merge CMakeUserPresets.json (your presets survive; --dry-run shows a diff).",
    *PRESET_KEYS,
)
configure = plan_task(
    "configure",
    "CONFIGURE_ONLY",
    "cmake --preset <name>, skipped when already configured for the current presets.",
    "no_wait",
)
build = plan_task(
    "build",
    "BUILD_ONLY",
    "Build and install the kernels (cmake --build --preset <name> --target install).",
    "target",
    "no_wait",
)
targets = plan_task(
    "targets",
    "LIST_TARGETS",
    "List the extension targets of the configured checkout (for build --target).",
    "no_wait",
)
clean_build = plan_task(
    "clean-build",
    "CLEAN_BUILD",
    "Delete the preset's build directory (checked first), reconfigure and rebuild.",
    "target",
    "no_wait",
)
bootstrap = plan_task(
    "bootstrap",
    "BOOTSTRAP",
    "venv -> deps -> install -> presets -> configure -> build; each skipped when done.",
    "target",
    "python",
    "device",
    "no_precompiled",
    "install_into_venv",
    *PRESET_KEYS,
    "no_wait",
)


@task(
    help={
        "source": "checkout to benchmark a copy of (default: the bundled example)",
        "runs": "rounds per scenario, contenders alternated (default 5; P2 takes at least 10)",
        "quick": "3 rounds per scenario",
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
    """Time the edit loop (vs raw cmake, uv pip install -e) and the shared caches (benchmarks/)."""
    from benchmarks.loop import main

    given = {"--source": source, "--runs": runs, "--json": json, "--svg": svg}
    argv: Sequence[str] = [item for flag, value in given.items() if value for item in (flag, value)]
    code = main([*argv, *(["--quick"] if quick else [])])
    if code:
        raise Exit(code=code)


def _config(given: dict[str, Any]) -> None:
    from build_tools import settings
    from build_tools.console import make_console

    make_console().table(
        f"settings (user file: {settings.user_file(os.environ)})",
        settings.describe(_resolved(given)),
        ("key", "value", "from"),
    )


config = make_task(
    "config", "Show the effective settings and where each one came from.", (), _config
)


def _doctor(given: dict[str, Any]) -> None:
    from build_tools import doctor as checks

    as_json = given.pop("json")
    code = checks.main(settings_flags(given), as_json=as_json)
    if code:
        raise Exit(code=code)


def _report(given: dict[str, Any]) -> None:
    from build_tools.insight import last_build

    as_json = given.pop("json")
    with _errors():
        last_build.main(_resolved(given), as_json=as_json)


def _watch(given: dict[str, Any]) -> None:
    from build_tools import watch as watcher

    then = given.pop("then") or ""
    with _errors():
        watcher.watch(_resolved(given), then)


doctor = make_task(
    "doctor",
    "Check the tools, the venv, the presets and the build dir; each finding with its fix.\n\n"
    "Exits 1 when a check found an error, 0 when there are warnings only.",
    ("json",),
    _doctor,
)
report = make_task(
    "report",
    "Where the last build's time went: slowest units, parallelism, critical path, cache.\n\n"
    "Also writes a Perfetto trace (build-trace.json) and a chart (build-report.svg) into the "
    "checkout's .vllm-build-tools/.",
    ("json",),
    _report,
)
watch = make_task(
    "watch",
    "Rebuild on every save to csrc/, cmake/, CMakeLists.txt or the presets (Ctrl-C ends).",
    ("target", "then"),
    _watch,
)


ns = Collection(
    venv,
    install,
    deps,
    sources,
    presets,
    configure,
    build,
    targets,
    clean_build,
    bootstrap,
    config,
    bench,
    doctor,
    report,
    watch,
)
