"""Content over clocks, wired to the build: before ninja runs, the objects built from other
content than their inputs hold now get the oldest mtime there is (ninja then compiles them,
whatever the clocks say; a compile that fails leaves the object as it was, never deletes it),
and inputs with an mtime in the future are set to now (else ninja compiles their units on every
build); after it, what each object was built from is recorded (cmake/built_from.py).

Only objects of the targets the build builds are marked: another target's stale objects stay
until a build of it, and `--plan` counts them in its forecast. A dry run and `--plan` remove
and touch nothing and say what the build would do.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from build_tools.checkout.view import Checkout
from build_tools.cmake.built_from import BuiltFrom, Stale, Verdict
from build_tools.cmake.ninja_tool import Ninja, Recorded
from build_tools.cmake.project import make_program
from build_tools.console import Console
from build_tools.insight.cost import object_of
from build_tools.process.runner import Capture

OLDEST_NS = 1  # an object's mtime that makes ninja compile it again (0 would read as missing)


@dataclass
class ContentCheck:
    """One build's check: the record, ninja's deps log and the verdict before the build."""

    record: BuiltFrom
    records: Mapping[str, Recorded]
    verdict: Verdict

    def stale_of(self, targets: Collection[str]) -> list[Stale]:
        """The stale objects of `targets` (every target when empty)."""
        return [s for s in self.verdict.stale if not targets or _target(s.object) in targets]

    def planned(self, targets: Collection[str]) -> dict[str, list[str]]:
        """target -> its stale objects (what `ninja -n` cannot see)."""
        found: dict[str, list[str]] = {}
        for item in self.stale_of(targets):
            found.setdefault(_target(item.object), []).append(item.object)
        return found


def _target(obj: str) -> str:
    named = object_of(obj)
    return named[0] if named else ""


def check(checkout: Checkout, capture: Capture) -> ContentCheck:
    """The verdict on the build dir as it is now (reads; writes nothing)."""
    directory = checkout.build_dir
    ninja = Ninja(make_program(directory) or "ninja", directory, capture)
    records = ninja.deps_log() if (directory / ".ninja_deps").is_file() else {}
    record = BuiltFrom.load(checkout.tree.state_dir, directory)
    return ContentCheck(record, records, record.check(records, time.time_ns()))


def prepare(
    checkout: Checkout,
    console: Console,
    found: ContentCheck,
    targets: Collection[str],
    *,
    acting: bool,
) -> None:
    """Say what the check found; when `acting` (neither a dry run nor --plan), settle future
    mtimes and remove the stale objects of `targets` so ninja compiles them."""
    verdict, directory = found.verdict, checkout.build_dir
    if verdict.unreadable:
        console.warn(
            f"{verdict.unreadable}: objects whose inputs changed after they were built compile "
            "again, and the record is written anew"
        )
    _settle(checkout, console, verdict.future, acting)
    stale = found.stale_of(targets)
    if not stale:
        return
    named = sorted({_shown(checkout.tree.root, p) for s in stale for p in s.changed})
    files = f" ({', '.join(named[:3])}{' …' if len(named) > 3 else ''})" if named else ""
    verb = "compile" if acting else "would compile"
    console.note(
        f"{len(stale)} unit(s) {verb} again: built from other content than their inputs hold "
        f"now{files}, whatever the clocks say"
    )
    if not acting:
        return
    for item in stale:  # older than any input: ninja compiles it; kept if that compile fails
        try:
            os.utime(directory / item.object, ns=(OLDEST_NS, OLDEST_NS))
        except FileNotFoundError:
            pass


def record(
    checkout: Checkout,
    console: Console,
    capture: Capture,
    found: ContentCheck,
    since_ns: int,
    edges: int,
) -> None:
    """After the build (`edges`: what ninja ran): what each object was built from (kept for
    the next build). A build that ran nothing changed no deps log record: asked once."""
    directory = checkout.build_dir
    ninja = Ninja(make_program(directory) or "ninja", directory, capture)
    found.record.update(ninja.deps_log() if edges else found.records, since_ns)
    try:
        found.record.save()
    except OSError as exc:
        console.warn(f"could not record what the objects were built from ({exc})")


def _shown(root: Path, path: str) -> str:
    inside = str(root) + os.sep
    return path[len(inside) :] if path.startswith(inside) else path


def _settle(checkout: Checkout, console: Console, future: Collection[str], acting: bool) -> None:
    """Inputs with an mtime in the future: set to now (those of the checkout or build dir),
    said once; others named with the fix."""
    if not future:
        return
    root = checkout.tree.root
    ours = (str(root) + os.sep, str(checkout.build_dir) + os.sep)
    mine = [p for p in future if p.startswith(ours)]
    theirs = [p for p in future if p not in mine]
    if mine:
        shown = ", ".join(_shown(root, p) for p in mine[:3]) + (" …" if len(mine) > 3 else "")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(_mtime(mine[0])))
        verb = "set" if acting else "would be set"
        console.note(
            f"{len(mine)} input(s) had an mtime in the future ({shown}; {when}): {verb} to now, "
            "so that builds converge (ninja would compile their units on every build)"
        )
        for path in mine if acting else []:
            try:
                os.utime(path)
            except OSError as exc:
                console.warn(f"could not set the mtime of {path} to now ({exc})")
    if theirs:
        console.warn(
            f"{len(theirs)} input(s) outside the checkout have an mtime in the future "
            f"({', '.join(theirs[:3])}): ninja compiles their units on every build; fix: "
            f"`touch {' '.join(theirs[:3])}`"
        )


def _mtime(path: str) -> float:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0
