"""Ops declared whole: for each, one `OpSchema` (ops/schema.py) with its attributes, arity,
shape rule, layout rule, float32 reference and lowering to plan records, next to the code of
each. int8rt/opset.py collects them with the elementwise ops; nothing else names them
(docs/ARCHITECTURE.md "Adding an op").

- pooling.py: the pools (`pooling.OPS`)
- movement.py: data movement, from Reshape to DepthToSpace (`movement.OPS`)
- onnx_float.py: float-only ops kept with ONNX's semantics on NCHW data, lowered by the
  dynamic path's rule (`onnx_float.OPS`: reductions, LayerNormalization, MatMul, ...)
"""
