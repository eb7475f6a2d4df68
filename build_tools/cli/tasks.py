"""The tasks: `invoke --list` and `vllm-build --list` show them, `--help TASK` their flags.

Each task turns its flags into Settings and runs a plan from workflow.py (or a feature's own
entry: doctor, report, watch, test); nothing here decides how to build. One collection, `ns`,
serves both programs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.util import find_spec
from typing import Any, Optional

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from build_tools.cli.front import (
    DOOR,
    PRESET_KEYS,
    errors,
    make_task,
    plan_task,
    say_checkout,
    settings_flags,
    settings_of,
)

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
    "torch_backend",
    "force",
)
deps = plan_task(
    "deps",
    "DEPS_ONLY",
    "Install the checkout's build requirements (cmake, ninja, ...) into its venv.",
    "device",
    "install_into_venv",
    "torch_backend",
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
    "force",
    "no_wait",
)
build = plan_task(
    "build",
    "BUILD_ONLY",
    "Build and install the kernels: over precompiled ones, only the targets that differ.\n\n"
    "--plan says first what would compile and what it costs; --all builds every target "
    "(cmake --build --preset <name> --target install); --target X builds X alone (several: "
    "repeat it, or X,Y).",
    "target",
    "all",
    "plan",
    "no_wait",
    "no_load_check",
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
    "no_load_check",
)
bootstrap = plan_task(
    "bootstrap",
    "BOOTSTRAP",
    "venv -> deps -> install -> presets -> configure -> build; each skipped when done.",
    "target",
    "all",
    "plan",
    "python",
    "device",
    "no_precompiled",
    "install_into_venv",
    "torch_backend",
    *PRESET_KEYS,
    "no_wait",
    "no_load_check",
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


def _rows(wanted: Any) -> list[tuple[str, str, str]]:
    """(key, value, where it came from) of every setting; secrets never shown."""
    from build_tools.safety.secrets import redact
    from build_tools.settings import DESCRIPTIONS

    rows = []
    for key in DESCRIPTIONS:
        value = getattr(wanted, key)
        shown = "(set)" if key.endswith("token") and value else redact(str(value)) or '""'
        rows.append((key, shown, wanted.origin(key)))
    return rows


def _config(given: dict[str, Any]) -> None:
    from build_tools import settings
    from build_tools.console import make_console

    wanted = settings_of(given)
    say_checkout(wanted)
    make_console().table(
        f"settings (user file: {settings.user_file(os.environ)})",
        _rows(wanted),
        ("key", "value", "from"),
    )


config = make_task(
    "config", "Show the effective settings and where each one came from.", (), _config
)


def _doctor(given: dict[str, Any]) -> None:
    from build_tools import doctor as checks

    as_json = given.pop("json")
    flags = settings_flags(given)
    code = checks.main(flags, as_json=as_json, here=DOOR.here, program=DOOR.program)
    if code:
        raise Exit(code=code)


def _report(given: dict[str, Any]) -> None:
    from build_tools.insight import last_build

    as_json = given.pop("json")
    wanted = settings_of(given)
    if not as_json:
        say_checkout(wanted)
    with errors(wanted):
        last_build.main(wanted, as_json=as_json)


def _watch(given: dict[str, Any]) -> None:
    from build_tools.loop import watch as watcher

    then = given.pop("then") or ""
    wanted = settings_of(given)
    say_checkout(wanted)
    with errors(wanted):
        watcher.watch(wanted, then)


def _test(given: dict[str, Any]) -> None:
    from build_tools.loop import tests

    list_only, named, wide = given.pop("list"), given.pop("tests") or "", given.pop("wide")
    wanted = settings_of(given)
    say_checkout(wanted)
    with errors(wanted):
        tests.test(wanted, list_only=list_only, named=named, wide=wide)


test = make_task(
    "test",
    "Run the checkout's tests that exercise the kernels you changed (after a build).\n\n"
    "Changed: the files that differ from the precompiled kernels and the sources the last "
    "build compiled; chosen: the tests under tests/kernels/ that call the ops those files "
    "register or implement (--wide: also models/, v1/, ... that reach them). --list shows each "
    "test and why, and runs nothing.",
    ("list", "tests", "wide", "install_into_venv"),
    _test,
)


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


def _benchmarks_here() -> bool:
    """Whether the benchmarks package is importable: an install of the suite without it
    offers no `bench` task rather than one that fails on import."""
    try:
        return find_spec("benchmarks.loop") is not None
    except ModuleNotFoundError:
        return False


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
    *([bench] if _benchmarks_here() else []),
    doctor,
    report,
    watch,
    test,
)
