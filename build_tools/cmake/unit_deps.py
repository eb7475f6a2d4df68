"""What each compile unit of a configured build dir reads, asked of ninja and the compiler.

- **The units.** The File API names each target's compiled sources and artifacts; ninja's own
  graph (`ninja -t query`) says which object files each artifact's link edge reads and which
  source each object compiles, so a unit is (target, source, object) with nothing guessed from
  CMake's object-file naming. An in-project library whose artifact a link edge reads is a
  link of that target (a change in it relinks the target). For a GENERATED source, the
  graph also holds what the custom commands that write it read (`generator_inputs`).
- **A built unit**: ninja's deps log (`ninja -t deps OBJ...`, one call for every unit), exactly
  what ninja compares when it decides to recompile. Its format, per object:
  `OBJ: #deps N, deps mtime M (VALID|STALE)` and N indented paths, a blank line after;
  `OBJ: deps not found` for an object never built. STALE (the object is newer than the record,
  or missing) is what ninja itself distrusts: such a unit counts as not built.
- **A unit never built** (the precompiled case: no object, no deps log entry): a dependency
  scan of the unit's own compile command. `ninja -t commands -s OBJ` gives the exact command
  ninja would run (launcher and CMake's `-MD -MT OBJ -MF OBJ.d` included; compile_commands.json
  has neither); the scan drops the launcher (ccache, sccache, ...), turns `-MD` into `-M` (same
  preprocessing, no compile), points `-MF` at a temporary file and drops `-o OBJ` (gcc
  truncates the `-o` file under `-M`; nvcc even writes the dependency rule there and ignores
  `-MF`). Scans are cached in the state dir, keyed by a digest of the command and its
  directory, and dropped when any file a scan listed changed size or mtime (or vanished).

Every path is normalized like ninja's (lexically, no symlinks resolved): relative to the
source dir when inside it, absolute otherwise. Processes start through the `capture` callable
the caller passes (the runner's `capture`), as compile_db takes `git`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from build_tools.cmake.codemodel import CodeModel, read_codemodel
from build_tools.cmake.project import launchers, make_program
from build_tools.errors import BuildToolsError
from build_tools.process.runner import Command, Runner

# Runs argv in a directory: (exit code, output). Processes start only in the runner.
Capture = Callable[[Sequence[object], Path], tuple[int, str]]

CACHE_DIR = "unit-deps"  # in the state dir: one JSON file of scans per build dir
CACHE_VERSION = 1
BATCH = 400  # objects per ninja call (argv stays far below the limit)
# Launchers in front of a compiler that a scan runs without (besides the cache's own values).
LAUNCHER_NAMES = ("ccache", "sccache", "buildcache", "distcc", "icecc")
SHELL_OPERATORS = ("&&", "||", ";", "|", ">", ">>", "<", "2>&1")


@dataclass(frozen=True, order=True)
class Unit:
    """One compile: `source` (relative to the source dir, absolute outside it) compiled into
    `object` (relative to the build dir, as ninja names it) for `target`."""

    target: str
    source: str
    object: str


@dataclass(frozen=True)
class Graph:
    """The units of each target (in CMake's source order) and the in-project targets whose
    artifacts its link edge reads."""

    units: dict[str, tuple[Unit, ...]]
    links: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Files a generated source is made from (through the custom commands that write it).
    generator_inputs: dict[Unit, frozenset[str]] = field(default_factory=dict)

    def all_units(self) -> list[Unit]:
        return [u for units in self.units.values() for u in units]


@dataclass(frozen=True)
class Files:
    """What one unit reads: its source and every header, or why that is unknown."""

    files: frozenset[str]
    origin: str  # "deps log", "scan", "cached scan"
    error: str = ""  # a failed scan's output (then `files` is empty)

    @property
    def failed(self) -> bool:
        return bool(self.error)


# ------------------------------------------------------------------ paths


def normalize(path: str, base: Path, source_dir: Path) -> str:
    """`path` (relative to `base`, or absolute) as ninja canonicalizes it, then relative to the
    source dir when inside it."""
    full = os.path.normpath(os.path.join(base, path))
    source = os.path.normpath(source_dir)
    if full == source:
        return "."
    if full.startswith(source + os.sep):
        return full[len(source) + 1 :]
    return full


# ------------------------------------------------------------------ ninja's output


@dataclass(frozen=True)
class Node:
    """One path of `ninja -t query`: the rule and inputs of the edge that makes it (none for
    a source file) and the edges that read it."""

    rule: Optional[str] = None
    explicit: tuple[str, ...] = ()
    implicit: tuple[str, ...] = ()
    order_only: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()


def parse_query(text: str) -> dict[str, Node]:
    """`ninja -t query PATH...`: per path, `PATH:` then `  input: RULE` with its inputs
    (`    | x` implicit, `    || x` order-only), `  outputs:` and, from ninja 1.11,
    `  validations:`, each entry indented by four spaces."""
    nodes: dict[str, dict[str, Any]] = {}
    current: Optional[dict[str, Any]] = None
    section = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" ") and line.endswith(":"):
            current = nodes.setdefault(
                line[:-1],
                {"rule": None, "explicit": [], "implicit": [], "order_only": [], "outputs": []},
            )
            section = ""
        elif current is None or line.startswith("ninja: "):
            continue
        elif line.startswith("    "):
            entry = line[4:]
            if section == "input":
                if entry.startswith("|| "):
                    current["order_only"].append(entry[3:])
                elif entry.startswith("| "):
                    current["implicit"].append(entry[2:])
                else:
                    current["explicit"].append(entry)
            elif section == "outputs":
                current["outputs"].append(entry)
        elif line.startswith("  "):
            head, _, rest = line.strip().partition(":")
            section = head
            if head == "input":
                current["rule"] = rest.strip() or None
    return {
        path: Node(
            n["rule"],
            tuple(n["explicit"]),
            tuple(n["implicit"]),
            tuple(n["order_only"]),
            tuple(n["outputs"]),
        )
        for path, n in nodes.items()
    }


_DEPS_HEAD = re.compile(r"^(.*): #deps (\d+), deps mtime (-?\d+) \((VALID|STALE)\)$")
_NOT_FOUND = ": deps not found"


@dataclass(frozen=True)
class Recorded:
    """One object's record in ninja's deps log."""

    valid: bool  # VALID: the object is not newer than the record (ninja trusts it)
    paths: tuple[str, ...]  # as ninja stored them: relative to the build dir, or absolute


def parse_deps(text: str) -> dict[str, Recorded]:
    """`ninja -t deps OBJ...`; objects with no record (`OBJ: deps not found`) are left out."""
    records: dict[str, Recorded] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        head = _DEPS_HEAD.match(lines[i])
        i += 1
        if head is None:
            continue  # "OBJ: deps not found", blank lines, ninja's own notes
        count = int(head.group(2))
        paths = [line[4:] for line in lines[i : i + count] if line.startswith("    ")]
        if len(paths) != count:
            raise ValueError(f"ninja -t deps listed {len(paths)} of {count} deps of {head[1]}")
        records[head.group(1)] = Recorded(head.group(4) == "VALID", tuple(paths))
        i += count
    return records


def parse_depfile(text: str) -> list[str]:
    """The prerequisites of a Makefile-style dependency file (gcc's `obj: a b \\` and nvcc's
    `obj : a \\`): backslash-newline continues a line, `\\ ` is a space in a path, `\\#` a `#`
    and `$$` a `$`; targets (the words before each rule's colon) are left out."""
    found: list[str] = []
    for line in re.split(r"(?<!\\)\n", text.replace("\r\n", "\n")):
        words: list[str] = []
        word: list[str] = []
        colon = -1
        i = 0
        while i < len(line):
            char = line[i]
            after = line[i + 1] if i + 1 < len(line) else ""
            if char == "\\" and after == "\n":
                i += 2
                char = " "
            elif char == "\\" and after in (" ", "#", ":"):
                word.append(after)
                i += 2
                continue
            elif char == "$" and after == "$":
                word.append("$")
                i += 2
                continue
            else:
                i += 1
            if char in " \t":
                if word:
                    words.append("".join(word))
                    word = []
                continue
            if char == ":" and colon < 0 and (after in ("", " ", "\t", "\\", "\n")):
                if word:
                    words.append("".join(word))
                    word = []
                colon = len(words)
                continue
            word.append(char)
        if word:
            words.append("".join(word))
        if colon >= 0:
            found.extend(words[colon:])
    return found


# ------------------------------------------------------------------ the scan's command


def _is_nvcc(program: str) -> bool:
    return Path(program).name.startswith("nvcc")


def scan_argv(command: str, depfile: str, launcher_words: Sequence[str] = ()) -> list[str]:
    """The unit's compile command (as `ninja -t commands -s` prints it) turned into a
    dependency scan writing `depfile`: the launcher dropped, `-MD`/`-MMD` (nvcc's long forms
    too) turned into `-M`/`-MM`, `-MF` pointed at `depfile`, `-o` dropped. ValueError for a
    command the scan cannot run without a shell."""
    argv = shlex.split(command)
    if "__run_co_compile" in argv and "--" in argv:  # CMake's clang-tidy/cppcheck wrapper
        argv = argv[argv.index("--") + 1 :]
    if any(word in SHELL_OPERATORS for word in argv):
        raise ValueError(f"a shell command, not one compiler call: {command}")
    while argv and (
        argv[0] in launcher_words or Path(argv[0]).name in LAUNCHER_NAMES or "=" in argv[0]
    ):
        argv = argv[1:]
    if not argv:
        raise ValueError(f"no compiler in {command!r}")
    nvcc = _is_nvcc(argv[0])
    out = [argv[0]]
    mode = ""
    words = iter(argv[1:])
    for word in words:
        if word in ("-o", "--output-file", "-MF", "--dependency-output"):
            next(words, None)
            continue
        if word.startswith(("--output-file=", "--dependency-output=", "-MF")) or (
            word.startswith("-o") and not nvcc and len(word) > 2
        ):
            continue
        if word in ("-MD", "-M", "--generate-dependencies-with-compile", "--generate-dependencies"):
            mode = mode or "-M"
            continue
        if word in ("-MMD", "-MM", "--generate-nonsystem-dependencies-with-compile"):
            mode = "-MM"
            continue
        if word == "--generate-nonsystem-dependencies":
            mode = "-MM"
            continue
        out.append(word)
    return [*out, mode or "-M", "-MF", depfile]


# ------------------------------------------------------------------ the scan cache


@dataclass
class _Cache:
    """Scans by key (digest of directory and command): the indexes of the files each listed;
    `files` holds each file's (mtime_ns, size) when it was scanned."""

    path: Path
    files: list[str] = field(default_factory=list)
    stats: list[Optional[tuple[int, int]]] = field(default_factory=list)
    entries: dict[str, list[int]] = field(default_factory=dict)
    dirty: bool = False
    _index: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, stat: Callable[[str], Optional[tuple[int, int]]]) -> _Cache:
        """The cache, without the entries that list a file changed since (or gone)."""
        cache = cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != CACHE_VERSION:
                return cache
            files = [str(f) for f in data["files"]]
            recorded = [tuple(s) if s else None for s in data["stats"]]
            entries = {str(k): [int(i) for i in v] for k, v in data["entries"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return cache
        changed = {i for i, f in enumerate(files) if i >= len(recorded) or stat(f) != recorded[i]}
        for key, indexes in entries.items():
            if not changed.intersection(indexes) and all(i < len(files) for i in indexes):
                cache.put(key, [files[i] for i in indexes], stat)
        cache.dirty = len(cache.entries) != len(entries)
        return cache

    def get(self, key: str) -> Optional[list[str]]:
        indexes = self.entries.get(key)
        return None if indexes is None else [self.files[i] for i in indexes]

    def put(
        self, key: str, files: Iterable[str], stat: Callable[[str], Optional[tuple[int, int]]]
    ) -> None:
        indexes = []
        for name in files:
            index = self._index.get(name)
            if index is None:
                index = self._index[name] = len(self.files)
                self.files.append(name)
                self.stats.append(stat(name))
            elif self.stats[index] != stat(name):  # changed while we ran: older entries go
                self.stats[index] = stat(name)
                self.entries = {k: v for k, v in self.entries.items() if index not in v}
            indexes.append(index)
        self.entries[key] = indexes
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        data = {
            "version": CACHE_VERSION,
            "files": self.files,
            "stats": self.stats,
            "entries": self.entries,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, separators=(",", ":"))
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.dirty = False


# ------------------------------------------------------------------ the engine's source


@dataclass
class ScanStats:
    scans: int = 0  # scans that ran a compiler
    cached: int = 0  # answered from the cache
    failed: int = 0
    seconds: float = 0.0  # wall time of the scans that ran
    each: list[tuple[str, float]] = field(default_factory=list)  # (source, seconds)


class UnitDeps:
    """The units of one configured build dir and the files each reads (see the module doc).

    `model` defaults to the build dir's codemodel, `ninja` to the make program its cache names
    (the ninja that built it). Everything is asked lazily: the graph on first use (two
    `ninja -t query` calls), the deps log on the first question about a unit (one `ninja -t
    deps` call for all units), compile commands when a scan or the scan cache needs them (one
    `ninja -t commands -s` call), and a scan only for the units `scan` is asked about; `jobs`
    scans run at once. `stats` counts the scans and their time.
    """

    def __init__(
        self,
        build_dir: Path,
        state_dir: Path,
        capture: Capture,
        *,
        model: Optional[CodeModel] = None,
        ninja: Optional[str] = None,
        jobs: int = 1,
    ) -> None:
        model = model or read_codemodel(build_dir)
        if model is None:
            raise BuildToolsError(
                f"{build_dir} has no CMake File API codemodel reply.",
                "run `invoke configure` first",
            )
        self.build_dir = build_dir
        self.model = model
        self.source_dir = model.source_dir or build_dir.parent
        self.capture = capture
        self.ninja = ninja or make_program(build_dir) or "ninja"
        self.jobs = max(1, jobs)
        self.stats = ScanStats()
        self._stat_memo: dict[str, Optional[tuple[int, int]]] = {}
        self._cache_path = state_dir / CACHE_DIR / f"{build_dir.name}.json"
        self._cache: Optional[_Cache] = None
        self._graph: Optional[Graph] = None
        self._recorded: Optional[dict[str, Recorded]] = None
        self._commands: dict[str, str] = {}  # object -> its command, as ninja runs it
        self._all_commands = False
        self._launchers = launchers(build_dir)

    # -------------------------------------------------------------- ninja

    def _ninja(self, tool: str, paths: Sequence[str], *, tolerate: bool = False) -> str:
        """One `ninja -n -t TOOL` over `paths`, in batches; its output. `-n`: ninja then opens
        its logs read-only (without it, `-t deps` may recompact .ninja_log and .ninja_deps,
        which is a build's business)."""
        output = []
        for start in range(0, max(1, len(paths)), BATCH):
            batch = list(paths[start : start + BATCH])
            if not batch:
                break
            code, text = self.capture(
                [self.ninja, "-C", self.build_dir, "-n", "-t", *tool.split(), *batch],
                self.build_dir,
            )
            if code != 0 and not tolerate:
                tail = "\n".join(text.splitlines()[-5:])
                raise BuildToolsError(
                    f"`ninja -t {tool}` failed in {self.build_dir} (exit code {code}):\n{tail}",
                    "configure the build dir again (`invoke configure`)",
                )
            output.append(text)
        return "\n".join(output)

    def _query(self, paths: Iterable[str]) -> dict[str, Node]:
        wanted = list(dict.fromkeys(paths))
        return parse_query(self._ninja("query", wanted)) if wanted else {}

    # -------------------------------------------------------------- the graph

    def graph(self) -> Graph:
        """The units of every target and the links between targets (ninja's graph)."""
        if self._graph is None:
            self._graph = self._read_graph()
        return self._graph

    def _norm(self, path: str) -> str:
        return normalize(path, self.build_dir, self.source_dir)

    def _read_graph(self) -> Graph:
        details = self.model.details
        owner = {a: name for name, t in details.items() for a in t.artifacts}
        compiled = {s for t in details.values() for s in t.sources}
        artifacts = self._query(owner)
        candidates: dict[str, list[str]] = {}
        links: dict[str, list[str]] = {}
        units: dict[str, list[Unit]] = {name: [] for name in details}
        for artifact, name in owner.items():
            node = artifacts.get(artifact, Node())
            if node.explicit and self._norm(node.explicit[0]) in details[name].sources:
                units[name].append(Unit(name, self._norm(node.explicit[0]), artifact))
                continue  # an OBJECT library's artifact is itself an object
            for path in (*node.explicit, *node.implicit):
                if path in owner and owner[path] != name:
                    links.setdefault(name, []).append(owner[path])
                elif path in node.explicit:
                    candidates.setdefault(name, []).append(path)
        objects = self._query(o for objs in candidates.values() for o in objs)
        spelled: dict[Unit, str] = {}  # each unit's source as ninja names it
        for name, objs in candidates.items():
            for obj in objs:
                node = objects.get(obj, Node())
                if node.explicit and self._norm(node.explicit[0]) in compiled:
                    found = Unit(name, self._norm(node.explicit[0]), obj)
                    units[name].append(found)
                    spelled[found] = node.explicit[0]
        order = {name: {s: i for i, s in enumerate(t.sources)} for name, t in details.items()}
        graph_units = {
            name: tuple(sorted(found, key=lambda u: (order[name].get(u.source, 1 << 30), u)))
            for name, found in units.items()
        }
        links_of = {k: tuple(dict.fromkeys(v)) for k, v in links.items()}
        return Graph(graph_units, links_of, self._generator_inputs(spelled))

    def _generator_inputs(self, spelled: Mapping[Unit, str]) -> dict[Unit, frozenset[str]]:
        """For each unit of a GENERATED source (`spelled`: its source as ninja names it): the
        files the custom commands that write it read, followed back (8 commands deep at most)
        to files no edge writes."""
        found: dict[Unit, frozenset[str]] = {}
        for unit, source in spelled.items():
            if unit.source not in self.model.target(unit.target).generated:
                continue
            seen: set[str] = {source}
            frontier = [source]
            for _ in range(8):
                if not frontier:
                    break
                nodes = parse_query(self._ninja("query", frontier, tolerate=True))
                frontier = [
                    path
                    for node in nodes.values()
                    for path in (*node.explicit, *node.implicit)
                    if path not in seen
                ]
                seen.update(frontier)
            found[unit] = frozenset(self._norm(p) for p in seen - {source})
        return found

    # -------------------------------------------------------------- the deps log

    def _records(self) -> dict[str, Recorded]:
        if self._recorded is None:
            objects = [u.object for u in self.graph().all_units()]
            self._recorded = parse_deps(self._ninja("deps", objects, tolerate=True))
        return self._recorded

    def built(self, unit: Unit) -> bool:
        """Whether ninja's deps log holds a record of the unit it trusts (VALID): the object
        exists and was built from what the record lists."""
        record = self._records().get(unit.object)
        return record is not None and record.valid

    def recorded(self, unit: Unit) -> Optional[Files]:
        """The unit's files from ninja's deps log, None when it has no VALID record."""
        record = self._records().get(unit.object)
        if record is None or not record.valid:
            return None
        files = {self._norm(p) for p in record.paths}
        return Files(frozenset(files), "deps log")

    def known(self, unit: Unit) -> Optional[Files]:
        """The unit's files when knowing them costs no compiler run: the deps log, else a
        cached scan that is still valid; None otherwise."""
        found = self.recorded(unit)
        if found is not None:
            return found
        if not self.cache().entries:
            return None
        if not self._all_commands:  # one ninja call for every unit the deps log lacks
            self._all_commands = True
            self.load_commands(u for u in self.graph().all_units() if not self.built(u))
        command = self._commands.get(unit.object)
        if command is None:
            return None
        cached = self.cache().get(self._key(command))
        if cached is None:
            return None
        return Files(frozenset(self._norm(p) for p in cached), "cached scan")

    # -------------------------------------------------------------- scans

    def cache(self) -> _Cache:
        if self._cache is None:
            self._cache = _Cache.load(self._cache_path, self._stat)
        return self._cache

    def _stat(self, path: str) -> Optional[tuple[int, int]]:
        if path not in self._stat_memo:
            try:
                st = os.stat(path)
                self._stat_memo[path] = (st.st_mtime_ns, st.st_size)
            except OSError:
                self._stat_memo[path] = None
        return self._stat_memo[path]

    def _key(self, command: str) -> str:
        return hashlib.sha256(f"{self.build_dir}\0{command}".encode()).hexdigest()[:32]

    def load_commands(self, units: Iterable[Unit]) -> None:
        """Fetch the compile commands of `units` (one ninja call), so `known` can answer from
        the scan cache."""
        missing = [u.object for u in units if u.object not in self._commands]
        if not missing:
            return
        text = self._ninja("commands -s", missing)
        wanted = set(missing)
        for line in text.splitlines():
            try:
                words = shlex.split(line)
            except ValueError:
                continue
            for obj in wanted.intersection(words):
                self._commands.setdefault(obj, line)

    def scan(self, units: Sequence[Unit], *, force: bool = False) -> dict[Unit, Files]:
        """Each unit's files: known ones as `known` answers (unless `force`), the others
        scanned (`jobs` at once) and cached."""
        self.load_commands(units)
        results: dict[Unit, Files] = {}
        todo: list[Unit] = []
        for unit in units:
            found = None if force else self.known(unit)
            if found is not None:
                results[unit] = found
                self.stats.cached += found.origin == "cached scan"
            else:
                todo.append(unit)
        if todo:
            cache = self.cache()  # loaded here, never in a worker thread
            with tempfile.TemporaryDirectory(prefix="vllm-build-scan-") as tmp:
                jobs = min(self.jobs, len(todo))
                if jobs == 1:
                    scanned = [self._scan_one(u, Path(tmp)) for u in todo]
                else:
                    with ThreadPoolExecutor(jobs) as pool:
                        scanned = list(pool.map(lambda u: self._scan_one(u, Path(tmp)), todo))
            for unit, (paths, error, seconds) in zip(todo, scanned, strict=True):
                if paths is None:
                    files = Files(frozenset(), "scan", error)
                else:
                    cache.put(self._key(self._commands[unit.object]), paths, self._stat)
                    files = Files(frozenset(self._norm(p) for p in paths), "scan")
                results[unit] = files
                self.stats.scans += 1
                self.stats.failed += files.failed
                self.stats.seconds += seconds
                self.stats.each.append((unit.source, seconds))
            cache.save()
        return results

    def _scan_one(self, unit: Unit, tmp: Path) -> tuple[Optional[list[str]], str, float]:
        """One scan: the absolute paths it listed (None when it failed), why it failed, and
        how long it took. Runs in a worker thread: it touches nothing shared."""
        start = time.monotonic()
        command = self._commands.get(unit.object)
        if command is None:
            return None, "ninja printed no command for it", 0.0
        depfile = tmp / (hashlib.sha256(unit.object.encode()).hexdigest()[:16] + ".d")
        try:
            argv = scan_argv(command, str(depfile), self._launchers)
        except ValueError as exc:
            return None, str(exc), 0.0
        code, output = self.capture(argv, self.build_dir)
        seconds = time.monotonic() - start
        try:
            text = depfile.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError:
            text = ""
        if code != 0 or not text:
            why = "\n".join(output.strip().splitlines()[-8:]) or f"exit code {code}, no depfile"
            return None, why, seconds
        paths = [os.path.normpath(os.path.join(self.build_dir, p)) for p in parse_depfile(text)]
        return paths, "", seconds


def runner_capture(runner: Runner, env: Optional[Mapping[str, str]] = None) -> Capture:
    """A `Capture` over the runner (logged; also in a dry run: scans change nothing)."""

    def run(argv: Sequence[object], cwd: Path) -> tuple[int, str]:
        done = runner.capture(Command.of(argv, cwd, env))
        return done.returncode, done.output

    return run
