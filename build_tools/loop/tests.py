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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional

from build_tools.checkout import base
from build_tools.cmake.codemodel import CodeModel, read_codemodel
from build_tools.errors import BuildToolsError
from build_tools.insight import ninja_log
from build_tools.insight.cost import object_of
from build_tools.kernel_tests import Selection, select_tests
from build_tools.loop import test_env
from build_tools.machine import venv_state
from build_tools.run import Run, make_run
from build_tools.settings import Settings

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
    model = read_codemodel(ctx.checkout.build_dir)
    if model is None:
        raise BuildToolsError(
            f"{ctx.checkout.build_dir} holds no CMake File API reply: which source belongs to "
            "which extension is not known yet.",
            "run `invoke configure` (or `invoke build`) first",
        )
    return select_tests(ctx.tree.root, sorted(changed), source_targets(model))


def show(ctx: Run, chosen: Selection) -> None:
    rows = [[test, reason] for test, reason in chosen.pairs()]
    ctx.console.table(
        f"tests of the kernels changed ({len(chosen.changed)} file(s))", rows, ["test", "why"]
    )
    if chosen.nothing_found:
        ctx.console.output(
            f"no test chosen: {chosen.nothing_found}; {ctx.console.ours(HOW_TO_NAME)}"
        )


def run_tests(ctx: Run, tests: Sequence[str]) -> None:
    """`python -m pytest TESTS` with the checkout's venv, from the checkout; first what the
    checkout's test requirements name for running them, where the venv lacks it (installed
    into a venv we created, else the exact command to run)."""
    python = ctx.tree.venv_python
    ensure_test_env(ctx, tests)
    ctx.runner.run(
        ctx.command([python, "-m", "pytest", "-q", *tests]),
        fix="the tests above failed: fix the kernel (or the test) and build again",
    )


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


def test(settings: Settings, *, list_only: bool, named: str = "") -> None:
    """What `invoke test` does: choose the tests (or take the ones named), show why, run them."""
    ctx = make_run(settings)
    tests = shlex.split(named)
    if not tests:
        chosen = select(ctx, changed_files(ctx))
        show(ctx, chosen)
        tests = [t.test_file for t in chosen.tests]
    if list_only or not tests:
        return
    ctx.need_venv()
    run_tests(ctx, tests)


def for_cycle(ctx: Run, paths: Iterable[Path]) -> Optional[list[str]]:
    """The tests for the files of one watch cycle (None: nothing to run, said why)."""
    root = ctx.tree.root
    changed = [str(p.relative_to(root)) for p in paths if root in p.parents]
    chosen = select(ctx, changed)
    if not chosen.tests:
        ctx.console.note(f"no test chosen: {chosen.nothing_found}")
        return None
    return [t.test_file for t in chosen.tests]
