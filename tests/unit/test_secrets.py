"""Credentials never printed, logged or written where others can read them."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from build_tools.cache import policy
from build_tools.safety.secrets import has_credentials, redact, write_private
from build_tools.settings import Settings


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://:pw@h:6379", "redis://:***@h:6379"),
        ("redis://user:pw@h:6379|read-only", "redis://user:***@h:6379|read-only"),
        ("CCACHE_REMOTE_STORAGE=https://a:b@cache.example/x", "CCACHE_REMOTE_STORAGE=https://a:***@cache.example/x"),
        ("redis://h:6379 and http://h/x", "redis://h:6379 and http://h/x"),
    ],
)  # fmt: skip
def test_passwords_in_urls_are_masked(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_a_private_file_is_owner_only_even_when_it_was_not(tmp_path: Path) -> None:
    path = tmp_path / "secret.toml"
    path.write_text("old\n")
    path.chmod(0o644)
    write_private(path, "token = 'x'\n")
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o600 and path.read_text() == "token = 'x'\n", oct(mode)


def test_a_url_with_a_password_stays_out_of_the_preset(tmp_path: Path) -> None:
    notes: list[str] = []
    secret = Settings(remote_cache="redis://:pw@h:6379")
    env = policy.preset_environment(secret, tmp_path, Path("/usr/bin/ccache"), notes)
    assert "CCACHE_REMOTE_STORAGE" not in env and has_credentials(secret.remote_cache), env
    assert all("pw@" not in note for note in notes), notes
    plain = Settings(remote_cache="redis://h:6379", remote_cache_mode="read-only")
    env = policy.preset_environment(plain, tmp_path, Path("/usr/bin/ccache"), notes)
    assert env["CCACHE_REMOTE_STORAGE"] == "redis://h:6379|read-only", env
