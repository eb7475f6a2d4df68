"""The build report's numbers on a synthetic ninja log, the trace and the chart it writes."""

from __future__ import annotations

import itertools
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from build_tools.insight import cost, held, ninja_log, timeline
from build_tools.plan import targets

# Two jobs: _C's three objects and _moe_C's two, each target linked after its objects; as
# ninja writes it, in the order the edges finished.
LOG = """# ninja log v7
0\t1000\t1\tCMakeFiles/_C.dir/csrc/a.cpp.o\th
1000\t1500\t1\tCMakeFiles/_C.dir/csrc/b.cpp.o\th
0\t2000\t1\tCMakeFiles/_C.dir/csrc/k.cu.o\th
2000\t2100\t1\t_C.abi3.so\th
1500\t2500\t1\tCMakeFiles/_moe_C.dir/csrc/moe/m.cpp.o\th
2100\t4000\t1\tCMakeFiles/_moe_C.dir/csrc/moe/t.cu.o\th
4000\t4200\t1\t_moe_C.abi3.so\th
4200\t4205\t1\tCMakeFiles/install.util\th
"""


def report(cache: dict[str, str] | None = None) -> cost.BuildCost:
    entries = ninja_log.last_build(ninja_log.parse(LOG).entries)
    return cost.analyse(entries, jobs=2, cache=cache)


def test_units_targets_and_slowest() -> None:
    r = report()
    assert len(r.units) == 5 and len(r.links) == 2
    assert [u.name for u in r.slowest(2)] == ["csrc/k.cu", "csrc/moe/t.cu"]
    assert r.slowest(1)[0].target == "_C"
    costs = {t.name: t for t in r.targets()}
    assert costs["_C"].units == 3 and costs["_C"].compile_ms == 3500 and costs["_C"].link_ms == 100
    assert costs["_moe_C"].compile_ms == 2900 and costs["_moe_C"].link_ms == 200
    assert [t.name for t in r.targets()] == ["_C", "_moe_C"]  # most time first


def test_parallelism_against_the_jobs_it_was_given() -> None:
    r = report()
    assert r.wall_ms == 4200
    assert r.busy_ms == 1000 + 2000 + 500 + 1000 + 100 + 1900 + 200
    assert round(r.parallelism, 2) == round(6700 / 4200, 2)
    assert "parallelism 1.6 of 2 jobs" in cost.digest(r)


def test_critical_path_is_the_last_link_and_the_object_it_waited_for() -> None:
    r = report()
    assert [u.name for u in r.critical] == ["csrc/moe/t.cu", "_moe_C.abi3.so"]
    assert [u.name for u in r.slowest_of("_moe_C")] == ["csrc/moe/t.cu", "csrc/moe/m.cpp"]


def test_cache_rate_from_cccache_stats_log_of_this_build_only() -> None:
    results = {
        "../csrc/a.cpp": "hit",
        "../csrc/k.cu": "miss",
        "/src/csrc/b.cpp": "hit",
        "../csrc/moe/m.cpp": "uncached",
    }
    rate = report(results).cache
    assert rate is not None and (rate.hits, rate.misses, rate.uncached) == (2, 1, 2)
    assert rate.text == "2/3 cache hits (67%)"
    stale = {**results, "../csrc/other.cpp": "hit"}  # a source this build did not compile
    assert report(stale).cache is None
    assert "cache" not in cost.digest(report())


def test_digest_is_one_line_naming_the_slowest_unit() -> None:
    line = cost.digest(report())
    assert "\n" not in line
    assert line.startswith("slowest: csrc/k.cu 2.0 s; 5 units, ")
    assert line.endswith("report: `invoke report`")


def test_trace_has_one_complete_event_per_unit_on_lanes_that_never_overlap() -> None:
    r = report()
    data = json.loads(timeline.trace(r, "minivllm: cmake-build-release"))
    events = data["traceEvents"]
    complete = [e for e in events if e["ph"] == "X"]
    assert sorted(e["name"] for e in complete) == sorted(u.name for u in r.units)
    k = next(e for e in complete if e["name"] == "csrc/k.cu")
    assert (k["ts"], k["dur"], k["cat"]) == (0, 2_000_000, "compile")
    by_lane: dict[int, list[tuple[int, int]]] = {}
    for e in complete:
        by_lane.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
    for spans in by_lane.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), spans
    assert len(by_lane) == 2  # two jobs ran: two lanes
    assert any(e["ph"] == "i" and e["name"] == "linked _moe_C.abi3.so" for e in events), events


def test_svg_is_valid_xml_with_a_bar_per_unit_and_link() -> None:
    r = report()
    root = ET.fromstring(timeline.svg(r, "a <title> & more"))
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    bars = [rect for rect in root.iter(f"{ns}rect") if rect.find(f"{ns}title") is not None]
    assert len(bars) == len(r.units) + len(r.links)
    texts = "".join(t.text or "" for t in root.iter(f"{ns}text"))
    assert "a <title> & more" in texts and "5 units in 4.2 s" in texts


def test_an_empty_build_reports_nothing_without_failing() -> None:
    r = cost.analyse([])
    assert r.units == () and r.critical == () and r.parallelism == 0.0
    ET.fromstring(timeline.svg(r, "empty"))
    assert json.loads(timeline.trace(r, "empty"))["traceEvents"][0]["ph"] == "M"


def test_a_units_own_time_is_apart_from_the_memory_gates_wait(tmp_path: Path) -> None:
    """The gate's wait counts in a unit's time in ninja's log: the build records each unit's
    wait beside that log entry, and the report, the digest and --plan's forecast tell them
    apart; a later build of the unit (a raw cmake --build too) is never read with it."""
    unit = "CMakeFiles/_C.dir/csrc/a.cu.o"
    built = [
        ninja_log.Entry(0, 30_000, 1, unit, "h1"),
        ninja_log.Entry(0, 5_000, 1, "CMakeFiles/_C.dir/csrc/b.cpp.o", "h2"),
    ]
    waits = held.GateWaits((held.Held(unit, 12.0, 2**30, "CUDA prior"),))
    held.keep_held(tmp_path, tmp_path / "build", waits, built)
    found = held.held_ms(tmp_path, tmp_path / "build", built)
    assert found == {unit: 12_000}, found
    report = cost.analyse(built, jobs=2, held=found)
    slow = report.slowest(1)[0]
    assert (slow.ms, slow.held_ms, slow.own_ms) == (30_000, 12_000, 18_000)
    assert "csrc/a.cu 30.0 s (held 12.0 s)" in cost.digest(report)
    assert report.held_ms == 12_000 and cost.as_json(report)["held_ms"] == 12_000
    again = [ninja_log.Entry(40_000, 60_000, 2, unit, "h1")]  # compiled again, not held
    assert held.held_ms(tmp_path, tmp_path / "build", again) == {}
    choice = targets.Choice(build={"_C": ["changed"]}, kept=[], everything="")
    forecast = targets.forecast(choice, {"_C": [unit]}, {unit: 30_000}, {}, found)
    assert forecast[0].seconds == 18.0 and forecast[0].held == 12.0
    assert "18 s of compile time (and 12 s held by the memory gate)" in forecast[0].text()


def test_a_held_compile_is_said_once_as_it_begins_to_wait(tmp_path: Path) -> None:
    said: list[str] = []
    build = tmp_path / "build"
    watcher = held.HeldWatcher(tmp_path, build, 0, said.append)
    record = held.waits_file(tmp_path, build)
    record.parent.mkdir(parents=True)
    record.write_text(
        "held\tCMakeFiles/t.dir/a.cu.o\t4294967296\tCUDA prior\t1.0 GiB available\n"
        "held\tCMakeFiles/t.dir/a.cu.o\t4294967296\tCUDA prior\t\n"
        "paused\tCMakeFiles/t.dir/b.cu.o\t104857600\n"
        "held\tCMakeFiles/t.dir/c.cu.o\t42"  # being written: read on the next look
    )
    watcher.poll()
    assert said == [
        "the memory gate holds CMakeFiles/t.dir/a.cu.o: it expects 4.0 GiB (CUDA prior); "
        "1.0 GiB available",
        "the memory gate paused CMakeFiles/t.dir/b.cu.o: 0.1 GiB left, so the compiles admitted "
        "before it go on first",
    ], said
    with record.open("a") as handle:
        handle.write("\tC/C++ prior\t\n")
    watcher.poll()
    assert len(said) == 3 and said[-1].startswith("the memory gate holds CMakeFiles/t.dir/c.cu.o")
