"""Configure's reusable answers (build_tools/cmake/configure_cache.py, python_answers.py): the
interpreter script answers `-c EXPR` from the cache only when the interpreter, the expression,
the installed distributions and the environment are what they were, never for an expression
that read a checkout's sources, never a failure; anything else runs the real interpreter; the
compiler identification is found only for the same inputs."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from build_tools.cmake import cmake_python, compiler_id, configure_cache

# Counts its runs in the file $MARK, then answers.
COUNTED = "import os; open(os.environ['MARK'], 'a').write('x'); print('answer', 42)"


@pytest.fixture
def python(tmp_path: Path) -> Path:
    """A venv of our interpreter (no pip: quick) with one fake distribution installed."""
    env = tmp_path / "venv dir"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env)
    site = next(env.glob("lib/python3*/site-packages"))
    dist = site / "fake-1.0.dist-info"
    dist.mkdir()
    (dist / "RECORD").write_text("fake/__init__.py,sha256=abc,1\n")
    return env / "bin" / "python"


def wrapper(tmp_path: Path, python: Path) -> Path:
    return cmake_python.install_python(tmp_path / "state dir", python, tmp_path / "cache")


def ask(script: Path, expr: str, cwd: Path, mark: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MARK": str(mark)}
    return subprocess.run(
        [str(script), "-c", expr], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_an_answer_is_given_again_without_running_python(tmp_path: Path, python: Path) -> None:
    script, mark, cwd = wrapper(tmp_path, python), tmp_path / "runs", tmp_path / "cwd"
    cwd.mkdir()
    first = ask(script, COUNTED, cwd, mark)
    second = ask(script, COUNTED, cwd, mark)
    assert first.returncode == second.returncode == 0, first.stderr
    assert first.stdout == second.stdout == "answer 42\n"
    assert mark.read_text() == "x", "the second answer came from the cache"
    assert cmake_python.interpreter_of(str(script)) == python


def test_what_is_installed_the_environment_and_the_interpreter_are_the_key(
    tmp_path: Path, python: Path
) -> None:
    script, mark, cwd = wrapper(tmp_path, python), tmp_path / "runs", tmp_path / "cwd"
    cwd.mkdir()
    ask(script, COUNTED, cwd, mark)
    assert mark.read_text() == "x"
    ask(script, COUNTED, cwd, mark)
    assert mark.read_text() == "x"
    record = next(python.parent.parent.glob("lib/python3*/site-packages/fake-1.0.dist-info"))
    (record / "RECORD").write_text("fake/__init__.py,sha256=def,1\n")  # reinstalled, other files
    ask(script, COUNTED, cwd, mark)
    assert mark.read_text() == "xx", "a distribution installed anew asks again"
    env = {**os.environ, "MARK": str(mark), "TORCH_CUDA_ARCH_LIST": "9.0"}
    subprocess.run([str(script), "-c", COUNTED], cwd=cwd, env=env, check=True)
    assert mark.read_text() == "xxx", "another environment asks again"
    env["CCACHE_DIR"] = str(tmp_path / "elsewhere")  # where a compiler cache keeps objects
    subprocess.run([str(script), "-c", COUNTED], cwd=cwd, env=env, check=True)
    assert mark.read_text() == "xxx", "not part of the key"


def test_an_expression_that_read_a_checkouts_sources_is_asked_every_time(
    tmp_path: Path, python: Path
) -> None:
    script, mark = wrapper(tmp_path, python), tmp_path / "runs"
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "mine.py").write_text("VALUE = 1\n")
    expr = "import mine; " + COUNTED.replace("42", "mine.VALUE")
    assert ask(script, expr, checkout, mark).stdout == "answer 1\n"
    # Same names in the directory: same key. Another size: Python's own bytecode cache
    # (mtime to the second and size) would otherwise answer the old value within a second.
    (checkout / "mine.py").write_text("VALUE = 22\n")
    assert ask(script, expr, checkout, mark).stdout == "answer 22\n"
    assert mark.read_text() == "xx"


def test_a_failure_is_never_kept_and_says_what_python_says(tmp_path: Path, python: Path) -> None:
    script, mark = wrapper(tmp_path, python), tmp_path / "runs"
    expr = COUNTED + "; raise SystemExit('no torch here')"
    plain = subprocess.run(
        [str(python), "-c", expr], cwd=tmp_path, env={**os.environ, "MARK": str(mark)},
        capture_output=True, text=True,
    )  # fmt: skip
    first, second = ask(script, expr, tmp_path, mark), ask(script, expr, tmp_path, mark)
    assert first.returncode == second.returncode == plain.returncode == 1
    assert first.stderr == plain.stderr == "no torch here\n"
    assert mark.read_text() == "xxxxx", "the plain run, then each failure run again (twice)"


def test_anything_but_c_expr_runs_the_interpreter_unchanged(tmp_path: Path, python: Path) -> None:
    script = wrapper(tmp_path, python)
    program = tmp_path / "prog with space.py"
    program.write_text("import sys; print(sys.executable, sys.argv[1:])\n")
    done = subprocess.run(
        [str(script), str(program), "a b", "-c"], capture_output=True, text=True, check=True
    )
    assert done.stdout == f"{python} ['a b', '-c']\n"
    version = subprocess.run([str(script), "-c", "1", "x"], capture_output=True, text=True)
    assert version.returncode == 0, "three arguments: the real interpreter, unchanged"


def test_the_script_is_written_again_only_when_it_changes(tmp_path: Path, python: Path) -> None:
    script = wrapper(tmp_path, python)
    before = script.stat().st_mtime_ns
    assert wrapper(tmp_path, python) == script and script.stat().st_mtime_ns == before
    other = tmp_path / "it's another"
    other.symlink_to(python)
    cmake_python.install_python(tmp_path / "state dir", other, tmp_path / "cache")
    assert cmake_python.interpreter_of(str(script)) == other, "quotes in the path survive"
    assert cmake_python.interpreter_of(sys.executable) == Path(sys.executable), "not ours"


def test_a_record_is_found_only_while_every_input_is_what_it_was(tmp_path: Path) -> None:
    source, build = tmp_path / "src", tmp_path / "src" / "cmake-build-release"
    (build / "CMakeFiles" / "4.4.5").mkdir(parents=True)
    (source / "CMakeLists.txt").write_text("project(x)\n")
    outside = tmp_path / "torch" / "TorchConfig.cmake"
    outside.parent.mkdir()
    outside.write_text("# torch\n")
    compiler = tmp_path / "bin" / "c++"
    compiler.parent.mkdir()
    compiler.write_text("#!/bin/sh\n")
    (build / "CMakeFiles" / "4.4.5" / "CMakeCXXCompiler.cmake").write_text(
        f'set(CMAKE_CXX_COMPILER "{compiler}")\n'
    )
    (build / "CMakeCache.txt").write_text(
        "//doc\nCMAKE_CXX_COMPILER:FILEPATH=/usr/bin/c++\nOTHER:STRING=1\n"
        "CMAKE_PLATFORM_INFO_INITIALIZED:INTERNAL=1\n"
    )
    where = configure_cache.Where(source, build, "context")
    root = tmp_path / "cache"
    inputs = ["CMakeLists.txt", str(outside), str(build / "generated.cmake")]
    path = compiler_id.record(root, where, inputs)
    assert path is not None
    found = compiler_id.find(root, where)
    assert found is not None and set(found.data["read"]) == {"src:CMakeLists.txt", str(outside)}
    assert str(compiler) in found.data["tools"]
    other = configure_cache.Where(source, tmp_path / "new build", "context")
    compiler_id.seed(found, other)
    seeded = (other.build / "CMakeCache.txt").read_text()
    assert "CMAKE_CXX_COMPILER:FILEPATH" in seeded and "OTHER" not in seeded
    assert "CMAKE_PLATFORM_INFO_INITIALIZED:INTERNAL=1" in seeded
    for changed, undo in (
        (outside, "# torch\n"),
        (source / "CMakeLists.txt", "project(x)\n"),
        (compiler, "#!/bin/sh\n"),
    ):
        changed.write_text(undo + "# edited\n")
        assert compiler_id.find(root, where) is None, f"{changed} changed"
        changed.write_text(undo)
        assert compiler_id.find(root, where) is not None
    assert compiler_id.find(root, configure_cache.Where(source, build, "other")) is None
    worktree = tmp_path / "worktree"
    worktree.mkdir()
    (worktree / "CMakeLists.txt").write_text("project(x)\n")
    again = configure_cache.Where(worktree, worktree / "b", "context")
    assert compiler_id.find(root, again) is not None, "a second worktree of the same tree"


def test_what_counts_as_installed_or_the_interpreters_own(tmp_path: Path) -> None:
    from build_tools.cmake.python_answers import own_library

    site, library, etc, checkout = (tmp_path / n for n in ("site", "lib", "etc", "checkout"))
    for folder in (site, library, etc, checkout):
        folder.mkdir()
    (etc / "sitecustomize.py").write_text("")
    (library / "sitecustomize.py").symlink_to(etc / "sitecustomize.py")  # as Debian has it
    (checkout / "mine.py").write_text("")
    (site / "mine.py").symlink_to(checkout / "mine.py")  # a checkout linked into site-packages
    (site / "torch.py").write_text("")
    assert own_library(str(site / "torch.py"), [str(site)], [str(library)])
    assert own_library(str(library / "sitecustomize.py"), [str(site)], [str(library)])
    assert not own_library(str(site / "mine.py"), [str(site)], [str(library)])
    assert not own_library(str(checkout / "mine.py"), [str(site)], [str(library)])
    assert own_library("", [str(site)], [str(library)]), "built in"


def test_what_the_key_leaves_out(tmp_path: Path) -> None:
    from build_tools.cmake.python_answers import environment, importable, own_library

    assert own_library("_ops.py", [], []), "torch's modules made in memory read nothing"
    (tmp_path / "notes.bak").write_text("")
    (tmp_path / ".deps").mkdir()
    (tmp_path / "mine.py").write_text("")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    assert importable(str(tmp_path)) == ["mine.py", "pkg"], "only what an import could find"
    env = {"LC_ALL": "", "LC_MESSAGES": "", "LANG": "C.UTF-8", "LC_CTYPE": "C", "TERM": "x"}
    assert environment(env) == {"LANG": "C.UTF-8", "LC_CTYPE": "C"}, (
        "a locale variable set empty means unset (CMake leaves them so)"
    )
