"""How a front door turns flags into Settings and back: the one task factory (every task gets
--source, --preset, --venv and its own flags, help from the settings' own lines), errors as one
message and an exit code, and where the person stands (the program's name, the checkout around
the current directory) so that every command we print runs as printed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from inspect import Parameter, Signature
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from build_tools.errors import BuildToolsError
from build_tools.settings import DEFAULTS, DESCRIPTIONS

if TYPE_CHECKING:  # workflow imports every step: a task imports it when it runs
    from build_tools.workflow import PlanName


@dataclass
class Door:
    """Where the person stands: the program they typed, and the checkout they are in (the
    default --source of `vllm-build`; None for `invoke`, which keeps its own default)."""

    program: str = "invoke"
    here: Optional[Path] = None


DOOR = Door()

COMMON_HELP = {
    "source": "checkout to work on (default: configured `source`, else examples/minivllm)",
    "preset": "CMake preset name (default: release)",
    "dry_run": "print the exact commands and environment, run nothing",
    "no_precompiled": "full source build instead of precompiled kernels (setup.py compiles them)",
    "no_wait": "fail at once when another build holds the build dir (default: wait for it)",
    "no_memory_gate": "presets without the memory gate: compiles start without waiting for memory",
    "no_load_check": "after the build, do not load the installed extensions to check them",
    "json": "print the result as JSON only (for scripts)",
    "target": "build this target and install its component; several: repeat --target, or "
    "a comma list (--target _C,_moe_C)",
    "list": "show the tests chosen and why; run none",
    "wide": "also the wider tests that reach the changed ops (models/, v1/, ...)",
    "tests": "the tests to run instead of those chosen, e.g. 'tests/kernels/test_x.py'",
    "then": 'command to run in the checkout after each good build, e.g. "pytest '
    "tests/kernels/test_x.py\" (the venv's bin first on PATH); auto: the tests of what "
    "changed (`invoke test`)",
}
SWITCHES = ("dry_run", "json", "list", "wide")  # task-only flags that are switches
REPEATABLE = ("target",)  # flags given once per value (or once, as a comma list)
# Flags that turn a setting off: flag name -> settings key.
NEGATIVE = {
    "no_precompiled": "precompiled",
    "no_wait": "wait",
    "no_memory_gate": "memory_gate",
    "no_load_check": "load_check",
}
# Flags named otherwise than their settings key: flag name -> settings key.
RENAMED = {"all": "all_targets"}
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


def help_of(*flags: str) -> dict[str, str]:
    """--help text of the common flags and `flags` (settings keys or task-only flags)."""
    names = ("source", "preset", "venv", *flags)
    return {
        n.replace("_", "-"): COMMON_HELP.get(n) or DESCRIPTIONS[RENAMED.get(n, n)] for n in names
    }


def settings_flags(given: dict[str, Any]) -> dict[str, Any]:
    """Flags as settings layers read them: an absent flag (None, or False for a switch) is
    "not given", so it never overrides a config file or environment variable."""
    flags: dict[str, Any] = {}
    for name, value in given.items():
        if name in NEGATIVE:
            if value:
                flags[NEGATIVE[name]] = False
        elif isinstance(value, list):  # a repeatable flag: one comma list, [] not given
            if value:
                flags[RENAMED.get(name, name)] = ",".join(value)
        elif value is not None and value is not False:
            flags[RENAMED.get(name, name)] = value
    return flags


@contextmanager
def errors(settings: Any = None) -> Iterator[None]:
    """Any BuildToolsError becomes its message and exit code (no traceback); the commands its
    fix suggests carry the --source/--preset/--venv given, so they run as printed."""
    try:
        yield
    except BuildToolsError as exc:
        from build_tools.safety.secrets import redact

        fix = exc.fix
        if settings is not None:
            from build_tools.console import flags_of, with_flags

            fix = with_flags(fix, flags_of(settings), DOOR.program)
        message = f"{exc.problem}\n  fix: {fix}" if fix else exc.problem
        raise Exit(f"error: {redact(message)}", code=exc.code) from None


def settings_of(given: dict[str, Any]) -> Any:
    from build_tools import settings

    with errors():
        return settings.resolve(settings_flags(given), here=DOOR.here, program=DOOR.program)


def checkout_line(wanted: Any) -> str:
    """The first line of a task: which checkout it works on, and why that one."""
    origin = wanted.origin("source")
    if origin == "default":
        why = "the bundled example: no --source given, no `source` configured"
        why += ", and you are in no checkout" if DOOR.program != "invoke" else ""
    elif origin.startswith("flag"):
        why = "--source"
    elif origin == "the checkout you are in":
        why = origin
    else:
        why = f"source from {origin}"
    return f"checkout: {wanted.source} ({why})"


def say_checkout(wanted: Any) -> None:
    from build_tools.console import make_console

    make_console().output(checkout_line(wanted))


def run_plan(plan: PlanName, command: str, given: dict[str, Any]) -> None:
    """Resolve settings from `given` flags and run workflow's `plan`; errors exit non-zero."""
    from build_tools import workflow

    wanted = settings_of(given)
    say_checkout(wanted)
    with errors(wanted):
        workflow.execute(wanted, workflow.PLANS[plan], command)


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
        key = RENAMED.get(flag, flag)
        switch = flag in NEGATIVE or flag in SWITCHES or DEFAULTS.get(key) is False
        return False if switch else None

    params = [Parameter("c", Parameter.POSITIONAL_OR_KEYWORD)] + [
        Parameter(f, Parameter.POSITIONAL_OR_KEYWORD, default=default(f))
        for f in ("source", "preset", "venv", *flags)
    ]
    run.__signature__ = Signature(params)  # type: ignore[attr-defined]  # invoke reads flags here
    run.__name__ = run.__qualname__ = name.replace("-", "_")
    run.__doc__ = doc
    repeated = [f for f in flags if f in REPEATABLE]
    return task(help=help_of(*flags), iterable=repeated)(run)


def plan_task(name: str, plan: PlanName, doc: str, *flags: str) -> Any:
    """A task that runs workflow's `plan`, with --dry-run besides `flags`."""
    return make_task(name, doc, (*flags, "dry_run"), lambda given: run_plan(plan, name, given))
