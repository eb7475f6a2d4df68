"""Shared fixtures: a temporary copy of the bundled example and fake toolchains on a PATH."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from build_tools.checkout import copy_sources
from build_tools.settings import EXAMPLE_SOURCE


def copy_example(dest: Path) -> Path:
    return copy_sources(EXAMPLE_SOURCE, dest)


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A fresh copy of examples/minivllm in a directory whose path has a space."""
    return copy_example(tmp_path / "my src" / "minivllm")


def make_tool(directory: Path, name: str, script: str = "") -> Path:
    """A tiny executable standing in for a real tool (prints `script` as its body)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + (script or "exit 0") + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    return tmp_path / "fakebin"


def base_env(path: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": str(path), "HOME": str(path.parent / "home")}
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def _no_user_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read the developer's own vllm-build.local.toml or VLLM_BUILD_* variables."""
    for key in list(os.environ):
        if key.startswith("VLLM_BUILD_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("VLLM_BUILD_CONFIG", str(tmp_path / "no-user-settings.toml"))
