"""A dependency scan of a compile unit never built: its own compile command, preprocessing only.

`ninja -t commands -s OBJ` gives the exact command ninja would run (launcher and CMake's `-MD
-MT OBJ -MF OBJ.d` included; compile_commands.json has neither); the scan drops the launcher
(ccache, sccache, ...), turns `-MD` into `-M` (same preprocessing, no compile), points `-MF`
at a temporary file and drops `-o OBJ` (gcc truncates the `-o` file under `-M`; nvcc even
writes the dependency rule there and ignores `-MF`). The same words serve g++, clang and nvcc
(whose long forms it knows too). What the scan lists is read from the Makefile-style
dependency file the compiler wrote (`parse_depfile`). Scans run through the `capture`
callable, `jobs` at once.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from build_tools.process.runner import Capture

# Launchers in front of a compiler that a scan runs without (besides the cache's own values).
LAUNCHER_NAMES = ("ccache", "sccache", "buildcache", "distcc", "icecc")
SHELL_OPERATORS = ("&&", "||", ";", "|", ">", ">>", "<", "2>&1")
# What asks for a dependency rule (with a compile or not): every header, or the non-system ones.
WITH_SYSTEM = ("-MD", "-M", "--generate-dependencies-with-compile", "--generate-dependencies")
NONSYSTEM = (
    "-MMD",
    "-MM",
    "--generate-nonsystem-dependencies-with-compile",
    "--generate-nonsystem-dependencies",
)


def scan_argv(command: str, depfile: str, launcher_words: Sequence[str] = ()) -> list[str]:
    """The unit's compile command (as `ninja -t commands -s` prints it) turned into a
    dependency scan writing `depfile`: the launcher dropped, `-MD`/`-MMD` (nvcc's long forms
    too) turned into `-M`/`-MM`, `-MF` pointed at `depfile`, `-o` dropped. ValueError for a
    command the scan cannot run without a shell."""
    argv = shlex.split(command)
    if "__run_co_compile" in argv and "--" in argv:  # CMake's clang-tidy/cppcheck wrapper
        argv = argv[argv.index("--") + 1 :]
    if any(word in SHELL_OPERATORS for word in argv):
        raise ValueError(f"a shell command, not one compiler call: {command}")
    while argv and (
        argv[0] in launcher_words or Path(argv[0]).name in LAUNCHER_NAMES or "=" in argv[0]
    ):
        argv = argv[1:]
    if not argv:
        raise ValueError(f"no compiler in {command!r}")
    nvcc = Path(argv[0]).name.startswith("nvcc")
    out = [argv[0]]
    nonsystem = False
    words = iter(argv[1:])
    for word in words:
        if word in ("-o", "--output-file", "-MF", "--dependency-output"):
            next(words, None)
            continue
        if word.startswith(("--output-file=", "--dependency-output=", "-MF")) or (
            word.startswith("-o") and not nvcc and len(word) > 2
        ):
            continue
        if word in WITH_SYSTEM or word in NONSYSTEM:
            nonsystem = nonsystem or word in NONSYSTEM
            continue
        out.append(word)
    return [*out, "-MM" if nonsystem else "-M", "-MF", depfile]


# Flags that name a directory headers are looked for in (the next word, or joined), and the
# flags that force a file in (its directory counts: what it includes is found from there).
SEARCH_FLAGS = (
    "-I", "-isystem", "-iquote", "-idirafter", "-include", "-imacros",
    "--include-path", "--system-include", "--pre-include",
)  # fmt: skip


def search_dirs(command: str) -> list[str]:
    """The directories a compile command looks for headers in (as written: relative to the
    build dir or absolute), forced-include files' directories included; [] when the command
    cannot be split."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return []
    found: list[str] = []
    words = iter(argv)
    for word in words:
        flag = next((f for f in SEARCH_FLAGS if word == f or word.startswith(f)), None)
        if flag is None:
            continue
        value = word[len(flag) :].lstrip("=") if word != flag else next(words, "")
        if not value:
            continue
        forced = flag in ("-include", "-imacros", "--pre-include")
        found.append((os.path.dirname(value) or ".") if forced else value)
    return found


def parse_depfile(text: str) -> list[str]:
    """The prerequisites of a Makefile-style dependency file (gcc's `obj: a b \\` and nvcc's
    `obj : a \\`): backslash-newline continues a line, `\\ ` is a space in a path, `\\#` a `#`
    and `$$` a `$`; targets (the words before each rule's colon) are left out."""
    found: list[str] = []
    for line in re.split(r"(?<!\\)\n", text.replace("\r\n", "\n")):
        words, colon = _rule_words(line)
        if colon >= 0:
            found.extend(words[colon:])
    return found


def _rule_words(line: str) -> tuple[list[str], int]:
    """One rule's words, unescaped, and how many of them stand before its colon (-1: none)."""
    words: list[str] = []
    word: list[str] = []
    colon = -1
    i = 0
    while i <= len(line):
        char = line[i : i + 1]  # "" past the end: the last word ends there
        after = line[i + 1 : i + 2]
        if (char == "\\" and after in (" ", "#", ":")) or (char == "$" and after == "$"):
            word.append(after)
            i += 2
            continue
        if char == "\\" and after == "\n":
            char, i = " ", i + 2
        else:
            i += 1
        ends_targets = char == ":" and colon < 0 and after in ("", " ", "\t", "\\", "\n")
        if char in ("", " ", "\t") or ends_targets:
            if word:
                words.append("".join(word))
                word = []
            if ends_targets:
                colon = len(words)
            continue
        word.append(char)
    return words, colon


@dataclass(frozen=True)
class Scanned:
    """One scan: the absolute paths it listed (None when it failed), why it failed, and how
    long it took."""

    paths: Optional[list[str]]
    error: str = ""
    seconds: float = 0.0


def run_scans(
    capture: Capture,
    build_dir: Path,
    commands: Sequence[tuple[str, Optional[str]]],
    launcher_words: Sequence[str],
    jobs: int,
) -> list[Scanned]:
    """A scan of each (object, its command) in the build dir, `jobs` at once, their dependency
    files in a temporary directory; a missing command is a failed scan."""
    with tempfile.TemporaryDirectory(prefix="vllm-build-scan-") as tmp:

        def one(item: tuple[str, Optional[str]]) -> Scanned:
            return _scan_one(capture, build_dir, *item, Path(tmp), launcher_words)

        jobs = min(jobs, len(commands))
        if jobs <= 1:
            return [one(item) for item in commands]
        with ThreadPoolExecutor(jobs) as pool:
            return list(pool.map(one, commands))


def _scan_one(
    capture: Capture,
    build_dir: Path,
    obj: str,
    command: Optional[str],
    tmp: Path,
    launcher_words: Sequence[str],
) -> Scanned:
    """One scan. Runs in a worker thread: it touches nothing shared."""
    start = time.monotonic()
    if command is None:
        return Scanned(None, "ninja printed no command for it")
    depfile = tmp / (hashlib.sha256(obj.encode()).hexdigest()[:16] + ".d")
    try:
        argv = scan_argv(command, str(depfile), launcher_words)
    except ValueError as exc:
        return Scanned(None, str(exc))
    code, output = capture(argv, build_dir)
    seconds = time.monotonic() - start
    try:
        text = depfile.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        text = ""
    if code != 0 or not text:
        why = "\n".join(output.strip().splitlines()[-8:]) or f"exit code {code}, no depfile"
        return Scanned(None, why, seconds)
    paths = [os.path.normpath(os.path.join(build_dir, p)) for p in parse_depfile(text)]
    return Scanned(paths, "", seconds)
