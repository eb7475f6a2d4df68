"""`vllm-build test` (and `invoke test`): run the checkout's pytest tests that exercise the
kernels changed, after a build.

What changed: the files that differ from the precompiled base (checkout/base.py) and the
sources the last build compiled (ninja's log), or the files a caller names (`watch --then
auto`: the files of the cycle). Which tests: kernel_tests/ maps them to the ops they register
or implement and to the test files that call those ops (torch.ops.<ns>.<op>, the checkout's
Python wrappers); `--list` shows each test with why it was chosen and runs nothing. The tests
run with the checkout's venv (`python -m pytest`), from the checkout.
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional

from build_tools.checkout import base, source_tree
from build_tools.cmake.codemodel import CodeModel, read_codemodel
from build_tools.cmake.listed_sources import listed_sources
from build_tools.errors import BuildToolsError, ErrorKind
from build_tools.insight import ninja_log
from build_tools.insight.cost import object_of
from build_tools.kernel_tests import Selection, select_tests
from build_tools.loop import test_env
from build_tools.machine import venv_state
from build_tools.process.runner import CommandFailed, in_processes
from build_tools.run import Run, make_run
from build_tools.settings import Settings

DIRECT = "tests/kernels/"  # tests that exercise kernels directly; the rest only with --wide
KERNEL_SUFFIXES = (".cu", ".cuh", ".cpp", ".cc", ".h", ".hpp", ".c")
HOW_TO_NAME = (
    "name the tests yourself: `invoke test --tests 'tests/kernels/test_x.py'` (or `invoke "
    "watch --then 'pytest tests/kernels/test_x.py'`)"
)


def changed_files(ctx: Run) -> list[str]:
    """Files that differ from the precompiled base, and the sources the last build compiled."""
    found: set[str] = set()
    recorded = base.load(ctx.tree)
    if recorded is not None:
        found.update(recorded.changed(ctx.tree, ctx.git()))
    try:
        log = ninja_log.read(ctx.checkout.build_dir)
    except BuildToolsError:
        return sorted(found)
    for entry in ninja_log.last_build(log.entries, log.version):
        named = object_of(entry.output)
        if named and (ctx.tree.root / named[1]).is_file():
            found.add(named[1])
    return sorted(found)


def source_targets(model: CodeModel) -> dict[str, list[str]]:
    """Each compiled source (relative to the checkout) -> the targets that compile it."""
    found: dict[str, list[str]] = {}
    for name, target in model.details.items():
        for source in target.sources:
            found.setdefault(source, []).append(name)
    return found


def select(ctx: Run, changed: Iterable[str]) -> Selection:
    """The tests of the changed files; which target compiles which source from the CMake File
    API, else (a checkout not configured yet) as the CMake files list them."""
    model = read_codemodel(ctx.checkout.build_dir)
    if model is not None:
        targets = source_targets(model)
    else:
        targets = listed_sources(ctx.tree.root, source_tree.cmake_files(ctx.tree.root))
        ctx.console.note(
            f"{ctx.checkout.build_dir} is not configured: which target compiles which source is "
            "read from the CMake files (sources they list; `invoke configure` makes it exact)"
        )
    return select_tests(
        ctx.tree.root,
        sorted(changed),
        targets,
        state_dir=ctx.tree.state_dir,
        parallel=in_processes,
    )


def split(chosen: Selection) -> tuple[list[str], list[str]]:
    """(the direct kernel tests, under tests/kernels/; the wider ones: models, v1, engine...)."""
    direct = [t.test_file for t in chosen.tests if t.test_file.startswith(DIRECT)]
    return direct, [t.test_file for t in chosen.tests if not t.test_file.startswith(DIRECT)]


def show(ctx: Run, chosen: Selection, wide: bool = False) -> list[str]:
    """The tests chosen and why (the wider ones only with `wide`); what was left out, and
    each changed file that maps to no op, with what to pass instead. The tests to run."""
    direct, wider = split(chosen)
    shown = set(direct + wider if wide else direct)
    rows = [[test, reason] for test, reason in chosen.pairs() if test in shown]
    ctx.console.table(
        f"tests of the kernels changed ({len(chosen.changed)} file(s))", rows, ["test", "why"]
    )
    if wider and not wide:
        folders = Counter(w.split("/")[1] if w.count("/") > 1 else w for w in wider)
        where = ", ".join(f"{f}/ {n}" for f, n in sorted(folders.items()))
        ctx.console.output(
            f"{len(wider)} wider test file(s) outside {DIRECT} also reach these ops ({where}): "
            + ctx.console.ours("`invoke test --wide` runs them too")
        )
    mapped = {s.changed_file for s in chosen.op_sources}
    unmapped = [p for p in chosen.changed if p not in mapped and Path(p).suffix in KERNEL_SUFFIXES]
    for path in unmapped:
        ctx.console.output(
            f"{path} maps to no op (it registers or implements none: macros, types or "
            "code the call graph does not follow); "
            + ctx.console.ours(f"name the tests: `invoke test --tests {_area(ctx, path)}`")
        )
    if chosen.nothing_found and len(unmapped) < len(chosen.changed):
        ctx.console.output(
            f"no test chosen: {chosen.nothing_found}; {ctx.console.ours(HOW_TO_NAME)}"
        )
    return sorted(shown)


def _area(ctx: Run, path: str) -> str:
    """The kernel tests of the folder an unmapped file lies in (csrc/quantization/... ->
    tests/kernels/quantization), else all of tests/kernels."""
    parts = Path(path).parts
    for part in parts[1:-1]:
        if (ctx.tree.root / DIRECT / part).is_dir():
            return f"{DIRECT}{part}"
    return DIRECT.rstrip("/")


# What each of pytest's exit codes means here, and its fix (pytest.ExitCode).
PYTEST_EXITS = {
    1: (
        "Some of the tests above failed.",
        "fix the kernel (or the test) and build again",
    ),
    2: (
        "pytest stopped before the tests ran to the end (exit 2: interrupted, e.g. a test "
        "file that fails to import while it is collected).",
        "fix the first error above (`ERROR collecting ...`), then run this again",
    ),
    3: (
        "pytest itself failed (exit 3: an internal error, often a plugin or a conftest.py "
        "that raised).",
        "read the traceback above; `invoke test --list` shows what would run",
    ),
    4: (
        "pytest refused its command line (exit 4: a usage error, e.g. a --tests path that "
        "does not exist).",
        "name test files or folders that exist, relative to the checkout; `invoke test "
        "--list` shows the tests chosen for you",
    ),
    5: (
        "pytest collected no tests from what it was given (exit 5).",
        "name files or folders that hold tests; `invoke test --list` shows the tests chosen "
        "for you",
    ),
}


def run_tests(ctx: Run, tests: Sequence[str]) -> None:
    """`python -m pytest TESTS` with the checkout's venv, from the checkout; first what the
    checkout's test requirements name for running them, where the venv lacks it (installed
    into a venv we created, else the exact command to run). A failure says which of pytest's
    exit codes came, and exits with it."""
    python = ctx.tree.venv_python
    ensure_test_env(ctx, tests)
    try:
        ctx.runner.run(ctx.command([python, "-m", "pytest", "-q", *tests]))
    except CommandFailed as exc:
        code = exc.outcome.returncode
        problem, fix = PYTEST_EXITS.get(code, (f"pytest ended with exit code {code}.", ""))
        failed = BuildToolsError(f"{problem} {exc.problem}", fix or exc.fix, kind=ErrorKind.TESTS)
        failed.code = code
        raise failed from None


def ensure_test_env(ctx: Run, tests: Sequence[str]) -> None:
    """Never a dead end: pytest and what the tests' conftest.py files import, as the checkout's
    test requirements pin them, installed into the checkout's venv (an environment we did not
    create: the exact command, unless --install-into-venv)."""
    have = venv_state.installed(ctx.tree.venv_dir)
    needed = test_env.missing(ctx.tree, tests, list(have))
    if not needed.lines:
        return
    named = ", ".join(needed.lines)
    source = (
        f"what {needed.source.relative_to(ctx.tree.root)} names for running kernel tests"
        if needed.source
        else "pytest (the checkout names no test requirements)"
    )
    if not ctx.tree.venv_is_ours and not ctx.settings.install_into_venv:
        argv = ["uv", "pip", "install", "--python", str(ctx.tree.venv_python), *needed.lines]
        raise BuildToolsError(
            f"The environment {ctx.tree.venv_dir} lacks {source}: {named}.",
            f"`{shlex.join(argv)}` (or pass --install-into-venv), then run this again",
        )
    ctx.console.note(f"{ctx.tree.venv_dir} lacks {source}: installing {named}")
    ctx.pip_install(list(needed.lines))


def test(settings: Settings, *, list_only: bool, named: str = "", wide: bool = False) -> None:
    """What `invoke test` does: choose the tests (or take the ones named), show why, run them."""
    ctx = make_run(settings)
    tests = shlex.split(named)
    if not tests:
        chosen = select(ctx, changed_files(ctx))
        tests = show(ctx, chosen, wide)
    if list_only or not tests:
        return
    ctx.need_venv()
    run_tests(ctx, tests)


def for_cycle(ctx: Run, paths: Iterable[Path]) -> Optional[list[str]]:
    """The tests for the files of one watch cycle (None: nothing to run, said why)."""
    root = ctx.tree.root
    changed = [str(p.relative_to(root)) for p in paths if root in p.parents]
    chosen = select(ctx, changed)
    direct, wider = split(chosen)
    if not direct:
        why = chosen.nothing_found or f"none under {DIRECT} ({len(wider)} wider ones)"
        ctx.console.note(f"no test chosen: {why}")
        return None
    return direct
