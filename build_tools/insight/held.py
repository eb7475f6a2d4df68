"""What the memory gate (process/gate.py) held during a build, from its record (the store's
name + gate.WAITS, one line when a compile begins to wait and one when it is admitted): each
held compile said once while the build runs (ninja prints a compile's output only when it
ends), the line after the build on what the waits cost, and each unit's wait kept beside the
ninja log so `invoke report` and `build --plan` tell a unit's own time from its wait."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from build_tools.insight.memory import store
from build_tools.insight.ninja_log import Entry
from build_tools.process import gate, gate_pause

WAITS_KEPT = 1 << 20
HELD_POLL_S = 0.5


def waits_file(state_dir: Path, build_dir: Path) -> Path:
    """Where the memory gate records the compiles it held (gate.WAITS)."""
    path = store(state_dir, build_dir)
    return path.with_name(path.name + gate.WAITS)


def waits_offset(state_dir: Path, build_dir: Path) -> int:
    """Where the memory gate's record of waits ends now (0 when there is none; a record grown
    past WAITS_KEPT bytes is started afresh)."""
    path = waits_file(state_dir, build_dir)
    try:
        size = path.stat().st_size
        if size > WAITS_KEPT:
            path.unlink()
            return 0
        return size
    except OSError:
        return 0


@dataclass(frozen=True)
class Held:
    """One compile the memory gate held: its unit, the seconds it waited (None: still waiting),
    the bytes expected of it and why, and what held it (memory short, compiles ahead)."""

    unit: str
    seconds: Optional[float]
    expected: int
    why: str
    reason: str = ""

    @property
    def began_line(self) -> str:
        reason = f"; {self.reason}" if self.reason else ""
        return (
            f"the memory gate holds {self.unit}: it expects {_gib(self.expected)} ({self.why})"
            f"{reason}"
        )


def _gib(value: int) -> str:
    return f"{value / 2**30:.1f} GiB"


@dataclass(frozen=True)
class Pause:
    """A compile the memory gate's watch paused when memory ran short: its unit, the bytes
    available then, and how long it stayed paused (None: not resumed yet)."""

    unit: str
    available: int
    seconds: Optional[float] = None

    @property
    def line(self) -> str:
        return (
            f"the memory gate paused {self.unit}: {_gib(self.available)} left, so the compiles "
            "admitted before it go on first"
        )


@dataclass(frozen=True)
class Record:
    """What the gate's record holds from an offset on."""

    began: tuple[Held, ...] = ()  # compiles that began to wait
    admitted: tuple[Held, ...] = ()  # compiles admitted after waiting, with the seconds
    paused: tuple[Pause, ...] = ()  # compiles paused, with the seconds once resumed


def parse_waits(text: str) -> Record:
    """The gate's record (gate.WAITS; lines that cannot be read are left out)."""
    began: list[Held] = []
    admitted: list[Held] = []
    paused: dict[str, list[Pause]] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        try:
            if fields[0] == gate.HELD:
                began.append(Held(fields[1], None, int(fields[2]), fields[3], fields[4]))
            elif fields[0] == gate.ADMITTED:
                admitted.append(Held(fields[1], float(fields[2]), int(fields[3]), fields[4]))
            elif fields[0] == gate_pause.PAUSE_LINE:
                paused.setdefault(fields[1], []).append(Pause(fields[1], int(fields[2])))
            elif fields[0] == gate_pause.RESUME_LINE and paused.get(fields[1]):
                last = paused[fields[1]][-1]
                paused[fields[1]][-1] = Pause(last.unit, last.available, float(fields[2]))
        except (IndexError, ValueError):
            continue
    pauses = tuple(p for each in paused.values() for p in each)
    return Record(tuple(began), tuple(admitted), pauses)


def read_waits(state_dir: Path, build_dir: Path, offset: int) -> bytes:
    """The gate's record from `offset` on (b"" when there is none)."""
    try:
        with open(waits_file(state_dir, build_dir), "rb") as handle:
            handle.seek(offset)
            return handle.read()
    except OSError:
        return b""


@dataclass(frozen=True)
class GateWaits:
    """The compiles the memory gate held during one build, and those it paused."""

    waits: tuple[Held, ...]
    pauses: tuple[Pause, ...] = ()

    @property
    def count(self) -> int:
        return len(self.waits)

    @property
    def seconds(self) -> float:
        return sum(w.seconds or 0 for w in self.waits)

    @property
    def longest(self) -> Held:
        return max(self.waits, key=lambda w: w.seconds or 0)

    @property
    def by_unit(self) -> dict[str, float]:
        return {w.unit: w.seconds or 0 for w in self.waits}

    @property
    def summary(self) -> str:
        held = f"the memory gate held {self.count} compile(s) {self.seconds:.0f} s in all"
        paused = sum(p.seconds or 0 for p in self.pauses)
        also = f" and paused {len(self.pauses)} for {paused:.0f} s" if self.pauses else ""
        if not self.waits:
            return f"the memory gate paused {len(self.pauses)} compile(s) {paused:.0f} s in all"
        return held + also

    @property
    def line(self) -> str:
        if not self.waits:
            return f"{self.summary}: memory ran short (their times above include the pause)"
        longest = self.longest
        return (
            f"{self.summary} (their times above include it); longest wait "
            f"{longest.unit} {longest.seconds or 0:.0f} s, expecting {_gib(longest.expected)} "
            f"({longest.why})"
        )


def gate_waits(state_dir: Path, build_dir: Path, offset: int) -> Optional[GateWaits]:
    """The compiles the memory gate held since `offset` (None when none waited): their wait
    counts in the unit's time in ninja's log."""
    found = parse_waits(read_waits(state_dir, build_dir, offset).decode("utf-8", "replace"))
    if not found.admitted and not found.paused:
        return None
    return GateWaits(found.admitted, found.paused)


class HeldWatcher:
    """Says each compile the memory gate begins to hold, once, while the build runs (ninja
    prints a compile's output only when it ends): a runner observer, like Sampler."""

    def __init__(
        self, state_dir: Path, build_dir: Path, offset: int, say: Callable[[str], None]
    ) -> None:
        self.where, self.offset, self.say = (state_dir, build_dir), offset, say
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._said: set[str] = set()

    def observe(self, session: Optional[int]) -> None:
        if session is None:
            self._stop.set()
            if self._thread:
                self._thread.join()
            self.poll()
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(HELD_POLL_S):
            self.poll()

    def poll(self) -> None:
        data = read_waits(*self.where, self.offset)
        complete = data[: data.rfind(b"\n") + 1]  # a line being written waits for the next poll
        self.offset += len(complete)
        found = parse_waits(complete.decode("utf-8", "replace"))
        for held in found.began:
            if held.unit not in self._said:
                self._said.add(held.unit)
                self.say(held.began_line)
        for pause in found.paused:
            self.say(pause.line)


def held_file(state_dir: Path, build_dir: Path) -> Path:
    """Each unit's wait in the build that last compiled it (see `keep_held`)."""
    path = store(state_dir, build_dir)
    return path.with_name(path.stem + ".held.json")


def keep_held(
    state_dir: Path, build_dir: Path, waits: Optional[GateWaits], built: Sequence[Entry]
) -> None:
    """After a build: for each unit it compiled (`built`, its ninja log entries), the seconds
    the gate held it (0: not held), with the log entry it belongs to, so a later build that
    compiled the unit again (a raw `cmake --build` too) is never read with this wait."""
    path = held_file(state_dir, build_dir)
    kept = _read_held(path)
    seconds = waits.by_unit if waits else {}
    for entry in built:
        if entry.kind == "compile":
            kept[entry.output] = [
                round(seconds.get(entry.output, 0.0), 1),
                entry.start_ms,
                entry.end_ms,
            ]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(kept, indent=0, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def _read_held(path: Path) -> dict[str, list[float]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(k): [float(x) for x in v]
        for k, v in data.items()
        if isinstance(v, list) and len(v) == 3 and all(isinstance(x, (int, float)) for x in v)
    }


def held_ms(state_dir: Path, build_dir: Path, entries: Sequence[Entry]) -> dict[str, int]:
    """unit -> the ms of its time in ninja's log (`entries`) that the memory gate held it
    (units whose wait is not known for that log entry are left out)."""
    kept = _read_held(held_file(state_dir, build_dir))
    found = {}
    for entry in entries:
        wait = kept.get(entry.output)
        if wait and (wait[1], wait[2]) == (entry.start_ms, entry.end_ms) and wait[0] > 0:
            found[entry.output] = min(int(wait[0] * 1000), entry.ms)
    return found
