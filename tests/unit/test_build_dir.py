from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from build_tools.cmake.build_dir import check_deletable
from build_tools.errors import BuildToolsError


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "csrc").mkdir(parents=True)
    (root / "csrc" / "a.cpp").write_text("int a;\n")
    return root


def build_dir(path: Path, source: Path | None = None, cache_dir: Path | None = None) -> Path:
    """A directory with the CMakeCache.txt cmake writes when it configures `source` into it."""
    path.mkdir(parents=True, exist_ok=True)
    home = source or path.parent
    (path / "CMakeCache.txt").write_text(
        "# This is the CMakeCache file.\n"
        f"CMAKE_CACHEFILE_DIR:INTERNAL={cache_dir or path}\n"
        f"CMAKE_HOME_DIRECTORY:INTERNAL={home}\n"
    )
    (path / "build.ninja").write_text("")
    return path


def test_a_build_dir_inside_the_tree_may_go(src: Path, tmp_path: Path) -> None:
    check_deletable(build_dir(src / "cmake-build-release", src), src, tmp_path / "home")
    check_deletable(src / "cmake-build-debug", src, tmp_path / "home")  # absent: fine


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda src, tmp: src, "source tree, / or your home"),
        (lambda src, tmp: Path("/"), "source tree, / or your home"),
        (lambda src, tmp: tmp / "home", "source tree, / or your home"),
        (lambda src, tmp: build_dir(tmp / "elsewhere"), "outside the source tree"),
        (lambda src, tmp: src / "csrc", "not a build directory"),
        (lambda src, tmp: src / "csrc" / "..", "source tree"),
    ],
)
def test_unsafe_directories_are_refused(
    src: Path, tmp_path: Path, make: Callable[[Path, Path], Path], message: str
) -> None:
    (tmp_path / "home").mkdir(exist_ok=True)
    target = make(src, tmp_path)
    with pytest.raises(BuildToolsError, match=message):
        check_deletable(target, src, tmp_path / "home")
    assert (src / "csrc" / "a.cpp").exists()


def test_symlink_pointing_elsewhere_is_refused(src: Path, tmp_path: Path) -> None:
    outside = build_dir(tmp_path / "precious")
    link = src / "cmake-build-release"
    link.symlink_to(outside)
    with pytest.raises(BuildToolsError, match="is a symlink"):
        check_deletable(link, src, tmp_path / "home")
    assert (outside / "CMakeCache.txt").exists()


def test_a_stray_cache_in_a_source_folder_does_not_make_it_a_build_dir(
    src: Path, tmp_path: Path
) -> None:
    """issue 17: a preset pointing binaryDir at csrc/ plus a touched CMakeCache.txt."""
    (src / "csrc" / "CMakeCache.txt").write_text("")
    with pytest.raises(BuildToolsError, match="not one cmake wrote"):
        check_deletable(src / "csrc", src, tmp_path / "home")
    assert (src / "csrc" / "a.cpp").read_text() == "int a;\n", "the source must survive"


@pytest.mark.parametrize(
    ("home", "written_for", "message"),
    [
        ("other", None, "build directory of another source tree"),
        (None, "moved", "was written for"),
    ],
)
def test_a_cache_naming_another_tree_or_dir_is_refused(
    src: Path, tmp_path: Path, home: str | None, written_for: str | None, message: str
) -> None:
    directory = build_dir(
        src / "cmake-build-x",
        source=tmp_path / home if home else src,
        cache_dir=tmp_path / written_for if written_for else None,
    )
    with pytest.raises(BuildToolsError, match=message):
        check_deletable(directory, src, tmp_path / "home")


def _git(root: Path) -> Callable[[Sequence[str]], tuple[int, str]]:
    def run(args: Sequence[str]) -> tuple[int, str]:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return done.returncode, done.stdout

    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return run


def test_a_build_dir_holding_what_git_tracks_or_untracked_sources_is_refused(
    src: Path, tmp_path: Path
) -> None:
    git = _git(src)
    directory = build_dir(src / "out", source=src)
    check_deletable(directory, src, tmp_path / "home", git)  # build files only: fine
    (directory / "notes.cu").write_text("// my work\n")
    with pytest.raises(BuildToolsError, match="source files git does not track"):
        check_deletable(directory, src, tmp_path / "home", git)
    subprocess.run(["git", "-C", str(src), "add", "out/notes.cu"], check=True)
    with pytest.raises(BuildToolsError, match="git tracks files in it"):
        check_deletable(directory, src, tmp_path / "home", git)
    (src / ".gitignore").write_text("out/\n")
    subprocess.run(["git", "-C", str(src), "rm", "-q", "--cached", "out/notes.cu"], check=True)
    check_deletable(directory, src, tmp_path / "home", git)  # ignored by git: a build dir
