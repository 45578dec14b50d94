"""The dynamic path: ONNX transformer / RNN graphs specialised per input shape, with float32
kernels and dynamically quantized (or weight-only quantized) matmuls in one native plan.

    onnx_graph.load  ->  ir.Graph of ONNX ops (ONNX layout and semantics, no NHWC)
    quant.dynamic.quantize_weights  ->  MatMul/Gemm with int8 or int4 weights
    specialize.specialize(graph, shapes)  ->  shape subgraphs folded, patterns fused
    plan.FloatPlan(graph)  ->  native op records (int8rt/_dynamic.pxi, csrc/kernels/dynq)
    session.DynamicSession  ->  one plan per input shape, cached

docs/TRANSFORMERS.md describes it.
"""
