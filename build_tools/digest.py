"""A file's content digest (sha256, hex), read in blocks: the one answer to "what does this
file hold" wherever a record keeps content instead of clocks."""

from __future__ import annotations

import hashlib
import os
from typing import Union


def file_sha256(path: Union[str, os.PathLike[str]]) -> str:
    """The sha256 of the file's bytes (OSError where it cannot be read)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
