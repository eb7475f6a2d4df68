"""What ninja says of a configured build dir through its tools, and how it spells paths.

- `ninja -t query PATH...`: the edge that makes each path (rule, explicit, implicit and
  order-only inputs) and the edges that read it (`parse_query`);
- `ninja -t deps OBJ...`, ninja's deps log, per object `OBJ: #deps N, deps mtime M
  (VALID|STALE)` and N indented paths, a blank line after; `OBJ: deps not found` for an object
  never built. STALE (the object is newer than the record, or missing) is what ninja itself
  distrusts (`parse_deps`);
- `ninja -t commands -s OBJ...`: the exact command ninja would run for each object, one a line
  (`parse_commands`).

The parsers are pure; `Ninja` asks them through the `capture` callable (processes start only in
the runner), always with `-n`, so ninja opens its logs read-only (without it, `-t deps` may
recompact .ninja_log and .ninja_deps, which is a build's business).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from build_tools.errors import BuildToolsError
from build_tools.process.runner import Capture

BATCH = 400  # paths per ninja call (argv stays far below the limit)


def normalize(path: str, base: Path, source_dir: Path) -> str:
    """`path` (relative to `base`, or absolute) as ninja canonicalizes it (lexically, no
    symlinks resolved), then relative to the source dir when inside it."""
    full = os.path.normpath(os.path.join(base, path))
    source = os.path.normpath(source_dir)
    if full == source:
        return "."
    if full.startswith(source + os.sep):
        return full[len(source) + 1 :]
    return full


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


def parse_commands(text: str, objects: Iterable[str]) -> dict[str, str]:
    """`ninja -t commands -s OBJ...`: each of `objects` with the first command line that names
    it as a word (lines a shell could not split are passed over)."""
    wanted = set(objects)
    commands: dict[str, str] = {}
    for line in text.splitlines():
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        for obj in wanted.intersection(words):
            commands.setdefault(obj, line)
    return commands


@dataclass(frozen=True)
class Ninja:
    """The ninja `program` of one build dir, asked through `capture` (run in the build dir)."""

    program: str
    build_dir: Path
    capture: Capture

    def run(self, tool: str, paths: Sequence[str], *, tolerate: bool = False) -> str:
        """`ninja -n -t TOOL` over `paths` (no call for none), in batches; its output.
        BuildToolsError on a failed call unless `tolerate`."""
        output = []
        for start in range(0, len(paths), BATCH):
            batch = paths[start : start + BATCH]
            code, text = self.capture(
                [self.program, "-C", self.build_dir, "-n", "-t", *tool.split(), *batch],
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

    def query(self, paths: Iterable[str], *, tolerate: bool = False) -> dict[str, Node]:
        """`ninja -t query` of each path (once each)."""
        return parse_query(self.run("query", list(dict.fromkeys(paths)), tolerate=tolerate))

    def deps(self, objects: Sequence[str]) -> dict[str, Recorded]:
        """The deps log's records of `objects` (a failed call answers what it printed)."""
        return parse_deps(self.run("deps", objects, tolerate=True))

    def deps_log(self) -> dict[str, Recorded]:
        """Every record of the deps log (one call; `-t deps` with no path lists them all)."""
        code, text = self.capture(
            [self.program, "-C", self.build_dir, "-n", "-t", "deps"], self.build_dir
        )
        return parse_deps(text) if code == 0 else {}

    def commands(self, objects: Sequence[str]) -> dict[str, str]:
        """The command ninja would run for each of `objects`."""
        return parse_commands(self.run("commands -s", objects), objects)
