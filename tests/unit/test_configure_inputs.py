"""What a configure read, by content (cmake/configure_inputs.py and its hook): the scripts
configure runs and what they read are recorded by the hook, and a change to any is found."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from build_tools.cmake import configure_inputs
from build_tools.cmake.codemodel import CodeModel

GENERATOR = """\
import json, pathlib, helper
here = pathlib.Path(__file__).parent
scales = json.loads((here / "kernels.json").read_text())["scales"]
(here / "generated.cpp").write_text(str(scales) + helper.SUFFIX)
"""


def checkout(tmp_path: Path) -> tuple[Path, Path]:
    root, state = tmp_path / "src", tmp_path / "src" / ".vllm-build-tools"
    (root / "gen").mkdir(parents=True)
    (root / "gen" / "generate.py").write_text(GENERATOR)
    (root / "gen" / "helper.py").write_text("SUFFIX = '\\n'\n")
    (root / "gen" / "kernels.json").write_text('{"scales": [2]}\n')
    (root / "CMakeLists.txt").write_text("project(x)\n")
    return root, state


def run_configure(root: Path, state: Path, *commands: list[str]) -> None:
    """What a configure's execute_process calls do: run each with its environment."""
    env = {**os.environ, **configure_inputs.environment(state, root, os.environ, print)}
    for argv in commands:
        subprocess.run([sys.executable, *argv], env=env, check=True, cwd=root)


def test_a_generator_and_what_it_reads_are_recorded_and_a_change_is_found(
    tmp_path: Path,
) -> None:
    root, state = checkout(tmp_path)
    probe = ["-c", "print('a python -c probe of cmake: not recorded')"]
    run_configure(root, state, [str(root / "gen" / "generate.py")], probe)
    model = CodeModel({}, (), cmake_inputs=("CMakeLists.txt",))
    build = root / "cmake-build-release"
    read = configure_inputs.record(state, root, model, build)
    assert read["scripts"] == {
        "gen/generate.py": ["gen/generate.py", "gen/helper.py", "gen/kernels.json"]
    }, read["scripts"]
    assert set(read["files"]) == {"CMakeLists.txt", "gen/generate.py", "gen/helper.py",
                                  "gen/kernels.json"}  # fmt: skip
    assert configure_inputs.changed(root, read) == []
    (root / "gen" / "generated.cpp").write_text("written, never read: not an input\n")
    time.sleep(0.02)
    before = (root / "gen" / "kernels.json").stat()
    (root / "gen" / "kernels.json").write_text('{"scales": [3]}\n')  # same size
    os.utime(root / "gen" / "kernels.json", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert configure_inputs.changed(root, read) == ["gen/kernels.json"]
    said = configure_inputs.said(["gen/kernels.json"], read)
    assert "configure runs gen/generate.py, which reads it" in said, said
    # The next configure skips the generator (unchanged, as vLLM's hash check does): kept.
    (state / configure_inputs.READS).write_text("")
    again = configure_inputs.record(state, root, model, build)
    assert again["scripts"] == read["scripts"]


def test_an_existing_sitecustomize_still_runs(tmp_path: Path) -> None:
    root, state = checkout(tmp_path)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import os\nos.environ['THEIRS_RAN'] = '1'\n")
    env = {**os.environ, "PYTHONPATH": str(theirs)}
    env.update(configure_inputs.environment(state, root, env, print))
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ.get('THEIRS_RAN'))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "1", done.stderr
