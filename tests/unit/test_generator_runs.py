"""A configure-time generator's run given again without running it (cmake/generator_runs.py,
through the interpreter script our presets give CMake): only where a run was seen to leave every
folder it touched as it found it and what it read, listed and touched is as it was; never a
failure, a run into a new folder or a shell; its line in the configure's reads log replayed."""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

import pytest

from build_tools.cmake import cmake_python

# Writes out/kernel_<n>.cu for each n in list.json (removing the old ones with `rm -f`, as
# vLLM's Marlin generator does), then prints a clock: a replay prints the kept clock again.
GENERATOR = """
import glob, json, os, subprocess, sys, time
here = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "out")
os.makedirs(out, exist_ok=True)
for old in glob.glob(os.path.join(out, "kernel_*.cu")):
    subprocess.call(["rm", "-f", old])
for n in json.load(open(os.path.join(here, "list.json"))):
    with open(os.path.join(out, f"kernel_{n}.cu"), "w") as handle:
        handle.write(f"// kernel {n}\\n")
print("ran", time.time_ns())
"""


@pytest.fixture
def python(tmp_path: Path) -> Path:
    env = tmp_path / "venv dir"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env)
    return env / "bin" / "python"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "check out"
    (root / "gen").mkdir(parents=True)
    (root / "gen" / "generate.py").write_text(GENERATOR)
    (root / "gen" / "list.json").write_text("[1, 2]")
    return root


def runner(tmp_path: Path, python: Path):  # type: ignore[no-untyped-def]
    wrapper = cmake_python.install_python(tmp_path / "state dir", python, tmp_path / "cache")
    log = tmp_path / "reads.log"

    def run(*args: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "VLLM_BUILD_TOOLS_READS": str(log)}
        return subprocess.run(
            [str(wrapper), *args], capture_output=True, text=True, cwd=cwd, env=env, check=False
        )

    return run


def test_a_run_that_changed_nothing_is_given_again(
    tmp_path: Path, python: Path, checkout: Path
) -> None:
    run = runner(tmp_path, python)
    script = str(checkout / "gen" / "generate.py")
    first, second, third = (run(script) for _ in range(3))
    assert first.returncode == second.returncode == third.returncode == 0, first.stderr
    assert first.stdout != second.stdout, "the first run wrote new files: not kept"
    assert third.stdout == second.stdout, "the second changed nothing: given again"
    assert sorted(p.name for p in (checkout / "gen" / "out").iterdir()) == [
        "kernel_1.cu",
        "kernel_2.cu",
    ]


def test_the_recorders_own_files_in_the_temp_dir_are_no_folder_the_run_touched(
    tmp_path: Path, python: Path, checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report and the reads log's line lie in the temp dir: were they counted as the run's
    writes, every other program's file there would make the run unreplayable (on vLLM 0.34.0
    both Marlin generators ran in every configure, 5.5 s of 8.5 s)."""
    temp = tmp_path / "temp dir"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    run = runner(tmp_path, python)
    script = str(checkout / "gen" / "generate.py")
    run(script)
    kept = run(script).stdout
    (temp / "another program's file").write_text("")
    assert run(script).stdout == kept, "given again whatever else the temp dir holds"
    (checkout / "gen" / "out" / "stray.cu").write_text("")
    assert run(script).stdout != kept, "a folder it writes still counts"


def test_a_run_that_removes_its_output_tree_first_is_kept_one_that_lists_by_descriptor_not(
    tmp_path: Path, python: Path, checkout: Path
) -> None:
    """Machete's generator removes its output folder (shutil.rmtree, which lists it by
    descriptor) and writes it again: kept and given again (its report once failed to be
    written, so it ran in every configure). A folder listed by descriptor otherwise: which
    folder is not known, so never kept."""
    run = runner(tmp_path, python)
    gen = checkout / "gen"
    (gen / "tree.py").write_text(
        "import os, shutil, time\n"
        "out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'generated')\n"
        "if os.path.isdir(out):\n    shutil.rmtree(out)\n"
        "os.makedirs(out)\n"
        "open(os.path.join(out, 'k.cu'), 'w').write('// k\\n')\n"
        "print(time.time_ns())\n"
    )
    outs = [run(str(gen / "tree.py")) for _ in range(3)]
    assert all(o.returncode == 0 and not o.stderr for o in outs), outs[-1].stderr
    assert outs[2].stdout == outs[1].stdout, "the second left its folders as it found them"
    (gen / "by_fd.py").write_text(
        "import os, time\n"
        "fd = os.open(os.path.dirname(os.path.abspath(__file__)), os.O_RDONLY)\n"
        "print(len(list(os.scandir(fd))), time.time_ns())\n"
    )
    assert len({run(str(gen / "by_fd.py")).stdout for _ in range(3)}) == 3


def test_an_input_edit_or_a_changed_output_runs_it_again(
    tmp_path: Path, python: Path, checkout: Path
) -> None:
    run = runner(tmp_path, python)
    script = str(checkout / "gen" / "generate.py")
    run(script)
    kept = run(script).stdout
    assert run(script).stdout == kept
    (checkout / "gen" / "list.json").write_text("[1, 2, 3]")  # what it reads
    after_edit = run(script)
    assert after_edit.stdout != kept and (checkout / "gen" / "out" / "kernel_3.cu").is_file()
    kept = run(script).stdout
    (checkout / "gen" / "out" / "kernel_2.cu").write_text("// edited by hand\n")  # its output
    assert run(script).stdout != kept
    assert (checkout / "gen" / "out" / "kernel_2.cu").read_text() == "// kernel 2\n"
    kept = run(script).stdout
    (checkout / "gen" / "out" / "stray.cu").write_text("")  # a new file where it writes
    assert run(script).stdout != kept
    kept = run(script).stdout
    assert run(script, "--other").stdout != kept, "other arguments: another key"


def test_a_run_into_a_new_folder_a_failure_or_a_shell_is_never_kept(
    tmp_path: Path, python: Path, checkout: Path
) -> None:
    run = runner(tmp_path, python)
    script = str(checkout / "gen" / "generate.py")
    outs = [run(script, str(tmp_path / f"build {n}" / "gen")).stdout for n in range(3)]
    assert len(set(outs)) == 3, "a new build dir's folder is new every time"
    failing = checkout / "gen" / "fail.py"
    failing.write_text("import sys, time; print(time.time_ns()); sys.exit(3)")
    fails = [run(str(failing)) for _ in range(3)]
    assert {f.returncode for f in fails} == {3}
    assert len({f.stdout for f in fails}) == 3
    shell = checkout / "gen" / "shell.py"
    shell.write_text(
        "import subprocess, time\nsubprocess.call('true', shell=True)\nprint(time.time_ns())"
    )
    assert len({run(str(shell)).stdout for _ in range(3)}) == 3


def test_a_replay_writes_the_scripts_line_in_the_reads_log(
    tmp_path: Path, python: Path, checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from build_tools.cmake import configure_hook

    run = runner(tmp_path, python)
    hook_dir = tmp_path / "state dir" / "configure-hook"
    hook_dir.mkdir(parents=True)
    (hook_dir / "sitecustomize.py").write_text(Path(configure_hook.__file__).read_text())
    monkeypatch.setenv("PYTHONPATH", str(hook_dir))
    monkeypatch.setenv(configure_hook.ROOT, str(checkout))
    script = str(checkout / "gen" / "generate.py")
    outs = [run(script).stdout for _ in range(3)]
    assert outs[2] == outs[1], "given again"
    lines = [json.loads(line) for line in (tmp_path / "reads.log").read_text().splitlines()]
    assert len(lines) == 3 and all(line["script"] == script for line in lines)
    assert str(checkout / "gen" / "list.json") in lines[2]["reads"]
    assert lines[2] == lines[1]


def test_anything_else_still_runs_the_interpreter(tmp_path: Path, python: Path) -> None:
    run = runner(tmp_path, python)
    done = run("-c", "import sys; print(sys.prefix)")
    assert done.stdout.strip() == str(python.parent.parent)
    (tmp_path / "not python.txt").write_text("")
    assert run("-I", "-c", "print(7)").stdout.strip() == "7"
