from __future__ import annotations

from collections.abc import Callable
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


def build_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "CMakeCache.txt").write_text("# cache\n")
    return path


def test_a_build_dir_inside_the_tree_may_go(src: Path, tmp_path: Path) -> None:
    check_deletable(build_dir(src / "cmake-build-release"), src, tmp_path / "home")
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
