"""A damaged precompiled-base record, rebuilt from what can be known, or refused with the fix:
never read as "no precompiled kernels" (every target rebuilt, the wheel's untouched libraries
replaced: hours on vLLM, without a word).

What a base holds, and where it can be known again:

- which installed libraries are the wheel's: the wheel itself where the record of where each
  library came from (`provenance.json`) names a local wheel that is still there (byte-compared,
  as at the install); else the libraries `provenance.json` recorded as the wheel's whose sha256
  has not changed since;
- what changed in the tree since the install: with git and the commit the kernels were built
  from, `git diff <commit>` and the untracked files. Without them it cannot be known, and the
  build refuses, naming both ways out (`invoke install --force` installs the kernels and records
  the base again; `invoke build --all` builds every target).

The damaged file is kept beside the new one (`precompiled-base.json.damaged`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from build_tools.checkout import base, provenance
from build_tools.checkout.source_tree import SourceTree
from build_tools.errors import BuildToolsError, ErrorKind
from build_tools.process.runner import Git

UNKNOWN = "changed since the base commit"  # the sha256 of a file git says differs


def _refuse(why: str, missing: str) -> BuildToolsError:
    return BuildToolsError(
        f"{why}, and {missing}: which extensions still are the wheel's cannot be known.",
        "run `invoke install --force` to install the precompiled kernels and record them again, "
        "or `invoke build --all` to build every target",
        kind=ErrorKind.BAD_INPUT,
    )


def repair(tree: SourceTree, git: Git, why: str) -> tuple[base.Base, str]:
    """A base rebuilt from the wheel or provenance.json and git (see the module doc), and how,
    in words; BuildToolsError when that cannot be known."""
    record = provenance.load(tree)
    wheel_libs = {r: o for r, o in record.items() if o.origin == provenance.PRECOMPILED}
    if not wheel_libs:
        raise _refuse(why, "provenance.json records no library of the wheel")
    detail = next(iter(wheel_libs.values())).detail
    commit = str(detail.get("commit") or "")
    changed = _changed_since(tree, git, commit) if commit else None
    if changed is None:
        raise _refuse(why, "the tree as installed cannot be known (no git, or no base commit)")
    installed = base.shared_libraries(tree)
    wheel = str(detail.get("wheel") or "")
    local = Path(wheel.removeprefix("file://")).expanduser() if wheel else None
    if local is not None and local.is_file():
        kernels = base.from_wheel(local, installed)
        how = f"the libraries byte-equal to the wheel at {local}"
    else:
        kernels = {
            r: installed[r]
            for r, o in wheel_libs.items()
            if r in installed and installed[r][2] == o.stamp[2]
        }
        how = "the wheel's libraries provenance.json recorded, where their sha256 is unchanged"
    files = base.snapshot(tree)
    for rel in changed:
        files[rel] = (0, 0, UNKNOWN, -1)
    for rel in _untracked(tree, git):
        files.pop(rel, None)
    rebuilt = base.Base(
        source=str(detail.get("source") or "the wheel"),
        wheel=wheel,
        commit=commit,
        head=commit,
        kernels=kernels,
        files=files,
        absorbed=True,
    )
    said = f"{how} ({len(kernels)}), and the files git says changed since {commit[:12]}"
    return rebuilt, said


def keep_damaged(tree: SourceTree) -> Optional[Path]:
    """Move the damaged record aside (returned) before the rebuilt one replaces it."""
    damaged = base.path(tree)
    aside = damaged.with_name(damaged.name + ".damaged")
    try:
        os.replace(damaged, aside)
    except OSError:
        return None
    return aside


def _changed_since(tree: SourceTree, git: Git, commit: str) -> Optional[list[str]]:
    if git is None:
        return None
    code, out = git(["-C", str(tree.root), "diff", "--name-only", commit])
    return out.split() if code == 0 else None


def _untracked(tree: SourceTree, git: Git) -> list[str]:
    if git is None:
        return []
    code, out = git(["-C", str(tree.root), "ls-files", "--others", "--exclude-standard"])
    return out.split() if code == 0 else []
