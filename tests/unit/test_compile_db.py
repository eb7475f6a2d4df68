"""compile_commands.json at the source root: linked (or copied) from the build dir, never
replacing the user's own, and hidden from git."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from build_tools.cmake import compile_db
from build_tools.console import Console
from build_tools.machine import toolchain as tc
from build_tools.process.runner import Runner
from build_tools.run import Run, make_run
from build_tools.settings import Settings

NAME = "compile_commands.json"


def context(source: Path, environ: dict[str, str] | None = None) -> tuple[Run, io.StringIO]:
    out = io.StringIO()
    console = Console(out)
    machine = tc.Machine(environ=environ) if environ is not None else tc.Machine()
    ctx = make_run(
        Settings(source=source), machine=machine, console=console, runner=Runner(console)
    )
    return ctx, out


def publish(ctx: Run, build: Path) -> Path | None:
    """What configure does after each run of cmake."""
    tree = ctx.tree
    return compile_db.publish(
        tree.root, tree.state_dir, build, warn=ctx.console.warn, git=ctx.git()
    )


def exported(source: Path, preset: str = "release", entries: int = 1) -> Path:
    build = source / f"cmake-build-{preset}"
    build.mkdir(exist_ok=True)
    data = [{"directory": str(build), "command": "c++ -c x.cpp", "file": "x.cpp"}] * entries
    (build / NAME).write_text(json.dumps(data))
    return build


def test_links_the_build_dirs_database_at_the_root(example_copy: Path) -> None:
    build = exported(example_copy)
    ctx, _ = context(example_copy)
    link = publish(ctx, build)
    assert link == example_copy / NAME and link.is_symlink()
    assert os.readlink(link) == f"cmake-build-release/{NAME}"  # relative: survives a move
    assert link.resolve() == (build / NAME).resolve()
    assert json.loads(link.read_text())[0]["file"] == "x.cpp"


def test_nothing_exported_nothing_linked(example_copy: Path) -> None:
    ctx, _ = context(example_copy)
    (example_copy / "cmake-build-release").mkdir()
    assert publish(ctx, example_copy / "cmake-build-release") is None
    assert not (example_copy / NAME).exists()


def test_the_users_own_file_is_never_replaced(example_copy: Path) -> None:
    build = exported(example_copy)
    mine = example_copy / NAME
    mine.write_text("[]  // mine\n")
    ctx, out = context(example_copy)
    assert publish(ctx, build) is None
    assert mine.read_text() == "[]  // mine\n" and not mine.is_symlink()
    assert "warning:" in out.getvalue() and "left as it is" in out.getvalue()
    elsewhere = example_copy / "my-build" / NAME
    elsewhere.parent.mkdir()
    elsewhere.write_text("[]")
    mine.unlink()
    mine.symlink_to(elsewhere)  # the user's own link to their own build: theirs too
    assert publish(ctx, build) is None and mine.resolve() == elsewhere.resolve()


def test_a_link_to_another_preset_follows_the_last_configure(example_copy: Path) -> None:
    debug, release = exported(example_copy, "debug"), exported(example_copy, "release")
    ctx, _ = context(example_copy)
    publish(ctx, debug)
    publish(ctx, release)
    assert (example_copy / NAME).resolve() == (release / NAME).resolve()
    (release / NAME).unlink()  # a clean-build removed it: a dangling link is replaced too
    publish(ctx, exported(example_copy, "debug"))
    assert (example_copy / NAME).resolve() == (debug / NAME).resolve()


def test_a_copy_where_links_fail_is_kept_up_to_date(
    example_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "symlink", no_links)
    build = exported(example_copy, entries=1)
    ctx, out = context(example_copy)
    copy = publish(ctx, build)
    assert copy is not None and not copy.is_symlink() and len(json.loads(copy.read_text())) == 1
    exported(example_copy, entries=3)  # the next configure exports more
    publish(ctx, build)
    assert len(json.loads(copy.read_text())) == 3 and "warning" not in out.getvalue()


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def test_hidden_from_git_once_in_info_exclude(tmp_path: Path, example_copy: Path) -> None:
    repo = example_copy.parent
    git(repo, "init", "-q")
    ctx, _ = context(example_copy)
    build = exported(example_copy)
    publish(ctx, build)
    publish(ctx, build)
    exclude = (repo / ".git" / "info" / "exclude").read_text().splitlines()
    assert exclude.count(f"/{example_copy.name}/{NAME}") == 1
    status = git(repo, "status", "--porcelain", "--untracked-files=all")
    assert NAME not in status


def test_not_added_when_git_ignores_it_already(example_copy: Path) -> None:
    git(example_copy, "init", "-q")
    (example_copy / ".gitignore").write_text(f"{NAME}\n")
    exclude = example_copy / ".git" / "info" / "exclude"
    before = exclude.read_text() if exclude.exists() else ""
    ctx, _ = context(example_copy)
    publish(ctx, exported(example_copy))
    assert (exclude.read_text() if exclude.exists() else "") == before


def test_without_git_on_path_the_exclude_file_is_written(example_copy: Path) -> None:
    (example_copy / ".git" / "info").mkdir(parents=True)
    ctx, _ = context(example_copy, environ={"PATH": "", "HOME": str(example_copy)})
    publish(ctx, exported(example_copy))
    lines = (example_copy / ".git" / "info" / "exclude").read_text().splitlines()
    assert f"/{NAME}" in lines
