"""The invoke front door: task list, help, dry runs and clear errors (no compiling here)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.integration.tools import cli_env, invoke, ok

TASKS = (
    "bootstrap",
    "venv",
    "install",
    "deps",
    "presets",
    "configure",
    "build",
    "clean-build",
    "config",
    "bench",
    "targets",
    "doctor",
    "report",
    "watch",
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path)


def test_list_shows_every_task_with_help() -> None:
    out = ok("--list")
    for name in TASKS:
        line = next((row for row in out.splitlines() if row.strip().startswith(name + " ")), "")
        assert len(line.split()) > 1, f"{name} has no help line in:\n{out}"


@pytest.mark.parametrize("name", TASKS)
def test_every_flag_has_help(name: str) -> None:
    out = ok("--help", name)
    options = out.split("Options:", 1)[1]
    for row in options.splitlines():
        if row.strip().startswith("-"):
            assert len(row.split("  ")) > 1 and row.split("  ")[-1].strip(), row


def test_bootstrap_dry_run_shows_commands_and_changes_nothing(
    example_copy: Path, env: dict[str, str]
) -> None:
    before = sorted(p.name for p in example_copy.iterdir())
    out = ok("bootstrap", "--dry-run", "--source", str(example_copy), env=env)
    venv = example_copy / ".venv"
    assert "venv --python" in out and "--seed" in out
    assert "VLLM_USE_PRECOMPILED=1" in out and "--torch-backend=auto" in out
    assert "requirements/build.txt" in out
    assert "+++ " in out and '"VLLM_PYTHON_EXECUTABLE"' in out  # the presets diff
    assert "--preset release" in out and "--target install" in out
    assert str(venv / "bin" / "python").replace(" ", "\\ ") in out or f"'{venv}" in out
    assert sorted(p.name for p in example_copy.iterdir()) == before
    pypi = ok("bootstrap", "--dry-run", "--source", str(example_copy), "--torch-backend", "",
              env=env)  # fmt: skip
    assert "VLLM_USE_PRECOMPILED=1" in pypi and "--torch-backend" not in pypi, pypi


def test_config_shows_origins(env: dict[str, str]) -> None:
    out = ok("config", "--preset", "debug", env={**env, "VLLM_BUILD_JOBS": "3"})
    assert any("preset" in r and "debug" in r and "flag --preset" in r for r in out.splitlines()), (
        out.splitlines()
    )
    assert any("jobs" in r and "env VLLM_BUILD_JOBS" in r for r in out.splitlines()), (
        out.splitlines()
    )


def test_source_that_is_not_a_cmake_tree(tmp_path: Path, env: dict[str, str]) -> None:
    run = invoke("build", "--source", str(tmp_path), env=env)
    assert run.returncode == 1
    assert "not a CMake source tree" in run.output and "fix:" in run.output


def test_invalid_presets_json_is_left_untouched(example_copy: Path, env: dict[str, str]) -> None:
    path = example_copy / "CMakeUserPresets.json"
    path.write_text('{"version": 6,\n "configurePresets": [}\n')
    before = path.read_bytes()
    run = invoke("presets", "--source", str(example_copy), env=env)
    assert run.returncode == 1
    assert f"{path} is not valid JSON (line 2, column" in run.output
    assert path.read_bytes() == before


def test_unknown_preset_lists_the_known_ones(example_copy: Path, env: dict[str, str]) -> None:
    path = example_copy / "CMakeUserPresets.json"
    path.write_text(json.dumps({"version": 6, "configurePresets": [{"name": "mine"}]}))
    run = invoke("configure", "--source", str(example_copy), "--preset", "relese", env=env)
    assert run.returncode == 1
    assert "Preset 'relese' is not in" in run.output and "mine" in run.output


def test_foreign_preset_is_not_overwritten(example_copy: Path, env: dict[str, str]) -> None:
    path = example_copy / "CMakeUserPresets.json"
    path.write_text(json.dumps({"version": 6, "configurePresets": [{"name": "release"}]}))
    run = invoke("presets", "--source", str(example_copy), env=env)
    assert run.returncode == 0 and "kept your configure preset 'release'" in run.output, run.output
    assert "--force" in run.output, run.output
    data = json.loads(path.read_text())
    assert data["configurePresets"][0] == {"name": "release"}, "the user's preset was changed"


def test_python_that_cannot_be_found(example_copy: Path, env: dict[str, str]) -> None:
    run = invoke("venv", "--source", str(example_copy), "--python", "3.4", env=env)
    assert run.returncode == 1
    assert "Python 3.4 was not found" in run.output and "--python" in run.output
    assert not (example_copy / ".venv").exists()


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if not p.is_symlink()
    }


@pytest.mark.parametrize("task", ["bootstrap", "presets", "build", "clean-build", "install"])
def test_a_dry_run_writes_nothing_into_the_checkout(
    example_copy: Path, env: dict[str, str], task: str
) -> None:
    """issue 17: --dry-run shows the exact commands and changes no file (no state dir, no
    log, no presets, no caches of ours)."""
    before = tree_state(example_copy)
    out = ok(task, "--source", str(example_copy), "--dry-run", env=env)
    assert "would run" in out or "would write" in out, out
    after = tree_state(example_copy)
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert changed == [], f"a dry run of {task} wrote {changed}"


def test_a_password_in_the_remote_cache_url_is_never_printed_logged_or_written(
    example_copy: Path, env: dict[str, str]
) -> None:
    url = "redis://builder:s3cret@127.0.0.1:9"
    args = ("--source", str(example_copy), "--launcher", "ccache", "--remote-cache", url)
    out = ok("presets", *args, env=env)
    assert "s3cret" not in out and "redis://builder:***@127.0.0.1:9" in out, out
    presets = (example_copy / "CMakeUserPresets.json").read_text()
    assert "s3cret" not in presets and "CCACHE_REMOTE_STORAGE" not in presets, presets
    for log in (example_copy / ".vllm-build-tools").glob("*.log"):
        assert "s3cret" not in log.read_text(), log
    shown = ok("config", "--source", str(example_copy), env={**env, "VLLM_BUILD_REMOTE_CACHE": url})
    assert "s3cret" not in shown and "builder:***@" in shown, shown
    bad = invoke("presets", "--source", str(example_copy), "--remote-cache", "ftp://u:s3cret@h")
    assert bad.returncode == 1 and "s3cret" not in bad.output, bad.output


def test_a_plan_on_a_never_configured_checkout_writes_nothing(
    example_copy: Path, env: dict[str, str]
) -> None:
    """issue 26: `build --plan` writes no CMakeUserPresets.json and no state files: a plan
    is a dry run that also says what would compile."""
    before = sorted(p.relative_to(example_copy) for p in example_copy.rglob("*"))
    run = invoke("build", "--plan", "--source", str(example_copy), env=env)
    after = sorted(p.relative_to(example_copy) for p in example_copy.rglob("*"))
    assert after == before, f"--plan wrote {sorted(set(after) - set(before))}:\n{run.output}"
    assert run.returncode == 0, run.output
    assert "would write CMakeUserPresets.json" in run.output, run.output
    assert "is not configured yet" in run.output, run.output


def test_a_dangling_venv_link_is_said_with_its_fix(example_copy: Path, env: dict[str, str]) -> None:
    """issue 26: `.venv` a symlink to nothing: one sentence and the fix, not uv's "File exists
    (os error 17)"; the link is left as it was."""
    link = example_copy / ".venv"
    link.symlink_to(example_copy.parent / "gone-venv")
    run = invoke("venv", "--source", str(example_copy), env=env)
    assert run.returncode != 0, run.output
    assert f"{link} is a symlink to {example_copy.parent / 'gone-venv'}, which does not exist" in (
        run.output
    ), run.output
    assert f"fix: remove the link (`rm {shlex.quote(str(link))}`)" in run.output, run.output
    assert "os error 17" not in run.output and link.is_symlink(), run.output
