"""The build step's decisions, with a recording runner instead of real tools."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pytest

from build_tools.cmake.project import CMake
from build_tools.console import Console
from build_tools.process.runner import Command, Fix, Outcome, Runner
from build_tools.run import make_run
from build_tools.settings import Settings
from build_tools.steps.build import build
from tests.helpers import fake_codemodel


class Recorder(Runner):
    """Answers every command with a canned outcome and remembers what was asked."""

    def __init__(self, linked: Sequence[str], kept: Sequence[str]) -> None:
        super().__init__(Console(io.StringIO()))
        self.linked, self.kept = tuple(linked), tuple(kept)
        self.commands: list[Command] = []

    def run(
        self, command: Command, *, fix: Fix = "", quiet: bool = False, install: bool = False
    ) -> Outcome:
        self.commands.append(command)
        building = "--build" in command.argv
        return Outcome(
            command,
            0,
            0.0,
            (),
            len(self.linked) if building else 0,
            self.linked if building else (),
            self.kept,
        )


@pytest.fixture
def configured(example_copy: Path) -> Path:
    targets = {"_C": "MODULE_LIBRARY", "_moe_C": "MODULE_LIBRARY"}
    fake_codemodel(example_copy / "cmake-build-release", targets, ["_C", "_moe_C"])
    return example_copy


def build_with(source: Path, linked: Sequence[str], kept: Sequence[str]) -> list[Command]:
    recorder = Recorder(linked, kept)
    ctx = make_run(Settings(source=source), console=Console(io.StringIO()), runner=recorder)
    ctx._cmake = CMake(Path("/opt/cmake/bin/cmake"), source)
    build(ctx)
    return recorder.commands


def forced(commands: list[Command]) -> list[str]:
    return [c.argv[-1] for c in commands if c.env.get("CMAKE_INSTALL_ALWAYS") == "1"]


def test_relinked_but_up_to_date_is_installed_again(configured: Path) -> None:
    commands = build_with(configured, ["_C.abi3.so"], ["_C.abi3.so", "_moe_C.abi3.so"])
    assert commands[0].argv[1:] == ("--build", "--preset", "release", "--target", "install")
    assert forced(commands) == ["_C"]


def test_freshly_installed_files_are_not_copied_twice(configured: Path) -> None:
    assert forced(build_with(configured, ["_C.abi3.so"], [])) == []


def test_nothing_relinked_nothing_reinstalled(configured: Path) -> None:
    assert forced(build_with(configured, [], ["_C.abi3.so", "_moe_C.abi3.so"])) == []
