"""doctor, report, watch and the clangd database on one bootstrapped copy of the example, in
order: the report reads the bootstrap's clean build, watch edits the copy last."""

from __future__ import annotations

import json
import os
import shlex
import signal
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import copy_example
from tests.integration.tools import (
    HAS_NVCC,
    digest,
    invoke,
    objects,
    ok,
    outputs_built_since,
    start,
)

BOOTSTRAP_OUTPUT: list[str] = []


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    root = copy_example(tmp_path_factory.mktemp("insight") / "my src" / "minivllm")
    BOOTSTRAP_OUTPUT.append(ok("bootstrap", "--source", str(root), env=env))
    return root


def build_dir(src: Path) -> Path:
    return src / "cmake-build-release"


def test_the_build_prints_a_one_line_digest(src: Path) -> None:
    digests = [line for line in BOOTSTRAP_OUTPUT[0].splitlines() if "slowest: " in line]
    # the report command as it must be typed: with the --source bootstrap was given
    report = f"report: `invoke report --source {shlex.quote(str(src))}`"
    assert len(digests) == 1 and digests[0].strip().endswith(report), digests
    assert "cache hits" in digests[0]  # the build ran with ccache's stats log


def test_report_traces_every_unit_of_the_clean_build(src: Path, env: dict[str, str]) -> None:
    compiled = objects(outputs_built_since(build_dir(src), []))  # the bootstrap's one build
    assert compiled and (not HAS_NVCC or any(o.endswith(".cu.o") for o in compiled))
    out = ok("report", "--source", str(src), env=env)
    state = src / ".vllm-build-tools"
    trace = json.loads((state / "build-trace.json").read_text())
    complete = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert sorted(e["args"]["output"] for e in complete) == compiled
    assert all(e["dur"] >= 0 and isinstance(e["tid"], int) for e in complete), complete
    ET.fromstring((state / "build-report.svg").read_text())
    assert "critical path: " in out and "jobs" in out
    data = json.loads(ok("report", "--json", "--source", str(src), env=env))
    assert data["units"] == len(compiled)
    assert data["cache"] is not None and data["cache"]["misses"] >= 1  # a fresh cache


def test_doctor_json_on_the_healthy_example(src: Path, env: dict[str, str]) -> None:
    run = invoke("doctor", "--json", "--source", str(src), env=env)
    data = json.loads(run.output)  # nothing but JSON, on stdout and stderr alike
    assert run.returncode == 0, run.output
    assert data["verdict"] in ("ok", "warn")
    verdicts = {f["name"]: f["verdict"] for f in data["findings"]}
    for name in ("cmake", "ninja", "venv", "preset vs cache", "installed kernels", "build dir"):
        assert verdicts[name] == "ok", data


def test_doctor_without_the_venv_exits_1_naming_it(src: Path, env: dict[str, str]) -> None:
    venv, aside = src / ".venv", src.parent / "venv-aside"
    venv.rename(aside)
    try:
        run = invoke("doctor", "--source", str(src), env=env)
    finally:
        aside.rename(venv)
    assert run.returncode == 1, run.output
    assert str(venv) in run.output and "invoke bootstrap" in run.output


def test_compile_commands_at_the_root_points_into_the_build_dir(src: Path) -> None:
    link = src / "compile_commands.json"
    assert link.is_symlink()
    assert link.resolve().parent == build_dir(src).resolve()
    files = {Path(e["file"]).name for e in json.loads(link.read_text())}
    assert "layernorm.cpp" in files and (not HAS_NVCC or "activation_kernels.cu" in files)


def ours(src: Path) -> list[int]:
    """Processes (not zombies) whose command line names the copy."""
    needle, found = str(src).encode(), []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if needle in cmdline.read_bytes() and int(cmdline.parent.name) != os.getpid():
                if (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(cmdline.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def wait_for(what: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while not what():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_watch_rebuilds_on_save_runs_then_and_ends_on_ctrl_c(
    src: Path, env: dict[str, str]
) -> None:
    installed = src / "minivllm" / "_C.abi3.so"
    before = digest(installed)
    marker = src / "then-ran.txt"
    then = "python -c \"import sys; open('then-ran.txt', 'a').write(sys.prefix + chr(10))\""
    proc = start("watch", "--source", str(src), "--then", then, env=env)
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()

    def status(trigger: str) -> Callable[[], bool]:
        """The status line of a good cycle started by `trigger` whose --then ran."""
        return lambda: any(
            f"{trigger}: build ok" in line and "then: ok" in line for line in list(lines)
        )

    try:
        assert wait_for(status("start")), f"no good first cycle:\n{''.join(lines)}"
        with (src / "csrc" / "layernorm.cpp").open("a") as handle:
            handle.write('\nextern "C" int minivllm_watch_marker() { return 7; }\n')
        edited = status("csrc/layernorm.cpp")
        assert wait_for(edited), f"no good cycle after the edit:\n{''.join(lines)}"
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=120)
        reader.join(timeout=10)
    output = "".join(lines)
    assert code == 0, f"Ctrl-C ended watch with {code}, not 0:\n{output}"
    assert f"stopped watching {src}" in output and "error" not in output, output
    line = next(line for line in lines if "csrc/layernorm.cpp: build ok" in line)
    assert "(1 unit)" in line, f"the edit should rebuild exactly one unit: {line}"
    assert digest(installed) != before, "the edited _C was not installed"
    ran_in = set(marker.read_text().splitlines())
    assert ran_in == {str(src / ".venv")}, f"--then should run with the venv's python: {ran_in}"
    assert wait_for(lambda: not ours(src), 10), f"left running: {ours(src)}"
