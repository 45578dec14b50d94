"""Test modules import the extras (onnx, onnxruntime, torch, Pillow, ...) only behind
`pytest.importorskip`: the Pi chroots of tools/arm/chroot.sh run the suite against an installed
int8rt with none of them, and one module-level `import onnx` there is a collection error that
stops the whole run (pytest's default), not a skip."""

from __future__ import annotations

import ast
from pathlib import Path

EXTRAS = {"onnx", "onnxruntime", "torch", "torchvision", "PIL", "sklearn", "scipy",
          "transformers", "tokenizers", "matplotlib", "tqdm", "tflite_runtime"}
TESTS = Path(__file__).resolve().parent


def _importorskip_name(stmt: ast.stmt) -> str | None:
    """'m' for a module-level `pytest.importorskip("m")` (bare or assigned)."""
    call = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and call.func.attr == "importorskip" and call.args
            and isinstance(call.args[0], ast.Constant)):
        return str(call.args[0].value).split(".")[0]
    return None


def unguarded_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of each module-level import of an extra not importorskip'ped above it."""
    skipped: set[str] = set()
    bad = []
    for stmt in ast.parse(source).body:
        name = _importorskip_name(stmt)
        if name:
            skipped.add(name)
        if isinstance(stmt, ast.Import):
            mods = [a.name for a in stmt.names]
        elif isinstance(stmt, ast.ImportFrom) and stmt.level == 0 and stmt.module:
            mods = [stmt.module]
        else:
            continue
        bad += [(stmt.lineno, m) for m in mods
                if m.split(".")[0] in EXTRAS and m.split(".")[0] not in skipped]
    return bad


def test_the_checker_tells_guarded_from_unguarded() -> None:
    src = ("import pytest\nimport onnx\nort = pytest.importorskip('onnxruntime')\n"
           "import onnxruntime\nfrom torch import nn\n"
           "def f():\n    import PIL\n")
    assert unguarded_imports(src) == [(2, "onnx"), (5, "torch")]


def test_no_test_module_imports_an_extra_unguarded() -> None:
    found = [f"{p.relative_to(TESTS.parent)}:{line}: {mod}"
             for p in sorted(TESTS.rglob("test_*.py"))
             for line, mod in unguarded_imports(p.read_text(encoding="utf-8"))]
    assert not found, "module-level imports of extras without pytest.importorskip:\n" + \
        "\n".join(found)
