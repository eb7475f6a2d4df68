"""`invoke report` and the digest after a build, over a checkout with a ninja log in place."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from build_tools.cache import ccache, sccache
from build_tools.console import Console
from build_tools.errors import BuildToolsError
from build_tools.insight import last_build
from build_tools.process.runner import Runner
from build_tools.run import Run, make_run
from build_tools.settings import Settings

BUILD_NS = 1_790_000_000 * 10**9
LOG = [
    (0, 400, "CMakeFiles/_C.dir/csrc/a.cpp.o"),
    (0, 900, "CMakeFiles/_C.dir/csrc/k.cu.o"),
    (900, 950, "_C.abi3.so"),
    (950, 955, "CMakeFiles/install.util"),
]


def write_log(build_dir: Path, *builds: list[tuple[int, int, str]]) -> None:
    build_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# ninja log v7"]
    for n, build in enumerate(builds):
        for start, end, output in build:
            lines.append(f"{start}\t{end}\t{BUILD_NS + n * 10**11 + start * 10**6}\t{output}\th")
    (build_dir / ".ninja_log").write_text("\n".join(lines) + "\n")


def context(source: Path) -> tuple[Run, io.StringIO]:
    out = io.StringIO()
    console = Console(out)
    return make_run(Settings(source=source), console=console, runner=Runner(console)), out


def test_no_ninja_log_says_build_first(example_copy: Path) -> None:
    ctx, _ = context(example_copy)
    with pytest.raises(BuildToolsError, match="build first") as caught:
        last_build.report(ctx.checkout, ctx.console, as_json=False)
    assert caught.value.fix == "run `invoke build`"


def test_report_writes_the_trace_and_the_chart(example_copy: Path) -> None:
    write_log(example_copy / "cmake-build-release", LOG, [(0, 5, "CMakeFiles/install.util")])
    ctx, out = context(example_copy)
    data = last_build.report(ctx.checkout, ctx.console, as_json=True)
    assert json.loads(out.getvalue()) == json.loads(json.dumps(data))  # JSON only
    assert data["units"] == 2 and data["slowest"][0]["name"] == "csrc/k.cu"
    trace = json.loads(Path(data["trace"]).read_text())
    assert len([e for e in trace["traceEvents"] if e["ph"] == "X"]) == 2
    assert Path(data["trace"]).parent == example_copy / ".vllm-build-tools"
    ET.fromstring(Path(data["svg"]).read_text())
    ctx, out = context(example_copy)
    last_build.report(ctx.checkout, ctx.console, as_json=False)
    text = out.getvalue()
    assert "critical path: csrc/k.cu 0.9 s -> _C.abi3.so 0.1 s" in text
    assert "cache hit rate: not known" in text


def test_digest_after_a_build_that_compiled_and_its_cache_hits(example_copy: Path) -> None:
    write_log(example_copy / "cmake-build-release", LOG)
    state = example_copy / ".vllm-build-tools"
    state.mkdir()
    (state / ccache.STATS_LOG).write_text(
        "# ../csrc/a.cpp\ndirect_cache_hit\n# ../csrc/k.cu\ncache_miss\n"
    )
    ctx, out = context(example_copy)
    last_build.digest(ctx.checkout, ctx.console, edges=3)
    line = out.getvalue().strip()
    assert line.startswith("slowest: csrc/k.cu 0.9 s; 2 units, parallelism")
    assert "1/2 cache hits (50%)" in line and line.endswith("report: `invoke report`")
    assert (state / last_build.KEPT_STATS).is_file()  # kept for `invoke report`
    assert not (state / ccache.STATS_LOG).exists()


def test_no_digest_when_the_build_compiled_nothing(example_copy: Path) -> None:
    write_log(example_copy / "cmake-build-release", LOG, [(0, 5, "CMakeFiles/install.util")])
    ctx, out = context(example_copy)
    last_build.digest(
        ctx.checkout, ctx.console, edges=1
    )  # the newest build relinked nothing, compiled nothing
    last_build.digest(ctx.checkout, ctx.console, edges=0)
    assert out.getvalue() == ""


def test_the_stats_log_env_is_for_ccache_only(tmp_path: Path) -> None:
    env = ccache.stats_log_env("/usr/bin/ccache", {}, tmp_path)
    assert env == {"CCACHE_STATSLOG": str(tmp_path / ccache.STATS_LOG)}
    assert (tmp_path / ccache.STATS_LOG).read_text() == ""  # emptied for this build
    assert ccache.stats_log_env("/usr/bin/sccache", {}, tmp_path) == {}
    assert ccache.stats_log_env(None, {}, tmp_path) == {}
    theirs = {"CCACHE_STATSLOG": "/their/log"}
    assert ccache.stats_log_env("/usr/bin/ccache", theirs, tmp_path) == {}


def test_the_report_knows_the_hit_rate_sccache_counted(example_copy: Path) -> None:
    """issue 26: after a build that said "0/2 cache hits" (sccache's counters), `report` says
    it too, not "cache hit rate: not known"; a later build without a count drops it."""
    write_log(example_copy / "cmake-build-release", LOG)
    ctx, out = context(example_copy)
    said = last_build.digest(
        ctx.checkout, ctx.console, edges=3, counted=sccache.SccacheCount(0, 2, 0, 0)
    )
    assert said == "0/2 cache hits (0%)" and said in out.getvalue(), out.getvalue()
    ctx, out = context(example_copy)
    last_build.report(ctx.checkout, ctx.console, as_json=False)
    assert "0/2 cache hits (0%)" in out.getvalue(), out.getvalue()
    assert "not known" not in out.getvalue(), out.getvalue()
    write_log(example_copy / "cmake-build-release", LOG, LOG)
    ctx, out = context(example_copy)
    assert last_build.digest(ctx.checkout, ctx.console, edges=3) is None
    ctx, out = context(example_copy)
    last_build.report(ctx.checkout, ctx.console, as_json=False)
    assert "cache hit rate: not known" in out.getvalue(), out.getvalue()


def test_the_digest_names_the_program_typed(example_copy: Path) -> None:
    """issue 26: under `vllm-build` the digest's report command is `vllm-build report`."""
    write_log(example_copy / "cmake-build-release", LOG)
    out = io.StringIO()
    console = Console(out)
    settings = Settings(source=example_copy, program="vllm-build")
    ctx = make_run(settings, console=console, runner=Runner(console))
    last_build.digest(ctx.checkout, ctx.console, edges=3)
    assert out.getvalue().strip().endswith("report: `vllm-build report`"), out.getvalue()
