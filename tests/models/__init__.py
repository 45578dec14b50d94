"""Test models and data: torch architectures, sample images, ONNX export, ONNX Runtime baseline.

Test-only code: imports torch, onnx, onnxruntime and scikit-image, none of which int8rt needs at
run time.
"""
