"""Graph passes: each module holds one small pass `fn(graph) -> graph` (edits in place).

`canonicalize` turns what a frontend emits (canonical ops over NCHW, plus the transient
BatchNormalization, ConvTranspose and Identity ops) into the canonical NHWC graph that
quantization, the float executor and lowering expect.
"""

from __future__ import annotations

from int8rt import ir
from int8rt.passes.batchnorm import fold_batchnorm
from int8rt.passes.constant_folding import fold_constants
from int8rt.passes.conv_transpose import lower_conv_transpose
from int8rt.passes.fold_affine import fold_affine
from int8rt.passes.fuse_activations import fuse_activations
from int8rt.passes.fuse_patterns import fuse_patterns
from int8rt.passes.identity import remove_identity
from int8rt.passes.layout import to_nhwc
from int8rt.passes.prune import prune
from int8rt.passes.shape_inference import infer_shapes
from int8rt.passes.simplify import simplify_data_movement

__all__ = [
    "canonicalize", "fold_affine", "fold_batchnorm", "fold_constants", "fuse_activations",
    "fuse_patterns", "infer_shapes", "lower_conv_transpose", "prune", "remove_identity",
    "simplify_data_movement", "to_nhwc",
]


def canonicalize(graph: ir.Graph) -> ir.Graph:
    """Run the passes in order; returns the same (edited) graph."""
    graph.meta.setdefault("layout", "NCHW")
    remove_identity(graph)
    fold_constants(graph)
    fold_batchnorm(graph)
    fuse_patterns(graph)  # first, so that folding leaves HardSwish / SiLU patterns whole
    fold_affine(graph)
    to_nhwc(graph)
    lower_conv_transpose(graph)
    simplify_data_movement(graph)
    fuse_patterns(graph)
    fuse_activations(graph)
    fold_constants(graph)
    infer_shapes(graph)
    prune(graph)
    return graph
