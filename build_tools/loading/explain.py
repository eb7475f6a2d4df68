"""What a failed load check says: each failure's symbol demangled (c++filt), where the
library came from (provenance), the likely cause and its fix (causes.py), as one `Bad` per
library and symbol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from build_tools.checkout import provenance
from build_tools.checkout.source_tree import SourceTree
from build_tools.loading import causes, probe
from build_tools.machine import venv_state
from build_tools.process.runner import Capture


@dataclass(frozen=True)
class Bad:
    """One extension that does not load: what fails, why, and the fix."""

    failure: causes.Failure
    cause: str
    fix: str
    statically: bool = False  # found by the static check, not by loading

    def line(self) -> str:
        how = " (checked statically)" if self.statically else ""
        return f"{self.failure.name}: {causes.what(self.failure)}{how}: {self.cause}"


Found = tuple[Path, causes.Failure]  # a library and what fails in it


def failure(
    path: Path,
    tree: SourceTree,
    *,
    symbol: str = "",
    missing: str = "",
    by: str = "",
    other: str = "",
) -> Found:
    target = _target(tree, path)
    return path, causes.Failure(path.name, target, symbol, "", missing, by, other)


def from_loader(path: Path, tree: SourceTree, loaded: probe.Loaded) -> Found:
    if loaded.symbol:
        return failure(path, tree, symbol=loaded.symbol)
    if loaded.missing:
        return failure(path, tree, missing=loaded.missing)
    return failure(path, tree, other=loaded.error.splitlines()[0] if loaded.error else "")


def relative(tree: SourceTree, path: Path) -> str:
    try:
        return str(path.relative_to(tree.root.resolve()))
    except ValueError:
        return str(path)


def _target(tree: SourceTree, path: Path) -> str:
    origin = provenance.load(tree).get(relative(tree, path))
    return origin.component if origin and origin.component else path.name.split(".", 1)[0]


def explain(
    tree: SourceTree,
    failures: Sequence[Found],
    capture: Capture,
    torch_imported: str,
    statically: set[Path],
) -> list[Bad]:
    """Each failure demangled, with its cause and fix; one per library and symbol."""
    found: list[Bad] = []
    names = demangle([f.symbol for _, f in failures if f.symbol], capture, tree.root)
    record = provenance.load(tree)
    beside = any(o.origin == provenance.BUILT for o in record.values())
    torch = venv_state.installed(tree.venv_dir).get("torch")
    for path, failed in failures:
        failure = _with_demangled(failed, names)
        rel = relative(tree, path)
        origin = record.get(rel)
        replaced = bool(origin and provenance.installed_now(tree, rel, origin) is False)
        known = causes.Known(origin, replaced, torch.version if torch else torch_imported, beside)
        why, fix = causes.cause(failure, known)
        found.append(Bad(failure, why, fix, path in statically))
    return found


def _with_demangled(failure: causes.Failure, names: Mapping[str, str]) -> causes.Failure:
    if not failure.symbol:
        return failure
    return causes.Failure(
        failure.name,
        failure.target,
        failure.symbol,
        names.get(failure.symbol, failure.symbol),
        failure.missing,
        failure.needed_by,
        failure.other,
    )


def demangle(symbols: Sequence[str], capture: Capture, cwd: Path) -> dict[str, str]:
    """C++ symbols as c++filt spells them (a name it cannot demangle, or no c++filt: as is)."""
    wanted = list(dict.fromkeys(s for s in symbols if s.startswith("_Z")))
    if not wanted:
        return {}
    code, output = capture(["c++filt", *wanted], cwd)
    lines = output.splitlines()
    if code != 0 or len(lines) != len(wanted):
        return {}
    return dict(zip(wanted, lines, strict=True))
