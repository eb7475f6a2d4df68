"""What a venv holds, read from its files without running it: its Python version, its installed
distributions (importlib.metadata), editable sources (PEP 610) and the stamps we leave in it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import unquote, urlparse

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:  # importlib.metadata costs ~13 ms: only the steps that look at a venv pay it
    from importlib import metadata

DEPS_STAMP = ".vllm-build-tools-deps.json"  # dies with the venv
INSTALL_STAMP = ".vllm-build-tools-install.json"  # how the checkout was installed
MARKER = ".vllm-build-tools-venv"  # in a venv we created: ours to install into


def python_of(venv_dir: Path) -> Path:
    """The environment's interpreter: bin/python, else bin/python3 (some images have only it)."""
    if sys.platform == "win32":
        return venv_dir / "Scripts" / "python.exe"
    plain = venv_dir / "bin" / "python"
    return (
        plain
        if plain.exists() or not (venv_dir / "bin" / "python3").exists()
        else plain.with_name("python3")
    )


def site_packages(venv_dir: Path) -> Optional[Path]:
    found = sorted(venv_dir.glob("lib/python*/site-packages")) or sorted(
        venv_dir.glob("Lib/site-packages")
    )
    return found[0] if found else None


def installed(venv_dir: Path) -> dict[str, metadata.Distribution]:
    """Distributions in the venv, by canonical name (read from disk, no subprocess)."""
    site = site_packages(venv_dir)
    if site is None:
        return {}
    from importlib import metadata

    found: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions(path=[str(site)]):
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            found.setdefault(canonicalize_name(name), dist)
    return found


def version_of(dist: metadata.Distribution) -> Optional[Version]:
    try:
        return Version(dist.version)
    except InvalidVersion:
        return None


def editable_source(dist: metadata.Distribution) -> Optional[Path]:
    """The source directory of an editable install, from its direct_url.json (PEP 610)."""
    try:
        data = json.loads(dist.read_text("direct_url.json") or "")
    except ValueError:
        return None
    url = data.get("url", "") if isinstance(data, dict) else ""
    if not data.get("dir_info", {}).get("editable") or not url.startswith("file://"):
        return None
    return Path(unquote(urlparse(url).path))


def python_version(venv_dir: Path) -> Optional[Version]:
    """The Python version recorded in the venv's pyvenv.cfg, if there is a venv."""
    try:
        text = (venv_dir / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() in ("version_info", "version"):
            try:
                return Version(value.strip())
            except InvalidVersion:
                return None
    return None


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, sort_keys=True) + "\n", encoding="utf-8")
