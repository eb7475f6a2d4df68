"""Where precompiled kernels come from, as vLLM's setup.py decides it (said before the install
runs), and the commit they were built from where it can be known."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

from build_tools.checkout.source_tree import SourceTree, git_head
from build_tools.process.runner import Git

LOCATION, COMMIT = "VLLM_PRECOMPILED_WHEEL_LOCATION", "VLLM_PRECOMPILED_WHEEL_COMMIT"


def kernel_source(tree: SourceTree, environ: Mapping[str, str]) -> tuple[str, str]:
    """(where the kernels will come from, in words; the wheel's location or ""), as setup.py
    decides it: said before anything runs."""
    location = environ.get(LOCATION, "")
    if location:
        local = Path(location.removeprefix("file://")).expanduser()
        where = "a local file" if local.is_file() else "network" if "://" in location else None
        if where is None:
            return f"the wheel at {location}, which does not exist (the install fails)", location
        return f"the wheel at {location} ({where})", location
    commit = environ.get(COMMIT, "")
    if tree.kind != "vllm":
        return f"{tree.name}'s setup.py (no wheel location: it may copy no kernels)", ""
    if len(commit) == 40:
        return f"vLLM's wheel of commit {commit[:12]} from wheels.vllm.ai (network)", ""
    return (
        "vLLM's wheel of the merge-base of your branch with vLLM's main, which setup.py looks "
        "up on GitHub and downloads from wheels.vllm.ai (network; without git or network it "
        "falls back to the nightly wheel)",
        "",
    )


def base_commit(tree: SourceTree, environ: Mapping[str, str], git: Git) -> Optional[str]:
    """The commit the kernels were built from, where it can be known (see the module text)."""
    asked = environ.get(COMMIT, "")
    if len(asked) == 40 and not environ.get(LOCATION):
        return asked.lower()
    if git is None or git_head(tree.root) is None:
        return None
    version = _wheel_version(environ.get(LOCATION, ""))
    candidates = []
    if version and (found := re.search(r"\+g([0-9a-f]{7,40})", version)):
        candidates.append(found.group(1))
    elif version:
        candidates.append(f"v{version}")
    elif not environ.get(LOCATION):
        code, remotes = git(["-C", str(tree.root), "remote", "-v"])
        names = {line.split()[0] for line in remotes.splitlines() if "vllm-project/vllm" in line}
        candidates += [f"{name}/main" for name in sorted(names) if code == 0]
        candidates = [_merge_base(tree, git, c) or "" for c in candidates]
    for candidate in filter(None, candidates):
        code, out = git(["-C", str(tree.root), "rev-parse", "--verify", f"{candidate}^{{commit}}"])
        if code == 0 and out.strip():
            return out.strip()
    return None


def _merge_base(tree: SourceTree, git: Git, ref: str) -> Optional[str]:
    assert git is not None
    code, out = git(["-C", str(tree.root), "merge-base", "HEAD", ref])
    return out.strip() if code == 0 and out.strip() else None


def _wheel_version(location: str) -> Optional[str]:
    """The version in a wheel's file name (`vllm-0.20.0-cp38-abi3-...whl` -> 0.20.0)."""
    name = Path(location.split("?", 1)[0]).name
    parts = name.split("-")
    return parts[1] if name.endswith(".whl") and len(parts) >= 5 else None
