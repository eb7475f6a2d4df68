"""The memory gate (build_tools/process/gate.py): what it expects of a unit, what it reads of
/proc and the cgroup, and admission with real processes and an injected available memory
(VLLM_BUILD_GATE_TEST_AVAILABLE): a compile that fits starts beside another, one that does not
waits until the other ends, one that fits nowhere runs alone, compiles are admitted in the
order they asked, an admitted compile's expectation follows what its family shows meanwhile;
exec keeps the pid and the exit status; an error of the gate never stops the compile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_tools.insight import held, memory
from build_tools.process import gate, gate_memory, gate_pause, gate_peaks, gate_reservations

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
        measured = {u: memory.Measured(p, "cc1plus") for u, p in peaks.items()}
        memory.record(root, root / "build", measured)
        self.store = memory.store(root, root / "build")
        self.reservations = root / "reservations"
        self.available = available
        self.now = root / "available-now"  # what the watch over admitted compiles sees
        self.now.write_text(str(available))
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
            gate_pause.TEST_NOW: str(self.now),
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
    compile_a = int((tmp_path / "a.o.start").read_text())
    stat = gate_memory.stat_of(compile_a)
    assert stat is not None and stat[0] == a.pid, "the compile runs as the gate's child"
    b = g.start("b.o")
    wait_for(g.reservations / f"{b.pid}{gate_reservations.WAITING}", "b waits (600 + 600 > 1024)")
    assert not (tmp_path / "b.o.start").exists(), "b started while a held 600 of 1024 MiB"
    g.release("a.o")
    assert a.wait(60) == 0
    wait_for(tmp_path / "b.o.start", "b is admitted once a ended")
    g.release("b.o")
    assert b.wait(60) == 0
    assert b.stderr is not None and b.stderr.read() == "", "a wait says nothing on stderr"
    record = (g.store.parent / (g.store.name + gate.WAITS)).read_text()
    found = held.parse_waits(record)
    began, admitted = found.began, found.admitted
    assert [w.unit for w in began] == ["b.o"], f"b began to wait once, a never: {record}"
    assert began[0].expected == 600 * MiB and "available" in began[0].reason, began
    assert [w.unit for w in admitted] == ["b.o"] and (admitted[0].seconds or 0) >= gate.POLL_S, (
        record
    )
    assert admitted[0].why == "measured", admitted
    waits = held.gate_waits(tmp_path, tmp_path / "build", 0)
    said = waits.line if waits else ""
    assert said.startswith("the memory gate held 1 compile(s)"), said
    assert "longest wait b.o" in said and "0.6 GiB (measured)" in said, said
    offset = held.waits_offset(tmp_path, tmp_path / "build")
    assert held.gate_waits(tmp_path, tmp_path / "build", offset) is None, "only new waits"


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
    assert "huge.o expects 4.0 GiB (measured), 1.0 GiB available" in note, note
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


def state_of(pid: int) -> str:
    stat = gate_memory.stat_of(pid)
    return stat[1] if stat else "gone"


def wait_state(pid: int, wanted: str, what: str) -> None:
    deadline = time.monotonic() + 30
    while state_of(pid) != wanted:
        assert time.monotonic() < deadline, f"{what}: state {state_of(pid)}, not {wanted}"
        time.sleep(0.02)


def test_when_memory_runs_short_the_youngest_compile_pauses_until_there_is_room(
    tmp_path: Path, gates: list[Gates]
) -> None:
    """Expectations were low (a stale store): three compiles were admitted and memory runs
    short. The youngest is paused (SIGSTOP), then the next youngest, and no new compile is
    admitted; the oldest never pauses (its watch is asked once the spacing between pauses is
    over); once there is room again the paused ones resume and the queue moves on."""
    g = Gates(tmp_path, {f"{u}.o": 50 * MiB for u in "abcd"}, available=4096 * MiB)
    gates.append(g)
    procs = {}
    for unit in "abc":
        procs[unit] = g.start(f"{unit}.o")
        wait_for(tmp_path / f"{unit}.o.start", f"{unit} is admitted")
    compiles = {u: int((tmp_path / f"{u}.o.start").read_text()) for u in "abc"}
    g.now.write_text(str(100 * MiB))  # below the margin: memory runs short
    wait_state(compiles["c"], "T", "the youngest compile is paused")
    paused = g.reservations / f"{procs['c'].pid}{gate_pause.PAUSED}"
    assert paused.exists(), "its pause is recorded for the other gates"
    said = held.parse_waits((g.store.parent / (g.store.name + gate.WAITS)).read_text()).paused
    assert [p.unit for p in said] == ["c.o"], said
    wait_state(compiles["b"], "T", "memory stays short: the next youngest pauses after a spacing")
    assert state_of(compiles["a"]) != "T", "a runs"
    # a is the oldest compile that still runs: its watch, asked now with the spacing over, keeps
    # it running (the same rule that paused c and b would pause it, were it not the oldest).
    (g.reservations / gate_pause.LAST_PAUSE).write_text("0")
    environ = {gate_reservations.TEST_AVAILABLE: str(g.available), gate_pause.TEST_NOW: str(g.now)}
    boot = gate_memory.boot_id()
    entry_a = next(r for r in gate_reservations.live(str(g.reservations), boot, 0)
                   if r.pid == procs["a"].pid)  # fmt: skip
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        watch_a = gate_pause.Watch(
            entry_a, str(g.reservations), [], environ, gate_reservations.margin([], environ)
        )
        watch_a.child = stand_in.pid  # what it would pause, were it wrong
        watch_a._look()
        assert watch_a.stopped == [], "the oldest running compile is never paused"
        assert state_of(stand_in.pid) != "T"
    finally:
        stand_in.kill()
        stand_in.wait()
    d = g.start("d.o")  # fits by expectation, but memory ran short
    wait_for(g.reservations / f"{d.pid}{gate_reservations.WAITING}", "d waits while one is paused")
    g.now.write_text(str(4096 * MiB))
    wait_state(compiles["c"], "S", "the paused compile resumes once there is room")
    wait_for(tmp_path / "d.o.start", "then the queue moves on")
    assert not paused.exists()
    for unit in "abcd":
        g.release(f"{unit}.o")
    assert [p.wait(60) for p in [*procs.values(), d]] == [0, 0, 0, 0]


def test_a_signal_for_the_gate_reaches_the_compile_and_the_gate_ends_as_it_did(
    tmp_path: Path, gates: list[Gates]
) -> None:
    g = Gates(tmp_path, {}, available=4096 * MiB)
    gates.append(g)
    proc = g.start("s.o")
    wait_for(tmp_path / "s.o.start", "admitted")
    child = int((tmp_path / "s.o.start").read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == -signal.SIGTERM, "the gate ends by the compile's signal"
    assert state_of(child) == "gone", "the compile took the signal too"


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
    (directory / f"{ended.stdout.strip()}{gate_reservations.SUFFIX}").write_text("an older gate's")
    (directory / f"{os.getppid()}{gate_reservations.SUFFIX}").write_text("being written")
    found = gate_reservations.live(str(directory), boot, os.getpid())
    assert [r.pid for r in found] == [os.getppid()], found
    left = sorted(p.name for p in directory.iterdir())
    assert left == sorted(
        [f"alive{gate_reservations.SUFFIX}", f"{os.getppid()}{gate_reservations.SUFFIX}"]
    ), f"the expired three and the unreadable file of a pid that is gone were removed: {left}"


def test_expected_peak_is_learned_else_a_prior_by_language() -> None:
    store = {"CMakeFiles/t.dir/k.cu.o": 5 * MiB, "CMakeFiles/t.dir/z.cpp.o": 0}
    cu = ["nvcc", "-x", "cu", "-c", "/s/k.cu", "-o", "CMakeFiles/t.dir/k.cu.o"]
    assert gate_peaks.expected_peak(cu, store) == (5 * MiB, "measured")
    new_cu = ["ccache", "nvcc", "-c", "/s/n.cu", "-o", "CMakeFiles/t.dir/n.cu.o"]
    assert gate_peaks.expected_peak(new_cu, store) == (gate_peaks.PRIOR_CUDA, "CUDA prior")
    cpp = ["sccache", "c++", "-o", "CMakeFiles/t.dir/z.cpp.o", "-c", "/s/z.cpp"]
    assert gate_peaks.expected_peak(cpp, store) == (gate_peaks.PRIOR_CXX, "C/C++ prior"), (
        "0 is no peak"
    )
    assert gate_peaks.expected_peak(["c++", "-E", "x.cpp"], {})[0] > 0, "never 0"


def test_the_store_is_read_as_memory_py_writes_it(tmp_path: Path) -> None:
    peaks = {"CMakeFiles/a b.dir/k\u00e9.cu.o": 7, 'x"\\y.o': 2**40, "z.o": 1}
    memory.record(
        tmp_path, tmp_path / "build", {u: memory.Measured(p, "cicc") for u, p in peaks.items()}
    )
    path = memory.store(tmp_path, tmp_path / "build")
    data = json.loads(path.read_text())
    assert gate_peaks.loads(path.read_text()) == data, "the gate's JSON reader reads it whole"
    assert gate_peaks.read_store(str(path)) == peaks == memory.load(tmp_path, tmp_path / "build")
    entry = data["units"]["z.o"]
    assert entry["by"] == "cicc" and entry["measured"].startswith("20"), "measured, and when"
    memory.record(tmp_path, tmp_path / "build", {"z.o": memory.Measured(0, "cc1")})
    assert memory.load(tmp_path, tmp_path / "build")["z.o"] == 1, "the larger peak stays"
    assert gate_peaks.loads(' {"a":[1, 2.5, "x", true, null, {}] }\n') == {
        "a": [1, 2.5, "x", True, None, {}]
    }
    for corrupt in ('{"a": 1', "[1]", "", '{"a\\q": 1}', '{"format": 2, "units": {}} x'):
        path.write_text(corrupt)
        assert gate_peaks.read_store(str(path)) == {}, f"{corrupt!r}: the priors, never a failure"
    path.write_text(json.dumps({"CMakeFiles/t.dir/u.o": 10_000_000}))
    assert gate_peaks.read_store(str(path)) == {}, (
        "a store of the first format may hold peaks of cache hits: read as empty"
    )
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
    store = {f"{folder}/k{i}.cu.o": (i + 1) * GiB for i in range(2)}
    store[f"{folder}/ops.cpp.o"] = 100 * MiB  # another language: not of the family
    new = ["nvcc", "-c", "marlin/k9.cu", "-o", f"{folder}/k9.cu.o"]
    assert gate_peaks.expected_peak(new, store) == (
        int(2 * GiB * gate_peaks.FAMILY_MARGIN),
        "its folder's units",
    )
    one = {k: v for k, v in list(store.items())[1:]}
    assert gate_peaks.expected_peak(new, one) == (gate_peaks.PRIOR_CUDA, "CUDA prior"), (
        "one unit is no family"
    )
    elsewhere = ["nvcc", "-c", "x.cu", "-o", "CMakeFiles/_C.dir/csrc/x.cu.o"]
    assert gate_peaks.expected_peak(elsewhere, store)[1] == "CUDA prior", "another folder's units"
    cpp = ["c++", "-c", "marlin/n.cpp", "-o", f"{folder}/n.cpp.o"]
    assert gate_peaks.expected_peak(cpp, store)[1] == "C/C++ prior"


def test_the_prior_is_scaled_to_this_build_dirs_units_of_the_language() -> None:
    units = {f"CMakeFiles/_C.dir/csrc/f{i}/k.cu.o": (i + 1) * 256 * MiB for i in range(3)}
    new = ["nvcc", "-c", "q.cu", "-o", "CMakeFiles/_C.dir/csrc/quant/q.cu.o"]
    assert gate_peaks.expected_peak(new, units) == (
        int(768 * MiB * gate_peaks.SCALE_MARGIN),
        "this build dir's CUDA units",
    ), "three CUDA units of other folders measured: twice the largest"
    threaded = ["nvcc", "--threads", "3", "-c", "q.cu", "-o", "CMakeFiles/_C.dir/q/q.cu.o"]
    assert gate_peaks.expected_peak(threaded, {}) == (3 * gate_peaks.PRIOR_CUDA, "CUDA prior"), (
        "nvcc compiling three archs at once"
    )
    assert gate_peaks.expected_peak(new, dict(list(units.items())[:2]))[1] == "CUDA prior"
    heavy = {k: 10 * GiB for k in units}
    assert gate_peaks.expected_peak(new, heavy) == (gate_peaks.PRIOR_CUDA, "CUDA prior"), (
        "never above the prior"
    )
    cpp = ["c++", "-c", "n.cpp", "-o", "CMakeFiles/_C.dir/csrc/n.cpp.o"]
    assert gate_peaks.expected_peak(cpp, units)[1] == "C/C++ prior", "another language"


def test_an_admitted_compile_expects_what_its_family_shows_now_and_more_once_it_outgrows_it(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store.json"
    me = gate_reservations.Reservation(
        os.getpid(), 0, "", gate_peaks.PRIOR_CUDA, "CMakeFiles/t.dir/f/new.cu.o", "", "/", "/",
        False, cuda=True, store=str(store),
    )  # fmt: skip
    nothing: dict[str, dict[str, int]] = {str(store): {}}
    assert gate_reservations.expectation(me, 0, nothing) == (gate_peaks.PRIOR_CUDA, "CUDA prior")
    family = {str(store): {f"CMakeFiles/t.dir/f/k{i}.cu.o": GiB for i in range(2)}}
    assert gate_reservations.expectation(me, 0, family) == (
        int(GiB * gate_peaks.FAMILY_MARGIN),
        "its folder's units",
    ), "its family, measured while it ran, is what it holds back now, not the prior"
    outgrown = gate_reservations.expectation(me, 2 * GiB, family)
    assert outgrown == (3 * GiB, "outgrew its expectation"), outgrown


def test_compiles_are_admitted_in_the_order_they_asked(tmp_path: Path, gates: list[Gates]) -> None:
    """A big unit that waits is not overtaken by a smaller one behind it that would fit: the
    critical path keeps its place."""
    g = Gates(
        tmp_path, {"a.o": 500 * MiB, "big.o": 700 * MiB, "small.o": 100 * MiB}, available=1200 * MiB
    )
    gates.append(g)
    g.start("a.o")
    wait_for(tmp_path / "a.o.start", "a is admitted")
    g.start("big.o")  # 500 + 700 + the margin > 1200 MiB: waits for a
    waiting = g.reservations / f"{g.started[-1].pid}{gate_reservations.WAITING}"
    wait_for(waiting, "big waits in the queue")
    g.start("small.o")  # would fit beside a, but big asked first
    wait_for(g.reservations / f"{g.started[-1].pid}{gate_reservations.WAITING}", "small queues")
    assert not (tmp_path / "small.o.start").exists(), "small overtook big, which asked first"
    g.release("a.o")
    wait_for(tmp_path / "big.o.start", "big is admitted once a ended")
    wait_for(tmp_path / "small.o.start", "then small, beside big (700 + 100 MiB fit)")
    assert not waiting.exists(), "an admitted compile leaves the queue"


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
