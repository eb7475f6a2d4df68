"""Each failure kind gets the fix for THAT failure, never "fix the compile error" for all."""

from __future__ import annotations

import pytest

from build_tools import errors as failures
from build_tools.errors import (
    BUILD_FILES,
    CACHE,
    COMPILE,
    DISK_FULL,
    DIST_AUTH,
    MISSING_INPUT,
    OTHER,
    OTHER_SOURCE,
    OUT_OF_MEMORY,
    READ_ONLY,
    SCCACHE,
)

CASES = {
    "compile": (["FAILED: CMakeFiles/_C.dir/csrc/a.cpp.o", "a.cpp:3:1: error: x"], COMPILE),
    "ccache, read-only dir": (
        ["ccache: error: Failed to create temporary file for /c/tmp/x: Read-only file system"],
        CACHE,
    ),
    "sccache down": (["sccache: error: failed to execute compile", "FAILED: a.o"], SCCACHE),
    "a custom command's input deleted": (
        [
            "ninja: error: '/s/csrc/extra/extra.h', needed by 'extra_C/.built', missing and no "
            "known rule to make it"
        ],
        MISSING_INPUT,
    ),
    "sccache dir": (
        ["sccache: error: failed to create directory `/c/sccache/preprocessor`: Permission denied"],
        SCCACHE,
    ),
    "rules.ninja gone": (
        ["ninja: error: loading 'CMakeFiles/rules.ninja': No such file or directory"],
        BUILD_FILES,
    ),
    "build.ninja corrupt": (
        ["ninja: error: build.ninja:1: expected '=', got identifier"],
        BUILD_FILES,
    ),
    "disk full beats compile": (
        ["FAILED: a.o", "a.cpp: fatal error: error writing to /tmp/x: No space left on device"],
        DISK_FULL,
    ),
    "a build dir copied from another tree": (
        [
            'CMake Error: The source "/c/CMakeLists.txt" does not match the source '
            '"/s/CMakeLists.txt" used to generate cache.  Re-run cmake with a different source '
            "directory."
        ],
        OTHER_SOURCE,
    ),
    "read-only tree": (["file INSTALL cannot copy file: Read-only file system"], READ_ONLY),
    "unknown": (["something odd happened"], OTHER),
    "gcc killed for memory": (
        ["FAILED: a.o", "c++: fatal error: Killed signal terminated program cc1plus"],
        OUT_OF_MEMORY,
    ),
    "ninja: a compile killed": (
        ["FAILED: [code=137] CMakeFiles/_C.dir/a.cpp.o", "c++ -c a.cpp -o a.o", "Killed"],
        OUT_OF_MEMORY,
    ),
    "nvcc killed for memory": (
        ["FAILED: k.cu.o", "nvcc error   : 'cicc' died due to signal 9 (Kill signal)"],
        OUT_OF_MEMORY,
    ),
    "sccache-dist token": (
        ["FAILED: a.o", '["a.o"] http error status: Error 401: Fixed token mismatch'],
        DIST_AUTH,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_classify(case: str) -> None:
    lines, want = CASES[case]
    assert failures.classify(lines) is want


def test_every_fix_is_distinct() -> None:
    kinds = (BUILD_FILES, CACHE, COMPILE, DISK_FULL, DIST_AUTH, OTHER, OUT_OF_MEMORY, READ_ONLY,
             SCCACHE, MISSING_INPUT, OTHER_SOURCE)  # fmt: skip
    fixes = [f.fix for f in kinds]
    assert len(set(fixes)) == len(fixes)
    assert "CCACHE_READONLY=1" in CACHE.fix and "--launcher none" in CACHE.fix
    assert "invoke clean-build" in BUILD_FILES.fix


def test_sccaches_fix_is_sccaches() -> None:
    assert "SCCACHE_DIR" in SCCACHE.fix and "CCACHE" not in SCCACHE.fix.replace("SCCACHE", "")
