"""The memory gate (build_tools/process/gate.py): what it expects of a unit, what it reads of
/proc and the cgroup, and admission with real processes and an injected available memory
(VLLM_BUILD_GATE_TEST_AVAILABLE): a compile that fits starts beside another, one that does not
waits until the other ends, one that fits nowhere runs alone; exec keeps the pid and the exit
status; an error of the gate never stops the compile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_tools.insight import memory
from build_tools.process import gate, gate_memory, gate_peaks, gate_reservations

MiB = 2**20
GiB = 2**30
GATE = Path(gate.__file__)
# A "compile" of the unit after -o: says it started (its pid, written whole before the file
# appears), then holds until released.
HOLD = (
    "import os, time\n"
    "mark = os.environ['MARK']\n"
    "with open(mark + '.tmp', 'w') as f:\n"
    "    f.write(str(os.getpid()))\n"
    "os.replace(mark + '.tmp', mark + '.start')\n"
    "while not os.path.exists(mark + '.release'):\n"
    "    time.sleep(0.02)\n"
)


def wait_for(path: Path, what: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        assert time.monotonic() < deadline, f"{what}: {path} never appeared"
        time.sleep(0.02)


class Gates:
    """Gated fake compiles sharing one store and one reservations dir."""

    def __init__(self, root: Path, peaks: dict[str, int], available: int) -> None:
        self.root = root
        self.store = root / "store.json"
        memory.record(root, root / "build", peaks)
        self.store = memory.store(root, root / "build")
        self.reservations = root / "reservations"
        self.available = available
        self.started: list[subprocess.Popen[str]] = []

    def argv(self, *command: str) -> list[str]:
        return [
            sys.executable, "-S", "-E", str(GATE), "--store", str(self.store),
            "--reservations", str(self.reservations), "--", *command,
        ]  # fmt: skip

    def start(self, unit: str, source: str = "u.cpp") -> subprocess.Popen[str]:
        env = {
            **os.environ,
            "MARK": str(self.root / unit),
            gate_reservations.TEST_AVAILABLE: str(self.available),
        }
        proc = subprocess.Popen(
            self.argv(sys.executable, "-c", HOLD, source, "-o", unit),
            env=env, cwd=self.root, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.started.append(proc)
        return proc

    def release(self, unit: str) -> None:
        (self.root / f"{unit}.release").write_text("")

    def end(self) -> None:
        for proc in self.started:
            for unit in self.root.glob("*.o.start"):
                self.release(unit.name[: -len(".start")])
            proc.wait(60)


@pytest.fixture
def gates(tmp_path: Path) -> Iterator[list[Gates]]:
    made: list[Gates] = []
    yield made
    for g in made:
        g.end()


def test_a_compile_that_does_not_fit_waits_until_the_other_ends(
    tmp_path: Path, gates: list[Gates]
) -> None:
    g = Gates(tmp_path, {"a.o": 600 * MiB, "b.o": 600 * MiB}, available=1024 * MiB)
    gates.append(g)
    a = g.start("a.o")
    wait_for(tmp_path / "a.o.start", "a alone is admitted at once")
    assert (tmp_path / "a.o.start").read_text() == str(a.pid), "exec keeps the gate's pid"
    b = g.start("b.o")
    time.sleep(1.5)  # several polls: b must still be waiting (600 + 600 MiB > 1 GiB)
    assert not (tmp_path / "b.o.start").exists(), "b started while a held 600 of 1024 MiB"
    g.release("a.o")
    assert a.wait(60) == 0
    wait_for(tmp_path / "b.o.start", "b is admitted once a ended")
    g.release("b.o")
    assert b.wait(60) == 0
    assert b.stderr is not None and b.stderr.read() == "", "a wait says nothing"
    waits = (g.store.parent / (g.store.name + gate.WAITS)).read_text().splitlines()
    assert [w.split("\t")[0] for w in waits] == ["b.o"], f"b waited, a did not: {waits}"
    _, seconds, peak, why = waits[0].split("\t")
    assert float(seconds) >= 1.0 and int(peak) == 600 * MiB and why == "learned", waits
    held = memory.gate_waits(tmp_path, tmp_path / "build", 0)
    said = held.line if held else ""
    assert said.startswith("the memory gate held 1 compile(s)"), said
    assert "longest b.o" in said and "0.6 GiB (learned)" in said, said
    offset = memory.waits_offset(tmp_path, tmp_path / "build")
    assert memory.gate_waits(tmp_path, tmp_path / "build", offset) is None, "only new waits"


def test_a_compile_that_fits_starts_beside_the_other(tmp_path: Path, gates: list[Gates]) -> None:
    g = Gates(tmp_path, {"a.o": 300 * MiB, "b.o": 300 * MiB}, available=1024 * MiB)
    gates.append(g)
    g.start("a.o")
    wait_for(tmp_path / "a.o.start", "a is admitted")
    g.start("b.o")
    wait_for(tmp_path / "b.o.start", "b fits beside a (300 + 300 MiB of 1 GiB)")
    assert not (tmp_path / "a.o.release").exists(), "a was still running when b started"
    reservations = sorted(p.name for p in g.reservations.glob("*" + gate_reservations.SUFFIX))
    assert len(reservations) == 2, f"both hold a reservation while they run: {reservations}"


def test_a_unit_bigger_than_the_machine_runs_alone_and_says_so(
    tmp_path: Path, gates: list[Gates]
) -> None:
    g = Gates(tmp_path, {"huge.o": 4096 * MiB}, available=1024 * MiB)
    gates.append(g)
    proc = g.start("huge.o")
    wait_for(tmp_path / "huge.o.start", "no other compile runs: admitted at once")
    g.release("huge.o")
    assert proc.wait(60) == 0
    assert proc.stderr is not None
    note = proc.stderr.read()
    assert "huge.o expects 4.0 GiB (learned), 1.0 GiB available" in note, note
    assert "runs alone" in note and note.count("\n") == 1, f"one line: {note!r}"


def test_the_exit_status_passes_through_and_a_gate_error_never_stops_the_compile(
    tmp_path: Path,
) -> None:
    g = Gates(tmp_path, {}, available=1024 * MiB)
    code = "import sys; sys.exit(3)"
    plain = subprocess.run(g.argv(sys.executable, "-c", code, "-o", "x.o"), cwd=tmp_path)
    assert plain.returncode == 3, "the compile's exit status, unchanged"
    (tmp_path / "not a dir").write_text("")
    argv = g.argv(sys.executable, "-c", code, "-o", "x.o")
    argv[argv.index("--reservations") + 1] = str(tmp_path / "not a dir")
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 3, "the compile ran although the gate could not work"
    assert "compiling without waiting" in done.stderr and done.stderr.count("\n") == 1
    done = subprocess.run(g.argv()[:-1], capture_output=True, text=True)  # no `--`
    assert done.returncode == 2 and "usage" in done.stderr


def test_expired_reservations_are_removed(tmp_path: Path) -> None:
    directory = tmp_path / "r"
    directory.mkdir()
    boot = gate_memory.boot_id()
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    me = gate_memory.stat_of(os.getpid())
    assert me is not None
    parent = gate_memory.stat_of(os.getppid())
    assert parent is not None
    rows = {
        "ended": (int(ended.stdout), 1, boot),  # its pid is gone
        "reused": (os.getppid(), parent[2] + 1, boot),  # the pid now is another process
        "other boot": (os.getppid(), parent[2], "another-boot"),
        "alive": (os.getppid(), parent[2], boot),
    }
    for name, (pid, start, booted) in rows.items():
        entry = gate_reservations.Reservation(pid, start, booted, MiB, "", "", "/", "/", False)
        (directory / f"{name}{gate_reservations.SUFFIX}").write_text(entry.text())
    found = gate_reservations.live(str(directory), boot, os.getpid())
    assert [r.pid for r in found] == [os.getppid()], found
    left = sorted(p.name for p in directory.iterdir())
    assert left == [f"alive{gate_reservations.SUFFIX}"], f"the expired three were removed: {left}"


def test_expected_peak_is_learned_else_a_prior_by_language() -> None:
    store = {"CMakeFiles/t.dir/k.cu.o": 5 * MiB, "CMakeFiles/t.dir/z.cpp.o": 0}
    cu = ["nvcc", "-x", "cu", "-c", "/s/k.cu", "-o", "CMakeFiles/t.dir/k.cu.o"]
    assert gate_peaks.expected_peak(cu, store) == (5 * MiB, "learned")
    new_cu = ["ccache", "nvcc", "-c", "/s/n.cu", "-o", "CMakeFiles/t.dir/n.cu.o"]
    assert gate_peaks.expected_peak(new_cu, store) == (gate_peaks.PRIOR_CUDA, "CUDA prior")
    cpp = ["sccache", "c++", "-o", "CMakeFiles/t.dir/z.cpp.o", "-c", "/s/z.cpp"]
    assert gate_peaks.expected_peak(cpp, store) == (gate_peaks.PRIOR_CXX, "C/C++ prior"), (
        "0 is no peak"
    )
    assert gate_peaks.expected_peak(["c++", "-E", "x.cpp"], {})[0] > 0, "never 0"


def test_the_store_is_read_as_memory_py_writes_it(tmp_path: Path) -> None:
    peaks = {"CMakeFiles/a b.dir/k\u00e9.cu.o": 7, 'x"\\y.o': 2**40, "z.o": 1}
    memory.record(tmp_path, tmp_path / "build", peaks)
    path = memory.store(tmp_path, tmp_path / "build")
    assert gate_peaks.read_store(str(path)) == json.loads(path.read_text()) == peaks
    assert gate_peaks.parse_peaks("{}") == {} and gate_peaks.parse_peaks(' {"a":1 }\n') == {"a": 1}
    for corrupt in ('{"a": 1', '{"a": "1"}', "[1]", '{"a": 1.5}', "", '{"a\\q": 1}'):
        path.write_text(corrupt)
        assert gate_peaks.read_store(str(path)) == {}, f"{corrupt!r}: the priors, never a failure"
    assert gate_peaks.read_store(str(tmp_path / "missing.json")) == {}


def fake_proc(root: Path, cgroup: str, mountinfo: str) -> Path:
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "self" / "cgroup").write_text(cgroup)
    (root / "proc" / "self" / "mountinfo").write_text(mountinfo)
    return root / "proc"


def test_cgroup_v1_available_is_the_tightest_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount = tmp_path / "cg"
    monkeypatch.setattr(gate_memory, "PROC", str(fake_proc(
        tmp_path,
        "9:name=systemd:/\n4:memory:/build/one\n0::/\n",
        f"30 25 0:27 / {mount} rw,relatime shared:9 - cgroup cgroup rw,memory\n",
    )))  # fmt: skip
    levels = {  # dir -> limit, usage, inactive file pages
        "build/one": (gate_memory.UNLIMITED + 1, 100 * MiB, 0),
        "build": (1024 * MiB, 700 * MiB, 100 * MiB),
        "": (8192 * MiB, 2048 * MiB, 0),
    }
    for sub, (limit, usage, inactive) in levels.items():
        (mount / sub).mkdir(parents=True, exist_ok=True)
        (mount / sub / "memory.limit_in_bytes").write_text(f"{limit}\n")
        (mount / sub / "memory.usage_in_bytes").write_text(f"{usage}\n")
        (mount / sub / "memory.stat").write_text(f"cache 1\ntotal_inactive_file {inactive}\n")
    path, v2 = gate_memory.own_cgroup()
    assert (path, v2) == ("/build/one", False)
    found = gate_memory.cgroup_levels(path, v2)
    assert [level.path for level in found] == ["/build/one", "/build", "/"]
    free = [gate_memory.level_available(level) for level in found]
    assert free == [None, (1024 - 600) * MiB, (8192 - 2048) * MiB], free
    assert gate_memory.under("/build/one/x", "/build") and not gate_memory.under(
        "/buildx", "/build"
    )


def test_cgroup_v2_available(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mount = tmp_path / "unified"
    monkeypatch.setattr(gate_memory, "PROC", str(fake_proc(
        tmp_path, "0::/user/job\n", f"35 25 0:30 / {mount} rw - cgroup2 cgroup2 rw\n"
    )))  # fmt: skip
    for sub, limit in {"user/job": "max", "user": str(2048 * MiB)}.items():
        (mount / sub).mkdir(parents=True, exist_ok=True)
        (mount / sub / "memory.max").write_text(limit + "\n")
        (mount / sub / "memory.current").write_text(f"{1024 * MiB}\n")
        (mount / sub / "memory.stat").write_text(f"anon 1\ninactive_file {24 * MiB}\n")
    found = gate_memory.cgroup_levels(*gate_memory.own_cgroup())
    assert [level.path for level in found] == ["/user/job", "/user", "/"]
    assert [gate_memory.level_available(level) for level in found[:2]] == [None, 1048 * MiB]


def test_the_test_only_variable_replaces_the_measured_memory() -> None:
    assert (
        gate_reservations.available([], [], {gate_reservations.TEST_AVAILABLE: str(5 * MiB)})
        == 5 * MiB
    )
    measured = gate_reservations.available([], [], {})
    assert measured is not None and measured > 0, "MemAvailable is read on Linux"


def test_a_unit_not_measured_expects_what_its_folder_showed() -> None:
    folder = "CMakeFiles/_moe_C.dir/csrc/moe/marlin"
    store = {f"{folder}/k{i}.cu.o": (i + 1) * GiB for i in range(3)}
    store[f"{folder}/ops.cpp.o"] = 100 * MiB  # another language: not of the family
    new = ["nvcc", "-c", "marlin/k9.cu", "-o", f"{folder}/k9.cu.o"]
    assert gate_peaks.expected_peak(new, store) == (
        int(3 * GiB * gate_peaks.FAMILY_MARGIN),
        "its folder's units",
    )
    two = {k: v for k, v in list(store.items())[1:]}
    assert gate_peaks.expected_peak(new, two) == (gate_peaks.PRIOR_CUDA, "CUDA prior"), (
        "two are no family"
    )
    elsewhere = ["nvcc", "-c", "x.cu", "-o", "CMakeFiles/_C.dir/csrc/x.cu.o"]
    assert gate_peaks.expected_peak(elsewhere, store)[1] == "CUDA prior", "another folder's units"
    cpp = ["c++", "-c", "marlin/n.cpp", "-o", f"{folder}/n.cpp.o"]
    assert gate_peaks.expected_peak(cpp, store)[1] == "C/C++ prior"


def test_the_installed_gate_runs_alone_with_its_modules(tmp_path: Path) -> None:
    """Written where a preset names it, the gate brings its modules and runs without
    build_tools (the checkout's venv does not have it); a second install writes nothing."""
    target = tmp_path / "state dir" / "gate.py"
    assert gate.install(target), "a first install writes the gate"
    assert sorted(p.name for p in target.parent.glob("*.py")) == sorted(("gate.py", *gate.MODULES))
    assert not gate.install(target), "an installed gate is not written again"
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    argv = [sys.executable, "-S", "-E", str(target), "--store", str(tmp_path / "none.json")]
    code = "import sys; print('compiled', 'build_tools' in sys.modules)"
    done = subprocess.run(
        [*argv, "--reservations", str(tmp_path / "r"), "--", sys.executable, "-c", code],
        cwd=elsewhere, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout == "compiled False\n", done
    assert "memory gate" not in done.stderr, f"the gate fell back to no gate: {done.stderr}"
    (target.parent / "gate_memory.py").write_text("# an older one\n")
    assert gate.install(target), "a changed module is written again"
    assert (target.parent / "gate_memory.py").read_text() == Path(gate_memory.__file__).read_text()
