"""A table of a TOML file, read for the settings' layers and a checkout's pyproject.toml."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

from build_tools.errors import BuildToolsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


def read_toml_table(path: Path, table: Optional[str] = None) -> dict[str, Any]:
    """The settings table of a TOML file ({} when the file or table is absent)."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BuildToolsError(
            f"{path} is not valid TOML: {exc}.", f"fix the syntax in {path}"
        ) from None
    if table:
        for part in table.split("."):
            data = data.get(part, {})
    if not isinstance(data, dict):
        raise BuildToolsError(f"[{table}] in {path} is not a table.", f"fix {path}")
    return data
