"""The load check of a checkout's installed extensions: each loaded in the checkout's
environment, in a child process, torch imported first (probe.py); where loading is impossible
(the GPU driver's libcuda.so.1 is not on this machine) checked statically instead
(static.py), and said so. A failure names the library, the undefined symbol demangled (or the
library not found), the likely cause and its fix (causes.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from build_tools.checkout import provenance
from build_tools.checkout.source_tree import SourceTree
from build_tools.loading import explain, installed, probe, static
from build_tools.loading.explain import Bad, Found
from build_tools.loading.search import DRIVER, Search, torch_roots
from build_tools.machine import venv_state
from build_tools.process.runner import Capture

if TYPE_CHECKING:  # importlib.metadata is imported where it is read (venv_state)
    from importlib.metadata import Distribution

TIMEOUT_S = 600.0  # a library whose load hangs this long counts as not loading


@dataclass
class Report:
    libraries: int = 0
    loaded: list[Path] = field(default_factory=list)
    static: list[Path] = field(default_factory=list)  # resolved statically
    unchanged: list[Path] = field(default_factory=list)  # loaded before, untouched since
    bad: list[Bad] = field(default_factory=list)
    torch: str = ""
    why_static: str = ""  # why loading was impossible
    not_checked: str = ""  # why nothing could be checked (the check itself failed)

    @property
    def ok(self) -> bool:
        return not self.bad

    def summary(self) -> str:
        """One line: what was checked and how."""
        if self.not_checked:
            return f"not checked: {self.not_checked}"
        if not self.libraries:
            return "no installed extension to load"
        parts = []
        first = f" after import torch {self.torch}" if self.torch else ""
        if self.loaded:
            parts.append(f"{len(self.loaded)} loaded{first}")
        if self.static:
            parts.append(f"{len(self.static)} checked statically ({self.why_static})")
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} unchanged since they loaded")
        verdict = f"{len(self.bad)} of {self.libraries} do not load" if self.bad else "all load"
        return f"{self.libraries} installed extension(s), {verdict}: {'; '.join(parts) or '-'}"

    def problem(self) -> str:
        how = "statically" if self.static and not self.loaded else "by loading them"
        lines = "\n".join("  " + b.line() for b in self.bad)
        return f"{len(self.bad)} installed extension(s) do not load (checked {how}):\n{lines}"

    def fix(self) -> str:
        fixes = list(dict.fromkeys(b.fix for b in self.bad))
        if len(fixes) == 1:
            return fixes[0]
        return "; ".join(f"{b.failure.name}: {b.fix}" for b in self.bad)


def environment_key(tree: SourceTree, dists: Mapping[str, Distribution]) -> str:
    """The environment a library loaded in: the interpreter and every installed distribution's
    version (`dists`: venv_state.installed's; torch's first, as the record says it)."""
    torch = dists.get("torch")
    versions = "\n".join(sorted(f"{name}=={dist.version}" for name, dist in dists.items()))
    digest = hashlib.sha256(versions.encode()).hexdigest()[:16]
    return f"{tree.venv_python}|torch {torch.version if torch else '-'}|{digest}"


def check(
    tree: SourceTree,
    build_dir: Path,
    prefix: Optional[Path],
    environ: Mapping[str, str],
    capture: Capture,
    *,
    again: bool = True,
) -> Report:
    """Load (else statically check) every installed extension; `again=False` skips those
    that loaded before and are unchanged in the same environment."""
    paths = installed.libraries(tree, build_dir, prefix)
    report = Report(libraries=len(paths))
    if not paths:
        return report
    dists = venv_state.installed(tree.venv_dir)
    key = environment_key(tree, dists)
    if not again:
        report.unchanged = installed.unchanged(tree, paths, key)
    wanted = [p for p in paths if p not in report.unchanged]
    if not wanted:
        return report
    search = Search.of(environ)
    root = (prefix or tree.root).resolve()
    with_torch = "torch" in dists
    items = [(p, installed.module_name(p, root, search.library(p))) for p in wanted]
    results, torch_error, code = _load(tree, items, with_torch, capture, report)
    if torch_error and not _driver_missing(torch_error):
        report.not_checked = f"`import torch` fails in {tree.venv_dir}: {torch_error}"
        return report
    if code in (126, 127) and not results:
        report.not_checked = f"{tree.venv_python} could not be run"
        return report
    to_check_statically: list[Path] = []
    failures: list[Found] = []
    for path in wanted:
        loaded = results.get(path)
        if loaded is None and torch_error:
            to_check_statically.append(path)
        elif loaded is None:
            failures.append(explain.failure(path, tree, other="its load was not reported"))
        elif not loaded.error:
            report.loaded.append(path)
        elif _driver_missing(loaded.error):
            report.why_static = report.why_static or _why_static(loaded.missing or "libcuda.so.1")
            to_check_statically.append(path)
        else:
            failures.append(explain.from_loader(path, tree, loaded))
    if to_check_statically:
        report.why_static = report.why_static or _why_static("libcuda.so.1")
        failures += _static(tree, to_check_statically, search, report)
    foreign = _replaced(tree, report)
    for path, _ in foreign:
        (report.loaded if path in report.loaded else report.static).remove(path)
    found = [*failures, *foreign]
    report.bad += explain.explain(tree, found, capture, report.torch, set(to_check_statically))
    passed = [*report.unchanged, *report.loaded, *report.static]
    installed.remember(tree, passed, key)
    return report


def _load(
    tree: SourceTree,
    items: Sequence[tuple[Path, str]],
    with_torch: bool,
    capture: Capture,
    report: Report,
) -> tuple[dict[Path, probe.Loaded], str, int]:
    """Every library's load result; a child that dies loading one is started again for the
    rest, and the one it died in counts as failed."""
    results: dict[Path, probe.Loaded] = {}
    left, code = list(items), 0
    while left:
        code, output = capture(probe.argv(tree.venv_python, left, with_torch), tree.root)
        found = probe.parse(output, code)
        report.torch = report.torch or found.torch
        if found.torch_error:
            return results, found.torch_error, code
        results.update({loaded.path: loaded for loaded in found.loaded})
        if found.died_in is None:
            break
        ended = (
            f"its load did not end in {TIMEOUT_S:.0f} s"
            if code == 124
            else f"the process loading it died (exit code {code})"
        )
        results[found.died_in] = probe.Loaded(found.died_in, ended)
        left = [item for item in left if item[0] not in results]
    return results, "", code


def _driver_missing(error: str) -> bool:
    found = probe.NOT_FOUND.search(error)
    return bool(found and DRIVER.match(found.group(1)))


def _why_static(soname: str) -> str:
    return f"{soname}, the GPU driver's library, is not on this machine: loading is impossible"


def _static(tree: SourceTree, paths: Sequence[Path], search: Search, report: Report) -> list[Found]:
    sites = sorted(tree.venv_dir.glob("lib/python3*/site-packages"))
    preloaded = search.preload([tree.venv_python.resolve(), *torch_roots(sites)])
    failures = []
    for path in paths:
        result = static.check(path, search, preloaded)
        if result.ok:
            report.static.append(path)
            continue
        for item in result.unresolved[:5]:
            failures.append(
                explain.failure(
                    path, tree, symbol=item.symbol, missing=item.missing, by=item.needed_by
                )
            )
    return failures


def _replaced(tree: SourceTree, report: Report) -> list[Found]:
    """Libraries that load but are not the ones recorded (the wheel's, or built here): another
    release's library mixes its ops with this tree's Python code."""
    record = provenance.load(tree)
    found = []
    for path in [*report.loaded, *report.static]:
        rel = explain.relative(tree, path)
        origin = record.get(rel)
        if origin is not None and provenance.installed_now(tree, rel, origin) is False:
            how = "its symbols resolve" if path in report.static else "it loads"
            found.append(
                explain.failure(path, tree, other=f"{how}, but it is not the library installed")
            )
    return found
