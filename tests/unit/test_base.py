"""The precompiled base's record of the tree (checkout/base.py): content, never clocks."""

from __future__ import annotations

import os
import time
from pathlib import Path

from packaging.specifiers import SpecifierSet

from build_tools.checkout import base
from build_tools.checkout.source_tree import SourceTree


def _tree(root: Path) -> SourceTree:
    return SourceTree(root, "vllm", "vllm", (3, 26, 0), root / ".venv", "cuda", SpecifierSet())


def test_an_edit_that_keeps_size_and_mtime_is_a_change(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    source = tmp_path / "csrc" / "a.cu"
    source.parent.mkdir()
    source.write_text("int a = 1;\n")
    recorded = base.Base("the wheel", "", None, None, {}, base.snapshot(tree))
    assert recorded.changed(tree) == []
    before = source.stat()
    time.sleep(0.03)
    source.write_text("int a = 2;\n")  # same size
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the old mtime
    assert recorded.changed(tree) == ["csrc/a.cu"]


def test_a_record_without_ctimes_reads_every_file_again(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    (tmp_path / "a.h").write_text("x\n")
    size, mtime, sha, _ = base.snapshot(tree)["a.h"]
    old = base.as_stamp([size, mtime, "not the sha256 of the file"])
    assert old[3] == -1
    recorded = base.Base("the wheel", "", None, None, {}, {"a.h": old})
    assert recorded.changed(tree) == ["a.h"], "an old stamp was trusted by size and mtime"
    assert base.as_stamp([size, mtime, sha])[:3] == (size, mtime, sha)
