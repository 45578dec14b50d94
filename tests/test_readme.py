"""README's op table is generated from the registries; it must not drift from the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_op_table_is_current() -> None:
    pytest.importorskip("onnx")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_op_table.py"), "--check"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
