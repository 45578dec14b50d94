"""The dynamic path: ONNX transformer / RNN graphs in ONNX layout, with float32 kernels and
dynamically quantized (or weight-only quantized) matmuls, run by the one native plan.

    onnx_graph.load  ->  ir.Graph of ONNX ops (ONNX layout and semantics, no NHWC)
    quant.dynamic.quantize_weights  ->  MatMul/Gemm with int8 or int4 weights
    specialize.specialize(graph, shapes)  ->  shape subgraphs folded, exact shapes
    lower.lower_program(graph)  ->  a Program of float32 / dynq / weight-only kernel calls
    int8rt.Session  ->  int8rt.plan.NativePlan per input shape, cached (bounded)

docs/TRANSFORMERS.md describes it.
"""
