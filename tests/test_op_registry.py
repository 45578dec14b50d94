"""The ops declared whole (int8rt/ops/: pooling and data movement) against the code that runs
them: every consumer takes the op from its declaration, and none of them names it again
(docs/ARCHITECTURE.md "Adding an op")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import int8rt
from int8rt import lower, opset, validate
from int8rt.ops.schema import OpSchema
from int8rt.passes import constant_folding, layout
from int8rt.reference import float_ops

# the package's own sources: the checkout's, or the installed package's (the Pi chroot's run)
ROOT = Path(int8rt.__file__).resolve().parent.parent
DECLARED = [opset.OPS[op] for op in opset.DECLARED_OPS]


def test_the_declared_ops_are_the_ops_modules():
    from int8rt.ops import movement, onnx_float, pooling

    names = [s.name for s in (*pooling.OPS, *movement.OPS, *onnx_float.OPS)]
    assert sorted(names) == sorted(opset.DECLARED_OPS)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("s", DECLARED, ids=lambda s: s.name)
def test_declaration_is_complete(s: OpSchema):
    assert s.arity is not None and s.shape is not None and s.reference is not None
    assert s.layout in ("spatial", "custom", "onnx")
    assert s.out_qparams in ("observed", "same", "fixed")
    assert s.lower_f32 is None or s.lower is not None


@pytest.mark.parametrize("s", DECLARED, ids=lambda s: s.name)
def test_consumers_take_the_declaration(s: OpSchema):
    assert validate.ARITY[s.name] == s.arity
    assert float_ops.OPS[s.name] is s.reference
    rule = lower._RULES[s.name]
    if s.lower_f32 in (None, s.lower):
        assert rule is s.lower
    assert (s.name in lower.FLOAT_OPS) == (s.lower_f32 is not None)
    spatial = s.layout == "spatial"
    assert (s.name in layout.SPATIAL) == spatial
    assert (s.name in constant_folding._LAYOUT_BOUND) == spatial


def test_custom_layout_rules_exist():
    """layout "custom": the layout pass has its branch (attributes that name axes)."""
    src = (ROOT / "int8rt" / "passes" / "layout.py").read_text()
    for s in DECLARED:
        if s.layout == "custom":
            assert re.search(rf'op == "{s.name}"|"{s.name}"', src), s.name


# the modules that used to restate these ops: none may name one again (a literal "Op" in
# them is a special case outside the declaration)
_CONSUMERS = ("int8rt/lower.py", "int8rt/reference/float_ops.py",
              "int8rt/passes/shape_inference.py", "int8rt/validate.py",
              "int8rt/passes/constant_folding.py", "int8rt/quant/keep.py")


@pytest.mark.parametrize("path", _CONSUMERS)
def test_consumers_do_not_name_declared_ops(path):
    src = (ROOT / path).read_text()
    named = [op for op in opset.DECLARED_OPS if f'"{op}"' in src]
    # lower.py emits Transpose records around Softmax (a kernel name, lower case) and Reshape
    # is not lowered there: any capitalised op literal is a restatement
    assert not named, f"{path} names {named}: take them from their OpSchema"
