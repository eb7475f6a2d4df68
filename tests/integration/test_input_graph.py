"""issue 24, items 2 and 4, on the example over its release wheel: inputs that are not compile
units. A custom target a script builds (`_extra_C`, like vLLM's `_deep_gemm_C`) is built when
an input of its command changes; a configure-time generator (like vLLM's Marlin
generate_kernels.py) configures again when it or what it reads changes, said; a CMake edit on
a configured, never built tree forecasts units; the local-only install's manifest is read."""

from __future__ import annotations

import hashlib
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.helpers import copy_example
from tests.integration.tools import compiled_since, object_times, ok

BUILD = "cmake-build-release"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wheel_sha(wheel: Path, member: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return hashlib.sha256(archive.read(member)).hexdigest()


@pytest.fixture
def copy(tmp_path: Path, example_wheel: Path, env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    src = copy_example(tmp_path / "my src" / "minivllm")
    with_wheel = {**env, "VLLM_PRECOMPILED_WHEEL_LOCATION": str(example_wheel)}
    out = ok("bootstrap", "--source", str(src), env=with_wheel)
    assert "nothing differs from the precompiled kernels" in out, out
    return src, with_wheel


def answer(src: Path) -> str:
    done = subprocess.run(
        [
            src / ".venv" / "bin" / "python",
            "-c",
            "import minivllm._extra_C as m; print(m.answer())",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=src,
    )
    return done.stdout.strip()


def test_an_input_of_a_custom_command_builds_its_target_over_the_wheel(
    copy: tuple[Path, dict[str, str]], example_wheel: Path
) -> None:
    src, env = copy
    script = src / "tools" / "build_extra_C.py"
    script.write_text(script.read_text() + "\n# an edit of the script alone\n")
    plan = ok("build", "--source", str(src), "--plan", env=env)
    assert "tools/build_extra_C.py changed, an input of _extra_C's custom command" in plan, plan
    assert "_extra_C: 1 custom command(s) run" in plan, plan
    header = src / "csrc" / "extra" / "extra.h"
    header.write_text(header.read_text().replace("return 42;", "return 43;"))
    before = object_times(src / BUILD)
    out = ok("build", "--source", str(src), env=env)
    assert "Building _extra_C (abi3) with tools/build_extra_C.py" in out, out
    assert compiled_since(src / BUILD, before) == [], "a compile unit was built"
    assert answer(src) == "43", "the installed _extra_C lacks the header's edit"
    for lib in ("minivllm/_C.abi3.so", "minivllm/_moe_C.abi3.so"):
        assert sha(src / lib) == wheel_sha(example_wheel, lib), f"{lib} is no longer the wheel's"
    again = ok("build", "--source", str(src), env=env)
    assert "_extra_C: up to date" in again, again
    doctor = ok("doctor", "--source", str(src), env=env)
    assert re.search(r"_extra_C\.abi3\.so: built here", doctor), doctor
    assert "1 .so file(s) match" in doctor, doctor


def test_a_configure_time_generator_edit_configures_again_and_builds_what_it_writes(
    copy: tuple[Path, dict[str, str]], example_wheel: Path
) -> None:
    src, env = copy
    generated = src / "csrc" / "generated" / "generated_kernels.cpp"
    first = generated.read_text()
    listing = src / "csrc" / "generated" / "kernels.json"
    listing.write_text('{"scales": [2, 3, 4, 5]}\n')  # read by the script, unknown to CMake
    out = ok("build", "--source", str(src), env=env)
    said = "csrc/generated/kernels.json changed since the last configure (configure runs "
    assert said in out and "csrc/generated/generate_kernels.py, which reads it" in out, out
    assert "minivllm_generated_scale_5" in generated.read_text() != first
    assert "_C: " in out and "csrc/generated/generated_kernels.cpp changed" in out, out
    lib = "minivllm/_C.abi3.so"
    assert sha(src / lib) != wheel_sha(example_wheel, lib), "_C was not built from it"
    script = src / "csrc" / "generated" / "generate_kernels.py"
    script.write_text(script.read_text().replace("x * {k}.0", "x * {k}.0 * 1.0"))
    out = ok("build", "--source", str(src), env=env)
    assert "csrc/generated/generate_kernels.py changed since the last configure" in out, out
    again = ok("build", "--source", str(src), env=env)
    assert "configure skipped" in again and "changed since the last configure" not in again


def test_a_cmake_edit_on_a_tree_never_built_forecasts_its_units(
    copy: tuple[Path, dict[str, str]],
) -> None:
    src, env = copy
    cmake = src / "CMakeLists.txt"
    cmake.write_text(cmake.read_text() + "\n# an edit\n")
    plan = ok("build", "--source", str(src), "--plan", env=env)
    assert "CMake files changed since the precompiled base (CMakeLists.txt)" in plan, plan
    units = {t: int(n) for t, n in re.findall(r"(_C|_moe_C): (?:about )?(\d+) units?", plan)}
    assert units.get("_C", 0) > 0 and units.get("_moe_C", 0) > 0, plan
    assert compiled_since(src / BUILD, {}) == [], "--plan compiled something"
