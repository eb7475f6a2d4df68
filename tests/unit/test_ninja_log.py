"""Reading .ninja_log: versions 5-7, builds told apart, recompacted logs, what a build appended."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from build_tools.errors import BuildToolsError
from build_tools.insight import ninja_log

FIRST = [  # a clean build: two objects in parallel, a link, CMake's install edge
    (0, 300, "CMakeFiles/_C.dir/csrc/a.cpp.o"),
    (0, 1200, "CMakeFiles/_C.dir/csrc/k.cu.o"),
    (1200, 1250, "_C.abi3.so"),
    (1250, 1255, "CMakeFiles/install.util"),
]
NOOP = [(0, 4, "CMakeFiles/install.util")]
EDIT = [
    (0, 310, "CMakeFiles/_C.dir/csrc/a.cpp.o"),
    (310, 350, "_C.abi3.so"),
    (350, 354, "CMakeFiles/install.util"),
]


def log_text(version: int, *builds: list[tuple[int, int, str]], apart_s: float = 60) -> str:
    """A log as ninja writes it: from version 6 the mtime is when the command started (in ns),
    before it the output's mtime (when it ended)."""
    lines = [f"# ninja log v{version}"]
    for n, build in enumerate(builds):
        began_ns = int((1_790_000_000 + n * apart_s) * 1e9)
        for start, end, output in build:
            mtime = began_ns + (start if version >= 6 else end) * 1_000_000
            lines.append(f"{start}\t{end}\t{mtime}\t{output}\tdeadbeef{n}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("version", [5, 6, 7])
def test_every_supported_version_parses_the_same(version: int) -> None:
    log = ninja_log.parse(log_text(version, FIRST))
    assert log.version == version
    assert [e.output for e in log.entries] == [o for _, _, o in FIRST]
    assert log.entries[1].ms == 1200 and log.entries[1].kind == "compile"
    assert [e.kind for e in log.entries[2:]] == ["link", "other"]


def test_builds_split_where_the_clock_restarts() -> None:
    log = ninja_log.parse(log_text(5, FIRST, EDIT, NOOP))
    assert [len(b) for b in ninja_log.builds(log.entries, 5)] == [4, 3, 1]
    # A no-op build's lone install edge cannot be dated: it joins the build after it.
    log = ninja_log.parse(log_text(7, FIRST, NOOP, EDIT))
    found = ninja_log.builds(log.entries)
    assert [len(b) for b in found] == [4, 4]
    assert [e.output for e in found[-1][1:]] == [o for _, _, o in EDIT]


@pytest.mark.parametrize("version", [5, 7])
def test_a_longer_build_after_a_short_one_is_told_apart_by_its_mtimes(version: int) -> None:
    """EDIT ends at 354 ms, FIRST's first entry at 300: the end times alone would not split."""
    log = ninja_log.parse(log_text(version, EDIT, FIRST, apart_s=2))
    assert [len(b) for b in ninja_log.builds(log.entries, version)] == [3, 4]


def test_an_mtime_that_cannot_date_its_build_never_splits_one() -> None:
    """A custom command (restat) may log its output's later mtime; a missing output logs 0."""
    entries = list(ninja_log.parse(log_text(7, FIRST)).entries)
    late = ninja_log.Entry(300, 310, entries[0].mtime + 10**12, "gen/header.h", "h")
    missing = ninja_log.Entry(310, 320, 0, "CMakeFiles/_C.dir/csrc/z.cpp.o", "h")
    mixed = [entries[0], late, missing, *entries[1:]]
    mixed.sort(key=lambda e: e.end_ms)
    assert len(ninja_log.builds(mixed)) == 1


def test_last_build_skips_a_no_op_build_after_it() -> None:
    log = ninja_log.parse(log_text(7, FIRST, EDIT, NOOP))
    last = ninja_log.last_build(log.entries)
    assert [e.output for e in last] == [o for _, _, o in EDIT]
    assert ninja_log.last_build([]) == []
    only_noop = ninja_log.parse(log_text(7, NOOP)).entries
    assert ninja_log.last_build(only_noop) == list(only_noop)


def test_a_recompacted_log_keeps_the_newest_entry_per_output() -> None:
    """ninja rewrites the log with one line per output, in no particular order, then appends."""
    recompacted = [
        (310, 350, "_C.abi3.so"),
        (0, 1200, "CMakeFiles/_C.dir/csrc/k.cu.o"),
        (0, 310, "CMakeFiles/_C.dir/csrc/a.cpp.o"),
        (350, 354, "CMakeFiles/install.util"),
    ]
    text = log_text(6, recompacted, EDIT)
    entries = ninja_log.parse(text).entries
    assert [e.output for e in ninja_log.last_build(entries)] == [o for _, _, o in EDIT]


def test_a_truncated_last_line_is_skipped() -> None:
    text = log_text(7, FIRST) + "12\t40\t17000"
    assert len(ninja_log.parse(text).entries) == len(FIRST)


def test_an_unknown_version_or_no_log_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BuildToolsError, match="versions"):
        ninja_log.parse("# ninja log v4\n")
    with pytest.raises(BuildToolsError, match="build first") as caught:
        ninja_log.read(tmp_path)
    assert "invoke build" in caught.value.fix


def test_appended_reads_what_a_build_added(tmp_path: Path) -> None:
    path = tmp_path / ninja_log.LOG
    assert ninja_log.appended(tmp_path, ninja_log.Mark()) == []
    path.write_text(log_text(7, FIRST))
    before = ninja_log.mark(tmp_path)
    with path.open("a") as handle:
        handle.write(log_text(7, EDIT).split("\n", 1)[1])
    added = ninja_log.appended(tmp_path, before)
    assert [e.output for e in added] == [o for _, _, o in EDIT]


def test_appended_after_a_rewrite_is_the_newest_build(tmp_path: Path) -> None:
    path = tmp_path / ninja_log.LOG
    path.write_text(log_text(7, FIRST, NOOP, NOOP, NOOP))
    before = ninja_log.mark(tmp_path)
    rewritten = tmp_path / "new"
    rewritten.write_text(log_text(7, FIRST[:2], EDIT))  # a new file, as ninja writes it
    os.replace(rewritten, path)
    added = ninja_log.appended(tmp_path, before)
    assert [e.output for e in added] == [o for _, _, o in EDIT]
