"""cmake/build_tree.py: one view of a build dir (its configure stamp, what every kind of install
manifest says was installed), where the preset says it is, and the one answer to "is this file
a shared library"."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from build_tools import drift
from build_tools.checkout import source_tree
from build_tools.checkout.view import Checkout
from build_tools.cmake.build_tree import (
    STAMP,
    BuildTree,
    ConfiguredFrom,
    ConfigureStamp,
    is_shared_library,
)
from build_tools.machine import venv_state
from build_tools.settings import Settings


@pytest.mark.parametrize(
    ("name", "shared"),
    [
        ("_C.abi3.so", True),
        ("_moe_C.cpython-312-x86_64-linux-gnu.so", True),
        ("libcudart.so.12", True),
        ("libx.so.1.2.3", True),
        ("libx.so.bak", False),
        ("x.sol", False),
        ("notes.so.txt", False),
        ("__init__.py", False),
    ],
)
def test_a_shared_library_is_told_by_its_name(name: str, shared: bool) -> None:
    assert is_shared_library(Path("/a/b") / name) is shared
    assert is_shared_library(name) is shared


def test_the_stamp_is_written_and_read_back_whole(tmp_path: Path) -> None:
    tree = BuildTree(tmp_path)
    assert tree.stamp() is None, "no stamp yet"
    preset = {"generator": "Ninja", "cacheVariables": {"B": "1", "A": "2"}}
    made = ConfiguredFrom.of(preset, Path("/usr/bin/cmake"), "8.0")
    assert made.cache_keys == ("A", "B") and made.generator == "Ninja"
    stamp = ConfigureStamp(made, (80, 90), {"files": {"CMakeLists.txt": [1, 2, 3, "x"]}})
    tree.write_stamp(stamp)
    assert tree.stamp() == stamp
    other = ConfiguredFrom.of({**preset, "generator": "Unix Makefiles"}, Path("/c"), "8.0")
    assert other != made, "another preset is another configure"


@pytest.mark.parametrize(
    "text",
    ['{"preset": "abc"}', '{"preset": 3, "cache_keys": "A", "compiled_archs": ["80"]}', "[1]", "{"],
)
def test_an_older_or_damaged_stamp_reads_as_far_as_it_goes(tmp_path: Path, text: str) -> None:
    (tmp_path / STAMP).write_text(text)
    found = BuildTree(tmp_path).stamp()
    if not text.startswith('{"'):
        assert found is None
        return
    assert found is not None
    assert found.made.preset == ("abc" if "abc" in text else None)
    assert found.made.cache_keys is None and found.made.archs is None
    assert found.compiled_archs is None and found.read == {}
    made = ConfiguredFrom.of({}, Path("/usr/bin/cmake"), "")
    assert found.made != made, "a stamp missing a field never matches a new configure"


def test_every_kind_of_manifest_says_what_was_installed(tmp_path: Path) -> None:
    build = BuildTree(tmp_path / "out")
    build.path.mkdir()
    lib, moe, fa = tmp_path / "pkg/_C.abi3.so", tmp_path / "pkg/_moe_C.abi3.so", tmp_path / "fa.so"
    (build.path / "install_manifest__C.txt").write_text(f"{lib}\n{tmp_path / 'pkg/x.py'}\n")
    (build.path / "install_local_manifest.txt").write_text(f"{fa}\n\n{lib}\n")
    assert build.installed_files() == [lib, tmp_path / "pkg/x.py", fa], "each file once"
    assert build.installed_libraries() == [lib, fa]
    own = build.installed_by("_C")
    assert own is not None and own.own and own.libraries == [lib]
    local = build.installed_by("_fa")
    assert local is not None and not local.own and local.libraries == [fa, lib]
    before = build.local_manifest_mtime()
    build.keep_local_manifest("_fa", before)
    assert not (build.path / "install_local_manifest__fa.txt").exists(), "nothing new installed"
    time.sleep(0.01)
    (build.path / "install_local_manifest.txt").write_text(f"{moe}\n")
    build.keep_local_manifest("_moe_C", before)
    kept = build.installed_by("_moe_C")
    assert kept is not None and kept.own and kept.libraries == [moe]
    assert build.installed_libraries() == [lib, moe], "the rewritten local manifest: moe alone"
    assert build.installed_since(0) and not build.installed_since(time.time() + 60)
    assert BuildTree(tmp_path / "none").installed_by("_C") is None


def test_the_build_dirs_are_the_presets_binary_dirs(example_copy: Path, tmp_path: Path) -> None:
    """A preset's binaryDir need not be cmake-build-*: a build installed from such a dir
    replaces precompiled kernels of another commit all the same."""
    presets = {
        "version": 6,
        "configurePresets": [
            {"name": "release", "binaryDir": "${sourceDir}/out/${presetName}"},
            {"name": "dev", "binaryDir": "${sourceDir}/elsewhere"},
            {"name": "hidden", "hidden": True, "binaryDir": "${sourceDir}/never"},
        ],
    }
    (example_copy / "CMakeUserPresets.json").write_text(json.dumps(presets))
    settings = Settings(source=example_copy)
    tree = source_tree.load(settings)
    view = Checkout(tree, "release", dict(os.environ))
    assert view.build_tree.path == example_copy / "out" / "release"
    assert [b.path for b in view.build_trees] == [
        example_copy / "out" / "release",
        example_copy / "elsewhere",
    ]
    git = example_copy / ".git"
    git.mkdir()
    (git / "HEAD").write_text("b" * 40 + "\n")
    stamp = drift.install_stamp(tree)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    venv_state.write_json(stamp, {"precompiled": True, "head": "a" * 40})
    os.utime(stamp, (time.time() - 60, time.time() - 60))
    assert drift.precompiled_kernels(tree, view.build_trees).state == "stale"
    (example_copy / "elsewhere").mkdir()
    (example_copy / "elsewhere" / "install_manifest__C.txt").write_text("/x/_C.abi3.so\n")
    assert drift.precompiled_kernels(tree, view.build_trees).state == "rebuilt"
