"""compile_commands.json at the source root, where clangd looks for it: a link to the one the
last configure exported (a copy where links fail), hidden from git.

A compile_commands.json at the root that we did not make is the user's: it is never replaced
(a warning says clangd reads that one). Ours is a link into a cmake-build-* directory of the
checkout, or the link or copy recorded in the state dir.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from build_tools.cmake.build_dir import PREFIX
from build_tools.cmake.project import COMPILE_COMMANDS
from build_tools.digest import file_sha256
from build_tools.process.runner import Git

RECORD = "compile_commands.ours"  # in the state dir: the link target or copy digest we wrote
EXCLUDE_NOTE = "# added by vllm-build-tools: the compile_commands.json link for clangd\n"


def _recorded(state_dir: Path) -> str:
    try:
        return (state_dir / RECORD).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def ours(path: Path, root: Path, state_dir: Path) -> bool:
    """Whether the root's compile_commands.json may be replaced: absent, or one we made."""
    if path.is_symlink():
        target = os.readlink(path)
        pointed = Path(os.path.normpath(root / target))  # root / an absolute path: that path
        in_build_dir = (
            pointed.name == COMPILE_COMMANDS
            and pointed.parent.name.startswith(PREFIX)
            and pointed.parent.parent == Path(os.path.normpath(root))
        )
        return in_build_dir or target == _recorded(state_dir) or not path.exists()
    if not path.exists():
        return True
    return path.is_file() and file_sha256(path) == _recorded(state_dir)


def publish(
    root: Path, state: Path, build_dir: Path, *, warn: Callable[[str], None], git: Git
) -> Optional[Path]:
    """Point the root's compile_commands.json at `build_dir`'s (after a configure); the path
    written, None when there is nothing to publish or the root's file is the user's."""
    built = build_dir / COMPILE_COMMANDS
    link = root / COMPILE_COMMANDS
    if not built.is_file():
        return None
    if not ours(link, root, state):
        warn(
            f"{link} is not one vllm-build-tools made, so it was left as it is: clangd reads it, "
            f"not {built}. Delete it (the next configure links ours) or link it yourself"
        )
        return None
    target = os.path.relpath(built, root)
    try:
        if not (link.is_symlink() and os.readlink(link) == target):
            _replace(link, built, target, state)
    except OSError as exc:
        warn(f"could not write {link} ({exc.strerror or exc}): clangd will not find it")
        return None
    hide_from_git(link, warn=warn, git=git)
    return link


def _replace(link: Path, built: Path, target: str, state: Path) -> None:
    """Put a link to `target` (else a copy of `built`) at `link` in one rename."""
    temporary = link.with_name(f".{COMPILE_COMMANDS}.{os.getpid()}.tmp")
    try:
        os.symlink(target, temporary)
        record = target
    except OSError:  # no symlinks here (some filesystems): a copy, refreshed each configure
        shutil.copyfile(built, temporary)
        record = file_sha256(temporary)
    os.replace(temporary, link)
    state.mkdir(exist_ok=True)
    (state / RECORD).write_text(record + "\n", encoding="utf-8")


def repo_top(path: Path) -> Optional[Path]:
    """The work tree `path` is in (the nearest parent with a .git), None outside git."""
    for parent in [path, *path.parents]:
        if (parent / ".git").exists():
            return parent
    return None


def hide_from_git(path: Path, *, warn: Callable[[str], None], git: Git) -> None:
    """Add `path` to the repository's .git/info/exclude unless git ignores it already."""
    top = repo_top(path.parent)
    if top is None:
        return
    relative = path.relative_to(top).as_posix()
    exclude = top / ".git" / "info" / "exclude"
    if git is not None:
        if git(["-C", str(top), "check-ignore", "-q", relative])[0] == 0:
            return
        code, where = git(["-C", str(top), "rev-parse", "--git-path", "info/exclude"])
        if code == 0 and where.strip():
            exclude = top / where.strip()
    if not exclude.parent.parent.is_dir():  # a worktree's .git file without git to read it
        return
    line = f"/{relative}"
    try:
        text = exclude.read_text(encoding="utf-8") if exclude.is_file() else ""
        if line in text.splitlines():
            return
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a", encoding="utf-8") as handle:
            handle.write(
                ("\n" if text and not text.endswith("\n") else "") + EXCLUDE_NOTE + line + "\n"
            )
    except OSError as exc:
        warn(f"could not add {line} to {exclude} ({exc.strerror}): git may show it")
