"""The checkout's #include lines as text (cmake/include_text.py): an order for scans."""

from __future__ import annotations

from pathlib import Path

from build_tools.cmake.include_text import IncludeText


def test_a_header_reached_through_the_checkouts_files_and_search_dirs(tmp_path: Path) -> None:
    root = tmp_path / "src"
    (root / "csrc" / "moe").mkdir(parents=True)
    (root / ".venv" / "inc").mkdir(parents=True)
    (root / "csrc" / "moe" / "k.cu").write_text('#include "moe_ops.h"\n#include <torch.h>\n')
    (root / "csrc" / "moe" / "moe_ops.h").write_text('  #  include "cub_helpers.h"\n')
    (root / "csrc" / "cub_helpers.h").write_text("#pragma once\n")
    (root / "csrc" / "other.cu").write_text('#include "dispatch.h"\n')
    (root / "csrc" / "dispatch.h").write_text("#pragma once\n")
    (root / ".venv" / "inc" / "torch.h").write_text('#include "cub_helpers.h"\n')  # not ours
    text = IncludeText(str(root), [str(root / ".venv")])
    dirs = [str(root / "csrc"), str(root / ".venv" / "inc")]
    wanted = {str(root / "csrc" / "cub_helpers.h")}
    assert text.reaches(str(root / "csrc" / "moe" / "k.cu"), dirs, wanted)
    assert not text.reaches(str(root / "csrc" / "other.cu"), dirs, wanted)
    only_venv = str(root / "csrc" / "v.cu")
    Path(only_venv).write_text("#include <torch.h>\n")
    assert not text.reaches(only_venv, dirs, wanted), "followed a header outside the checkout"
