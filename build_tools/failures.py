"""What a failed build or configure means, read from its last lines, and the fix for THAT failure.

Checked in order: the first kind whose pattern appears in the output wins, so a compile error
caused by a full disk is reported as a full disk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Failure:
    kind: str
    fix: str


DISK_FULL = Failure(
    "disk full",
    "free space on the disk that holds the build dir (or the compiler cache), then run "
    "`invoke build` again: what was built is kept",
)
CACHE = Failure(
    "compiler cache error",
    "the compiler cache cannot write its directory: make it writable, set CCACHE_READONLY=1 "
    "(read-only use of a shared cache), or build without it (`invoke presets --launcher none`)",
)
BUILD_FILES = Failure(
    "missing or corrupt build files",
    "the build dir is incomplete (an interrupted delete or configure?): run `invoke clean-build`",
)
READ_ONLY = Failure(
    "a file could not be written",
    "the source tree or build dir is not writable by you: fix its permissions "
    "(or build a copy you own)",
)
DIST_AUTH = Failure(
    "distributed compile refused",
    "the sccache-dist scheduler refused our token: set dist_token (VLLM_BUILD_DIST_TOKEN) to its "
    "client token, or dist = false to compile on this machine",
)
COMPILE = Failure("compile error", "fix the compile error above and run `invoke build` again")
OTHER = Failure(
    "build failure",
    "read the output above; `invoke clean-build` starts afresh if the build dir is broken",
)

PATTERNS: tuple[tuple[Failure, re.Pattern[str]], ...] = (
    (DIST_AUTH, re.compile(r"http error status: Error 40[13]|token mismatch", re.I)),
    (DISK_FULL, re.compile(r"No space left on device|Disk quota exceeded", re.I)),
    (CACHE, re.compile(r"\b(ccache|sccache)\b[^\n]*(error|denied|read-only|failed)", re.I)),
    (
        BUILD_FILES,
        re.compile(
            r"ninja: error: loading '[^']*'|ninja: error: [^:]*\.ninja:\d+|"
            r"Error: could not load cache|ninja: error: build\.ninja|"
            r"No such file or directory.*(build\.ninja|CMakeCache\.txt|rules\.ninja)|"
            r"is not a directory: .*cmake-build|Error: not a CMake build directory",
            re.I,
        ),
    ),
    (READ_ONLY, re.compile(r"Read-only file system|Permission denied", re.I)),
    (COMPILE, re.compile(r"^FAILED: .*\.(o|obj)\b|error:|\berror [A-Z]?\d+:", re.M)),
)


def classify(lines: Sequence[str]) -> Failure:
    text = "\n".join(lines)
    for failure, pattern in PATTERNS:
        if pattern.search(text):
            return failure
    return OTHER
