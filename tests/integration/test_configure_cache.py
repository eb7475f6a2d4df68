"""Configure off the critical path, with real cmake: a clean-build reuses the compiler
identification its first configure recorded, and its build.ninja and compile_commands.json are
byte for byte a fresh configure's; an input that changed, a tampered record and a second
worktree behave as they must; `configure_cache = none` writes nothing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from build_tools.cmake import cmake_python
from tests.helpers import copy_example
from tests.integration.tools import ok

GENERATED = ("build.ninja", "compile_commands.json")


def configure_line(out: str) -> str:
    found = re.findall(r"configure ran \([0-9.]+s\): .*", out)
    assert found, out
    return str(found[-1])


def generated(src: Path) -> dict[str, bytes]:
    return {name: (src / "cmake-build-release" / name).read_bytes() for name in GENERATED}


@pytest.fixture(scope="module")
def bootstrapped(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    src = copy_example(tmp_path_factory.mktemp("cc") / "my src" / "minivllm")
    ok("bootstrap", "--source", str(src), env=env)
    return src


def records(env: dict[str, str]) -> list[Path]:
    return sorted(Path(env["VLLM_BUILD_CONFIGURE_CACHE"]).glob("compilers/*/*.json"))


def test_a_clean_build_reuses_the_identification_and_writes_a_fresh_configures_files(
    bootstrapped: Path, env: dict[str, str]
) -> None:
    src = bootstrapped
    shutil.rmtree(env["VLLM_BUILD_CONFIGURE_CACHE"], ignore_errors=True)
    out = ok("clean-build", "--source", str(src), env=env)
    assert "reused" not in configure_line(out), "nothing recorded yet: a fresh configure"
    fresh = generated(src)
    assert records(env), "the fresh configure was recorded"
    answers = list(Path(env["VLLM_BUILD_CONFIGURE_CACHE"]).glob("python-answers/*.json"))
    assert any("MINIVLLM_PY_ABI" in p.read_text() for p in answers), "the example's question"
    out = ok("clean-build", "--source", str(src), env=env)
    assert "compiler identification reused" in configure_line(out), out
    assert generated(src) == fresh, "build.ninja and compile_commands.json are a fresh one's"
    platform = src / "cmake-build-release" / "CMakeFiles"
    assert not list(platform.glob("*/CompilerIdCXX")), "the compiler was not identified again"
    runs = list(Path(env["VLLM_BUILD_CONFIGURE_CACHE"]).glob("generator-runs/*.json"))
    kept = [
        json.loads(p.read_text()) for p in runs if not p.name.startswith(("sites-", "folders-"))
    ]
    script = src / "csrc" / "generated" / "generate_kernels.py"
    assert any(str(script) in run["reads"] for run in kept), "the generator's run was kept"
    ok("clean-build", "--source", str(src), env=env)  # the generator given again
    assert generated(src) == fresh
    reads = (src / ".vllm-build-tools" / "configure-reads.log").read_text()
    assert str(script) in reads, "the replay wrote the script's line in the reads log"


def test_a_changed_input_configures_afresh_and_a_tampered_record_is_dropped(
    bootstrapped: Path, env: dict[str, str]
) -> None:
    src = bootstrapped
    ok("clean-build", "--source", str(src), env=env)  # a record for this tree
    lists = src / "cmake" / "utils.cmake"
    original = lists.read_text()
    lists.write_text(original + "\n# an edit\n")
    try:
        out = ok("clean-build", "--source", str(src), env=env)
        assert "reused" not in configure_line(out), "a file configure read changed"
    finally:
        lists.write_text(original)
    out = ok("clean-build", "--source", str(src), env=env)
    assert "reused" in configure_line(out), "the edit undone: the first record fits again"
    fresh = generated(src)
    compiler = shutil.which("g++")
    assert compiler, "g++ on PATH"
    for path in records(env):  # a record that lies: another C++ compiler than a configure finds
        data = json.loads(path.read_text())
        data["files"] = {
            name: re.sub(
                r'set\(CMAKE_CXX_COMPILER "[^"]*"\)', f'set(CMAKE_CXX_COMPILER "{compiler}")', text
            )
            for name, text in data["files"].items()
        }
        path.write_text(json.dumps(data))
    out = ok("clean-build", "--source", str(src), env=env)
    assert "configuring afresh, and that record is dropped" in out, out
    assert generated(src) == fresh
    out = ok("clean-build", "--source", str(src), env=env)
    assert "compiler identification reused" in configure_line(out), "recorded anew, reused"


def test_a_second_worktree_of_the_same_tree_reuses_it(
    bootstrapped: Path, env: dict[str, str], tmp_path: Path
) -> None:
    ok("clean-build", "--source", str(bootstrapped), env=env)
    other = copy_example(tmp_path / "worktree two" / "minivllm")
    out = ok("bootstrap", "--source", str(other), env=env)
    assert "compiler identification reused" in configure_line(out), out
    python = cmake_python.interpreter_of(
        json.loads((other / "CMakeUserPresets.json").read_text())["configurePresets"][0][
            "cacheVariables"
        ]["VLLM_PYTHON_EXECUTABLE"]
    )
    assert python == other / ".venv" / "bin" / "python", "its own venv, not the first one's"


def test_configure_cache_none_writes_nothing(env: dict[str, str], tmp_path: Path) -> None:
    src = copy_example(tmp_path / "minivllm")
    off = {**env, "VLLM_BUILD_CONFIGURE_CACHE": "none"}
    ok("bootstrap", "--source", str(src), env=off)
    preset = json.loads((src / "CMakeUserPresets.json").read_text())["configurePresets"][0]
    assert preset["cacheVariables"]["VLLM_PYTHON_EXECUTABLE"] == str(
        src / ".venv" / "bin" / "python"
    )
    assert not (src / ".vllm-build-tools" / cmake_python.WRAPPER).exists()
