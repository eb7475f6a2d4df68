"""The errors every front door turns into one clear message and a non-zero exit, and what a
failed command's output says went wrong.

A `BuildToolsError` is a problem in one sentence plus the fix for THAT problem; its `kind`
names the failure (the JSON summary records it). A failed build or configure is classified
from its last lines (`classify`): the first kind whose pattern appears wins, so a compile error
caused by a full disk is reported as a full disk.
"""

from __future__ import annotations

import enum
import re
import signal
from collections.abc import Sequence
from dataclasses import dataclass


class ErrorKind(enum.Enum):
    """What kind of failure an error is; its value is the JSON summary's `failure`."""

    ERROR = "error"
    INTERRUPTED = "interrupted"
    FILE = "file"
    BAD_INPUT = "bad input"
    REFUSED = "refused"
    NO_LOAD = "extension does not load"
    DISK_FULL = "disk full"
    CACHE = "compiler cache error"
    BUILD_FILES = "missing or corrupt build files"
    READ_ONLY = "a file could not be written"
    DIST_AUTH = "distributed compile refused"
    OUT_OF_MEMORY = "out of memory"
    MISSING_INPUT = "a build input is gone"
    COMPILE = "compile error"
    BUILD = "build failure"
    TESTS = "tests"  # the kernel tests `invoke test` ran did not pass


class BuildToolsError(Exception):
    """A failure a person can act on: what went wrong, in one sentence, and the fix."""

    code = 1

    def __init__(self, problem: str, fix: str = "", kind: ErrorKind = ErrorKind.ERROR) -> None:
        self.problem = problem
        self.fix = fix
        self.kind = kind
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.problem}\n  fix: {self.fix}" if self.fix else self.problem


class Interrupted(BuildToolsError):
    """A signal ended the run; the exit code is 128 + its number (130 for Ctrl-C)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        self.signum = signum
        self.code = 128 + signum
        name = signal.Signals(signum).name
        super().__init__(
            f"interrupted ({name}); every command we started has ended.",
            "run the same command again: it resumes where the build stopped",
            kind=ErrorKind.INTERRUPTED,
        )


def as_error(exc: BaseException) -> BuildToolsError:
    """Ctrl-C and a file we could not read or write, as the errors a person reads."""
    if isinstance(exc, BuildToolsError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted(signal.SIGINT)
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return BuildToolsError(f"{exc.strerror or exc}{where}.", "check that path", ErrorKind.FILE)
    raise TypeError(f"not an error we explain: {exc!r}")


@dataclass(frozen=True)
class Failure:
    """A kind of failed command and the fix that matches it."""

    kind: ErrorKind
    fix: str


DISK_FULL = Failure(
    ErrorKind.DISK_FULL,
    "free space on the disk that holds the build dir (or the compiler cache), then run "
    "`invoke build` again: what was built is kept",
)
CACHE = Failure(
    ErrorKind.CACHE,
    "the compiler cache cannot write its directory: make it writable, set CCACHE_READONLY=1 "
    "(read-only use of a shared cache), or build without it (`invoke presets --launcher none`)",
)
SCCACHE = Failure(
    ErrorKind.CACHE,
    "sccache cannot use its cache directory: make it writable or point SCCACHE_DIR at a "
    "writable folder (sccache has no read-only local cache), or build without it "
    "(`invoke presets --launcher none`)",
)
BUILD_FILES = Failure(
    ErrorKind.BUILD_FILES,
    "the build dir's generated files are damaged: `invoke configure --force` regenerates them "
    "from the preset and keeps every object (if cmake fails there too: `invoke clean-build`)",
)
OTHER_SOURCE = Failure(
    ErrorKind.BUILD,
    "the build dir was made from another source tree (a copied or moved checkout carries it): "
    "if it is a copy, delete it yourself (`invoke clean-build` will not delete another tree's "
    "build dir) and run `invoke configure` again",
)
READ_ONLY = Failure(
    ErrorKind.READ_ONLY,
    "the source tree or build dir is not writable by you: fix its permissions "
    "(or build a copy you own)",
)
DIST_AUTH = Failure(
    ErrorKind.DIST_AUTH,
    "the sccache-dist scheduler refused our token: set dist_token (VLLM_BUILD_DIST_TOKEN) to its "
    "client token, or dist = false to compile on this machine",
)
OUT_OF_MEMORY = Failure(
    ErrorKind.OUT_OF_MEMORY,
    "a compile was killed for memory: run `invoke build` again (this build measured its units: "
    "`invoke presets` plans from them), keep memory_gate on, or lower --jobs",
)
MISSING_INPUT = Failure(
    ErrorKind.MISSING_INPUT,
    "a file the build reads is gone (ninja names it above): restore it (`git checkout -- "
    "<file>` in a git checkout), or, if it was removed on purpose, remove it from the CMake "
    "files that name it; then run `invoke build` again",
)
COMPILE = Failure(ErrorKind.COMPILE, "fix the compile error above and run `invoke build` again")
OTHER = Failure(
    ErrorKind.BUILD,
    "read the output above: its last lines say what failed (the whole output is in the "
    "checkout's .vllm-build-tools/last-run.log)",
)

PATTERNS: tuple[tuple[Failure, re.Pattern[str]], ...] = (
    (DIST_AUTH, re.compile(r"http error status: Error 40[13]|token mismatch", re.I)),
    (DISK_FULL, re.compile(r"No space left on device|Disk quota exceeded", re.I)),
    (SCCACHE, re.compile(r"\bsccache\b[^\n]*(error|denied|read-only|failed)", re.I)),
    (CACHE, re.compile(r"\bccache\b[^\n]*(error|denied|read-only|failed)", re.I)),
    (OTHER_SOURCE, re.compile(r"does not match the source")),  # CMake's own words
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
    (MISSING_INPUT, re.compile(r"ninja: error: '[^']+', needed by '[^']+', missing and no known")),
    (
        OUT_OF_MEMORY,
        re.compile(
            r"Killed signal terminated program|died due to signal 9|virtual memory exhausted|"
            r"std::bad_alloc|out of memory allocating|cannot allocate memory|"
            r"^FAILED: \[code=137\]|^Killed$",  # ninja >= 1.13: SIGKILL, the OOM killer's
            re.I | re.M,
        ),
    ),
    (COMPILE, re.compile(r"^FAILED: .*\.(o|obj)\b|error:|\berror [A-Z]?\d+:", re.M)),
)


def classify(lines: Sequence[str]) -> Failure:
    """What the last lines of a failed command say went wrong (OTHER when nothing matches)."""
    text = "\n".join(lines)
    for failure, pattern in PATTERNS:
        if pattern.search(text):
            return failure
    return OTHER
