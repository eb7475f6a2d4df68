"""Where each installed extension came from: the precompiled wheel (its base) or a build here
(the commit and whether the tree differed from it, the preset, the CUDA archs, a digest of the
compile commands, the torch version), kept per installed file in the checkout's state dir.

The install step records the wheel's files; the build step records what it installed. The
doctor reads it, and `installed_now` tells a file changed behind our back (by hand, by another
tool) from the one we recorded.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from build_tools.checkout.base import Base, Stamp, as_stamp, stamp
from build_tools.checkout.source_tree import SourceTree

RECORD = "provenance.json"
PRECOMPILED, BUILT = "precompiled", "built here"


@dataclass
class Origin:
    origin: str  # PRECOMPILED or BUILT
    component: str  # the install component ("" when not known: a wheel's file before configure)
    stamp: Stamp  # the file as installed
    detail: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def text(self) -> str:
        d = self.detail
        if self.origin == PRECOMPILED:
            commit = f", commit {d['commit'][:12]}" if d.get("commit") else ""
            return f"precompiled: {d.get('source', 'the wheel')}{commit}"
        dirty = " (with changes not committed)" if d.get("dirty") else ""
        at = f"commit {d['commit'][:12]}{dirty}" if d.get("commit") else "a tree with no commit"
        archs = f", archs {d['archs']}" if d.get("archs") else ""
        torch = f", torch {d['torch']}" if d.get("torch") else ""
        return f"built here from {at}, preset {d.get('preset')!r}{archs}{torch}"


Record = dict[str, Origin]  # installed file, relative to the checkout -> where it came from


def load(tree: SourceTree) -> Record:
    try:
        data = json.loads((tree.state_dir / RECORD).read_text(encoding="utf-8"))
        return {rel: Origin(**{**o, "stamp": as_stamp(o["stamp"])}) for rel, o in data.items()}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def save(tree: SourceTree, record: Record) -> None:
    path = tree.state_dir / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: asdict(v) for k, v in sorted(record.items())}, indent=1) + "\n")
    os.replace(tmp, path)


def precompiled(tree: SourceTree, base: Base) -> Record:
    """The wheel's files, as the install put them (every older record of them replaced)."""
    kept = {rel: o for rel, o in load(tree).items() if rel not in base.kernels}
    detail = {"source": base.source, "wheel": base.wheel, "commit": base.commit}
    for rel, now in base.kernels.items():
        kept[rel] = Origin(PRECOMPILED, "", now, dict(detail))
    return kept


def built(
    tree: SourceTree, record: Record, component: str, files: list[str], detail: Mapping[str, Any]
) -> None:
    """Record `component`'s installed files in `record` as built here with `detail`."""
    for rel in files:
        now = stamp(tree.root / rel, record[rel].stamp if rel in record else None)
        if now is not None:
            record[rel] = Origin(BUILT, component, now, dict(detail))


def installed_now(tree: SourceTree, rel: str, origin: Origin) -> Optional[bool]:
    """Whether the file is still the one recorded (None: it is gone)."""
    now = stamp(tree.root / rel, origin.stamp)
    return None if now is None else now[2] == origin.stamp[2]
