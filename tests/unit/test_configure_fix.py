"""The fix a failed configure gets matches what CMake said."""

from __future__ import annotations

from build_tools.steps import configure


def test_a_build_dir_made_from_another_source_tree_is_said_to_be_deleted_by_hand() -> None:
    said = [
        'CMake Error: The source "/tmp/copy/CMakeLists.txt" does not match the source '
        '"/work/main/examples/minivllm/CMakeLists.txt" used to generate cache.  Re-run cmake '
        "with a different source directory.",
    ]
    fix = configure._fix(said)
    assert "another source tree" in fix and "delete it yourself" in fix


def test_any_other_cmake_error_gets_the_read_the_error_fix() -> None:
    said = ["CMake Error at CMakeLists.txt:12 (find_package):", "  Could not find Torch"]
    assert configure._fix(said) == configure.FIX
