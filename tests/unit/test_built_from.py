"""What each object was built from, by content (cmake/built_from.py), over real files: the
clocks lie (older, equal, future mtimes; a `cp -p` restore), the record does not."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from build_tools.cmake.built_from import BuiltFrom, record_path
from build_tools.cmake.ninja_tool import Recorded

TICK = 0.03  # longer than the file system's timestamp granularity (a jiffy)


def tree(tmp_path: Path) -> tuple[Path, Path, dict[str, Recorded]]:
    """A source and a header, an object 'built' from them after, and ninja's record of it."""
    src, build = tmp_path / "src", tmp_path / "build"
    (build / "CMakeFiles").mkdir(parents=True)
    src.mkdir()
    (src / "a.cpp").write_text('#include "a.h"\nint a() { return A; }\n')
    (src / "a.h").write_text("#define A 1\n")
    time.sleep(TICK)
    (build / "CMakeFiles" / "a.o").write_bytes(b"object from A 1")
    records = {"CMakeFiles/a.o": Recorded(True, ("../src/a.cpp", str(src / "a.h")))}
    return src, build, records


def recorded(tmp_path: Path, build: Path, records: dict[str, Recorded]) -> BuiltFrom:
    record = BuiltFrom.load(tmp_path / "state", build)
    record.update(records, time.time_ns())
    record.save()
    return BuiltFrom.load(tmp_path / "state", build)


def test_an_edit_with_an_older_mtime_is_stale_and_names_the_file(tmp_path: Path) -> None:
    src, build, records = tree(tmp_path)
    record = recorded(tmp_path, build, records)
    header = src / "a.h"
    before = header.stat()
    header.write_text("#define A 2\n")  # same size
    os.utime(header, ns=(before.st_atime_ns, before.st_mtime_ns - 10**12))  # older
    verdict = record.check(records, time.time_ns())
    assert [(s.object, s.why) for s in verdict.stale] == [("CMakeFiles/a.o", "content")]
    assert verdict.stale[0].changed == (str(header),), verdict


def test_an_edit_with_the_same_size_and_mtime_is_stale(tmp_path: Path) -> None:
    src, build, records = tree(tmp_path)
    record = recorded(tmp_path, build, records)
    header = src / "a.h"
    before = header.stat()
    time.sleep(TICK)
    header.write_text("#define A 3\n")
    os.utime(header, ns=(before.st_atime_ns, before.st_mtime_ns))  # "equal"
    assert [s.object for s in record.check(records, time.time_ns()).stale] == ["CMakeFiles/a.o"]


def test_a_cp_p_restore_of_an_older_copy_is_stale(tmp_path: Path) -> None:
    src, build, records = tree(tmp_path)
    saved = tmp_path / "saved.cpp"
    shutil.copy2(src / "a.cpp", saved)  # cp -p
    (src / "a.cpp").write_text('#include "a.h"\nint a() { return A + 1; }\n')
    time.sleep(TICK)
    (build / "CMakeFiles" / "a.o").write_bytes(b"object from A + 1")
    record = recorded(tmp_path, build, records)
    time.sleep(TICK)
    shutil.copy2(saved, src / "a.cpp")  # its old mtime comes back, older than the object
    stale = record.check(records, time.time_ns()).stale
    assert [s.changed for s in stale] == [(str(src / "a.cpp"),)], stale


def test_same_content_with_a_new_mtime_is_not_stale(tmp_path: Path) -> None:
    src, build, records = tree(tmp_path)
    record = recorded(tmp_path, build, records)
    time.sleep(TICK)
    (src / "a.h").write_text("#define A 1\n")  # saved again, unchanged
    assert record.check(records, time.time_ns()).stale == ()


def test_an_object_built_outside_the_record_is_trusted_only_if_nothing_changed_after_it(
    tmp_path: Path,
) -> None:
    src, build, records = tree(tmp_path)
    fresh = BuiltFrom.load(tmp_path / "state", build)  # no record: a raw build made it
    assert fresh.check(records, time.time_ns()).stale == ()
    time.sleep(TICK)
    (src / "a.h").write_text("#define A 5\n")
    os.utime(src / "a.h", ns=(0, 10**9))  # 1970: ninja would trust the object
    stale = fresh.check(records, time.time_ns()).stale
    assert [(s.object, s.why) for s in stale] == [("CMakeFiles/a.o", "changed after it was built")]


def test_an_input_edited_during_the_build_leaves_its_object_unrecorded(tmp_path: Path) -> None:
    src, build, records = tree(tmp_path)
    since = time.time_ns() - 10**9  # the build started before a.h was written
    record = BuiltFrom.load(tmp_path / "state", build)
    time.sleep(TICK)
    (src / "a.h").write_text("#define A 6\n")
    time.sleep(TICK)
    (build / "CMakeFiles" / "a.o").write_bytes(b"object of this build")
    record.update(records, since)
    assert record.objects == {}, "an object was recorded from content read after it compiled"


def test_an_mtime_in_the_future_is_named(tmp_path: Path) -> None:
    src, build, records = tree(tmp_path)
    record = recorded(tmp_path, build, records)
    future = time.time_ns() + 3600 * 10**9
    os.utime(src / "a.h", ns=(future, future))
    verdict = record.check(records, time.time_ns())
    assert verdict.future == (str(src / "a.h"),) and verdict.stale == (), verdict


def test_a_damaged_record_is_said_and_nothing_is_trusted_without_the_ctime_rule(
    tmp_path: Path,
) -> None:
    src, build, records = tree(tmp_path)
    path = record_path(tmp_path / "state", build)
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "files": {"x": 3}, "objects": {}}')
    record = BuiltFrom.load(tmp_path / "state", build)
    assert "damaged" in record.unreadable, record.unreadable
    time.sleep(TICK)
    (src / "a.cpp").write_text("int a() { return 9; }\n")
    os.utime(src / "a.cpp", ns=(0, 10**9))
    verdict = record.check(records, time.time_ns())
    assert verdict.unreadable and [s.object for s in verdict.stale] == ["CMakeFiles/a.o"]
    record.update(records, time.time_ns())
    record.save()
    assert BuiltFrom.load(tmp_path / "state", build).unreadable == ""


def test_a_no_op_writes_nothing(tmp_path: Path) -> None:
    _, build, records = tree(tmp_path)
    record = recorded(tmp_path, build, records)
    path = record_path(tmp_path / "state", build)
    before = path.stat().st_mtime_ns
    assert record.check(records, time.time_ns()).stale == ()
    record.update(records, time.time_ns())
    record.save()
    assert path.stat().st_mtime_ns == before and not record.dirty
