"""issue 19: `vllm-build`, the same tasks as `invoke` as a command of its own, at home in the
checkout you are in; and every command we print runs as printed from where you stand."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from build_tools.settings import EXAMPLE_SOURCE
from tests.helpers import copy_example
from tests.integration.tools import Run, fix_commands, ok, shell, shell_env

PROGRAM = Path(sys.executable).parent / "vllm-build"


def vllm_build(*args: str, cwd: Path, env: dict[str, str]) -> Run:
    """`vllm-build ARGS` as a person types it in `cwd` (no stdin)."""
    assert PROGRAM.is_file(), f"{PROGRAM} is missing: `pip install -e .` installs it"
    return shell([PROGRAM, *args], cwd=cwd, env=shell_env(env))


def tasks_of(listing: str) -> list[str]:
    return sorted(m.group(1) for m in re.finditer(r"^  ([a-z][a-z-]+)\s", listing, re.M))


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """A copy of the example at another path, bootstrapped by `vllm-build` run inside it."""
    root = copy_example(tmp_path_factory.mktemp("elsewhere") / "my work" / "minivllm")
    run = vllm_build("bootstrap", cwd=root, env=env)
    assert run.returncode == 0, run.output
    return root


def test_the_same_tasks_and_help_as_invoke(tmp_path: Path, env: dict[str, str]) -> None:
    theirs = tasks_of(ok("--list", env=env))
    ours = vllm_build("--list", cwd=tmp_path, env=env)
    assert ours.returncode == 0 and tasks_of(ours.output) == theirs, ours.output
    assert "test" in theirs, theirs
    helped = vllm_build("--help", "build", cwd=tmp_path, env=env)
    assert helped.returncode == 0 and "--plan" in helped.output and "--all" in helped.output
    completion = vllm_build("--print-completion-script", "bash", cwd=tmp_path, env=env)
    assert completion.returncode == 0 and "vllm-build" in completion.output, completion.output


def test_inside_a_checkout_it_builds_that_checkout(copy: Path) -> None:
    assert (copy / ".venv" / "bin" / "python").is_file(), "the copy's own venv was not made"
    for lib in ("_C.abi3.so", "_moe_C.abi3.so"):
        assert (copy / "minivllm" / lib).is_file(), f"{lib} was not built into the copy"


def test_from_a_subdirectory_it_finds_the_checkout(copy: Path, env: dict[str, str]) -> None:
    run = vllm_build("targets", cwd=copy / "csrc" / "moe", env=env)
    assert run.returncode == 0, run.output
    assert str(copy / "cmake-build-release") in run.output and "_moe_C" in run.output, run.output
    shown = vllm_build("config", cwd=copy / "csrc", env=env)
    assert "source" in shown.output and str(copy) in shown.output, shown.output
    assert "the checkout you are in" in shown.output, shown.output


def test_outside_any_checkout_it_behaves_like_invoke(tmp_path: Path, env: dict[str, str]) -> None:
    ours = vllm_build("config", cwd=tmp_path, env=env)
    theirs = ok("config", env=env)
    source = [line for line in theirs.splitlines() if line.strip().startswith("source ")]
    assert source and source[0] in ours.output, f"{source} not in:\n{ours.output}"


def test_every_fix_line_runs_as_printed(copy: Path, env: dict[str, str]) -> None:
    """The commands our failures suggest, copied from the output and run where the person
    stands, do what they say."""
    subdir = copy / "csrc"
    cases = [
        # --target clean: the fix names the task that does it
        (["build", "--target", "help"], "targets"),
        # a damaged build file: configure --force regenerates it
        (["report", "--preset", "relwithdebinfo"], None),
    ]
    ran = 0
    for args, expected_task in cases:
        run = vllm_build(*args, cwd=subdir, env=env)
        assert run.returncode != 0, run.output
        for command in fix_commands(run.output):
            argv = shlex.split(command)
            assert argv[0] == "vllm-build", f"a fix for vllm-build says {command}"
            if expected_task and argv[1] != expected_task:
                continue
            done = vllm_build(*argv[1:], cwd=subdir, env=env)
            assert done.returncode == 0, f"`{command}` as printed failed:\n{done.output}"
            ran += 1
    assert ran >= 1, "no fix line named a command to run"
    elsewhere = copy.parent.parent / "away"
    elsewhere.mkdir(exist_ok=True)
    run = vllm_build("build", "--source", str(copy), "--target", "clean", cwd=elsewhere, env=env)
    commands = fix_commands(run.output)
    assert commands and all(f"--source {copy}" in c or f"--source '{copy}'" in c for c in commands)
    for command in commands:
        done = vllm_build(*shlex.split(command)[1:], cwd=elsewhere, env=env)
        assert done.returncode == 0, f"`{command}` as printed failed:\n{done.output}"


def test_the_tests_of_the_kernels_changed_run_with_the_checkouts_venv(
    copy: Path, env: dict[str, str]
) -> None:
    source = copy / "csrc" / "moe" / "topk_softmax.cpp"
    source.write_text(source.read_text() + "\n// an edit\n")
    assert vllm_build("build", cwd=copy, env=env).returncode == 0
    listed = vllm_build("test", "--list", cwd=copy, env=env)
    assert "tests/kernels/moe/test_topk_softmax.py" in listed.output, listed.output
    assert "test_layernorm" not in listed.output, f"a _C test for a _moe_C edit:\n{listed.output}"
    first = vllm_build("test", cwd=copy, env=env)
    if first.returncode != 0:  # the example's venv has no pytest: the fix says how, runnably
        assert "has no pytest" in first.output, first.output
        (command,) = re.findall(r"`(uv pip install [^`]+)`", first.output)
        installed = subprocess.run(
            shlex.split(command), cwd=copy, env={**os.environ, **env}, check=False
        )
        assert installed.returncode == 0, f"`{command}` as printed failed"
        first = vllm_build("test", cwd=copy, env=env)
    assert first.returncode == 0 and " passed" in first.output, first.output


def test_help_shows_our_tasks_and_only_the_flags_that_apply(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """issue 26: invoke's own core flags (sudo, --dry, --search-root, ...) mean nothing for a
    build; --version is the suite's."""
    helped = vllm_build("--help", cwd=tmp_path, env=env)
    assert helped.returncode == 0, helped.output
    options = helped.output.split("Subcommands:")[0]
    for flag in ("--prompt-for-sudo-password", "--dry", "--search-root", "--echo", "--pty",
                 "--warn-only", "--hide", "--config", "--command-timeout"):  # fmt: skip
        assert flag not in options, f"{flag} in:\n{options}"
    assert "--version" in options and "--list" in options, options
    assert set(tasks_of(helped.output)) >= {"build", "bootstrap", "doctor"}, helped.output
    refused = vllm_build("--dry", "config", cwd=tmp_path, env=env)
    assert refused.returncode != 0, refused.output
    shown = vllm_build("--version", cwd=tmp_path, env=env)
    expected = metadata.version("vllm-build-tools")
    assert shown.returncode == 0 and shown.output.strip() == f"vllm-build {expected}", shown.output


def test_bench_runs_from_any_directory(tmp_path: Path, env: dict[str, str]) -> None:
    """issue 26: `vllm-build bench` outside the repository reaches the benchmark (here its
    own refusal of a bad flag) instead of `ModuleNotFoundError: benchmarks`."""
    run = vllm_build("bench", "--runs", "0", cwd=tmp_path, env=env)
    assert "ModuleNotFoundError" not in run.output, run.output
    assert run.returncode == 2 and "--runs must be >= 1" in run.output, run.output
    assert list(tmp_path.iterdir()) == [], "bench wrote where it was run"


@pytest.mark.parametrize(
    "given", [("--target", "_moe_C", "--target", "_C"), ("--target", "_C,_moe_C")]
)
def test_several_targets_each_built_and_installed(
    copy: Path, env: dict[str, str], given: tuple[str, ...]
) -> None:
    """issue 26: --target repeated or as a comma list builds every target named and installs
    each one's component."""
    installed = [copy / "minivllm" / lib for lib in ("_C.abi3.so", "_moe_C.abi3.so")]
    for lib in installed:
        lib.unlink()
    run = vllm_build("build", *given, cwd=copy, env=env)
    assert run.returncode == 0, run.output
    assert all(lib.is_file() for lib in installed), f"not every component installed:\n{run.output}"
    assert "_C, _moe_C" in run.output or "_moe_C, _C" in run.output, run.output


@pytest.mark.parametrize(
    ("tests", "code", "said"),
    [
        ("does/not/exist.py", 4, "pytest refused its command line (exit 4: a usage error"),
        ("csrc", 5, "pytest collected no tests from what it was given (exit 5)"),
    ],
)
def test_each_pytest_exit_gets_its_own_sentence(
    copy: Path, env: dict[str, str], tests: str, code: int, said: str
) -> None:
    """issue 26: a --tests path that does not exist is not "the tests above failed: fix the
    kernel"; each of pytest's exit codes is said as what it is, and exits with it."""
    run = vllm_build("test", "--tests", tests, cwd=copy, env=env)
    assert run.returncode == code and said in run.output, run.output
    assert "fix the kernel" not in run.output, run.output


def test_every_task_says_first_which_checkout_it_works_on(
    copy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    """issue 26: outside any checkout `vllm-build build` builds the bundled example, and says
    so on its first line; inside one, every task names it first."""
    away = vllm_build("build", "--dry-run", cwd=tmp_path, env=env)
    first = away.output.splitlines()[0]
    assert first.startswith(f"checkout: {EXAMPLE_SOURCE} (the bundled example"), away.output
    assert "you are in no checkout" in first, first
    for args in (["build", "--dry-run"], ["targets"], ["report"], ["test", "--list"], ["config"]):
        run = vllm_build(*args, cwd=copy / "csrc", env=env)
        first = run.output.splitlines()[0] if run.output else ""
        assert first == f"checkout: {copy} (the checkout you are in)", (args, run.output)
    named = vllm_build("watch", "--source", str(copy), "--then", "'", cwd=tmp_path, env=env)
    assert named.output.splitlines()[0] == f"checkout: {copy} (--source)", named.output


def test_doctor_says_what_the_install_and_the_build_said(copy: Path, env: dict[str, str]) -> None:
    """issue 26: inside a git clone (here one that holds the checkout in a folder) doctor never
    says "built here from a tree without git"; it says the precompiled kernels as the install
    recorded them, not "installed at an unknown commit"."""
    clone = copy.parent
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q"], ["add", "minivllm/csrc", "minivllm/CMakeLists.txt"],
                 ["commit", "-q", "-m", "the checkout, in a clone"]):  # fmt: skip
        subprocess.run([*git, *args], check=True, capture_output=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    installed = vllm_build("install", "--force", cwd=copy, env=env)
    said = re.findall(r"precompiled kernels (recorded.*)", installed.output)
    assert installed.returncode == 0 and said, installed.output
    built = vllm_build("build", "--target", "_C", cwd=copy, env=env)
    assert built.returncode == 0, built.output
    doctor = vllm_build("doctor", cwd=copy, env=env).output
    assert said[0] in doctor and "unknown commit" not in doctor, doctor
    assert f"_C.abi3.so: built here from commit {head.stdout[:12]}" in doctor, doctor
    assert "without git" not in doctor, doctor
