"""cmake/ninja_tool.py: ninja's -t query/deps/commands output, its path spelling, and `Ninja`
asking them through a capture callable."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from build_tools.cmake.ninja_tool import (
    BATCH,
    Ninja,
    Node,
    Recorded,
    normalize,
    parse_commands,
    parse_deps,
    parse_query,
)
from build_tools.errors import BuildToolsError

# ------------------------------------------------------------------ ninja's output formats

DEPS = """\
CMakeFiles/_C.dir/csrc/layernorm.cpp.o: #deps 3, deps mtime 1796217415287009050 (VALID)
    ../csrc/layernorm.cpp
    /usr/include/stdc-predef.h
    /tmp/my src/csrc/ops.h

CMakeFiles/_C.dir/csrc/k.cu.o: #deps 1, deps mtime 1796217415287009050 (STALE)
    /tmp/my src/csrc/k.cu

CMakeFiles/_C.dir/csrc/new.cpp.o: deps not found
"""


def test_parse_deps() -> None:
    records = parse_deps(DEPS)
    assert records == {
        "CMakeFiles/_C.dir/csrc/layernorm.cpp.o": Recorded(
            True, ("../csrc/layernorm.cpp", "/usr/include/stdc-predef.h", "/tmp/my src/csrc/ops.h")
        ),
        "CMakeFiles/_C.dir/csrc/k.cu.o": Recorded(False, ("/tmp/my src/csrc/k.cu",)),
    }


def test_parse_deps_refuses_a_short_listing() -> None:
    with pytest.raises(ValueError, match="listed 1 of 2"):
        parse_deps("a.o: #deps 2, deps mtime 1 (VALID)\n    x.h\n")


QUERY = """\
_C.abi3.so:
  input: CXX_MODULE_LIBRARY_LINKER___C_Release
    CMakeFiles/_C.dir/csrc/a.cpp.o
    CMakeFiles/_C.dir/csrc/k.cu.o
    | libutil.a
    || cmake_object_order_depends_target__C
  outputs:
    _C
    all
  validations:
    check.stamp
/src/csrc/a.cpp:
  outputs:
    CMakeFiles/_C.dir/csrc/a.cpp.o
"""


def test_parse_query() -> None:
    nodes = parse_query(QUERY)
    assert nodes["_C.abi3.so"] == Node(
        "CXX_MODULE_LIBRARY_LINKER___C_Release",
        ("CMakeFiles/_C.dir/csrc/a.cpp.o", "CMakeFiles/_C.dir/csrc/k.cu.o"),
        ("libutil.a",),
        ("cmake_object_order_depends_target__C",),
        ("_C", "all"),
    )
    assert nodes["/src/csrc/a.cpp"] == Node(None, (), (), (), ("CMakeFiles/_C.dir/csrc/a.cpp.o",))


def test_normalize() -> None:
    source = Path("/src")
    assert normalize("../csrc/a.h", Path("/src/build"), source) == "csrc/a.h"
    assert normalize("/src/./csrc/../csrc/a.h", Path("/x"), source) == "csrc/a.h"
    assert normalize("/usr/include/x.h", Path("/src/build"), source) == "/usr/include/x.h"
    assert normalize("/srcother/a.h", Path("/"), source) == "/srcother/a.h"


def test_parse_commands_takes_the_first_line_naming_each_object() -> None:
    text = (
        "/usr/bin/c++ -o a.o -c a.cpp\n"
        "echo 'unbalanced a.o b.o\n"
        "/usr/bin/c++ -o b.o -c 'my b.cpp'\n"
        "/usr/bin/c++ -o a.o -c other.cpp\n"
    )
    assert parse_commands(text, ["a.o", "b.o", "c.o"]) == {
        "a.o": "/usr/bin/c++ -o a.o -c a.cpp",
        "b.o": "/usr/bin/c++ -o b.o -c 'my b.cpp'",
    }


class Calls:
    """A capture callable that records each call and answers `code` with the paths it got."""

    def __init__(self, code: int = 0) -> None:
        self.code = code
        self.argvs: list[list[str]] = []

    def __call__(self, argv: Sequence[object], cwd: Path) -> tuple[int, str]:
        words = [str(a) for a in argv]
        assert cwd == Path("/b"), f"expected ninja to run in the build dir, not {cwd}"
        self.argvs.append(words)
        return self.code, "\n".join(w for w in words[words.index("-t") + 2 :] if w != "-s")


def test_ninja_asks_in_batches_read_only() -> None:
    calls = Calls()
    ninja = Ninja("/opt/ninja", Path("/b"), calls)
    paths = [f"o{i}.o" for i in range(BATCH + 1)]
    assert ninja.run("commands -s", paths).split("\n") == paths
    assert [len(a) for a in calls.argvs] == [7 + BATCH, 8]
    assert calls.argvs[1] == ["/opt/ninja", "-C", "/b", "-n", "-t", "commands", "-s", "o400.o"]
    assert ninja.run("query", []) == "" and len(calls.argvs) == 2, "expected no call for none"
    ninja.query(["x", "x", "y"])
    assert calls.argvs[-1][-2:] == ["x", "y"], "expected each path asked once"


def test_a_failed_ninja_call_says_what_to_do() -> None:
    ninja = Ninja("ninja", Path("/b"), Calls(code=1))
    with pytest.raises(BuildToolsError, match="`ninja -t query` failed in /b") as raised:
        ninja.query(["x"])
    assert "invoke configure" in raised.value.fix
    assert ninja.deps(["a.o"]) == {}, "expected the deps log's failure tolerated"
