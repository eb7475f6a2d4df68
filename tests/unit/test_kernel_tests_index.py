"""The warm index of `test --list`: Python and C++ files parsed once and kept in the state
dir, reused for unchanged (or merely touched) files, parsed again when edited; the same
selection with and without it; and which target lists which source before a configure."""

from __future__ import annotations

import os
from pathlib import Path

from build_tools import kernel_tests as kt
from build_tools.checkout.source_tree import cmake_files
from build_tools.cmake.listed_sources import listed_sources
from build_tools.kernel_tests.cpp_definitions import CppFiles
from build_tools.kernel_tests.python_cache import PythonFacts
from build_tools.settings import EXAMPLE_SOURCE
from tests.helpers import copy_example
from tests.unit.test_kernel_tests_example import example_sources


def test_the_cmake_files_list_each_source_of_the_example_for_its_target() -> None:
    found = listed_sources(EXAMPLE_SOURCE, cmake_files(EXAMPLE_SOURCE))
    assert found == {source: [target] for source, target in example_sources().items()}


def test_python_files_are_parsed_once_then_kept(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "src")
    state = tmp_path / "state"
    first = PythonFacts(root, state)
    first.prefill(["tests", "minivllm"], None)
    first.save()
    assert first.cache.parsed > 5
    again = PythonFacts(root, state)
    again.prefill(["tests", "minivllm"], None)
    assert again.cache.parsed == 0
    ops = root / "minivllm" / "ops.py"
    os.utime(ops, ns=(1, 1))  # touched: same content, another mtime
    touched = PythonFacts(root, state)
    touched.prefill(["tests", "minivllm"], None)
    assert touched.cache.parsed == 0
    ops.write_text(ops.read_text() + "\ndef added():\n    return 1\n")
    edited = PythonFacts(root, state)
    edited.prefill(["tests", "minivllm"], None)
    assert edited.cache.parsed == 1
    module = edited.get("minivllm/ops.py")
    assert module is not None and "added" in module.names


def test_cpp_files_are_kept_and_an_edit_parsed_again(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "src")
    state = tmp_path / "state"
    files = CppFiles(root, state)
    assert files.get("csrc/moe/topk_softmax.cpp") is not None and files.cache.parsed == 1
    files.save()
    kept = CppFiles(root, state)
    assert kept.get("csrc/moe/topk_softmax.cpp") is not None and kept.cache.parsed == 0


def test_the_same_selection_with_and_without_the_index(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "src")
    sources = {s: [t] for s, t in example_sources().items()}
    changed = ["csrc/moe/topk_softmax_kernels.cu", "csrc/layernorm.cpp"]
    plain = kt.select_tests(root, changed, sources)
    cold = kt.select_tests(root, changed, sources, state_dir=tmp_path / "state")
    warm = kt.select_tests(root, changed, sources, state_dir=tmp_path / "state")
    assert plain == cold == warm and plain.tests
