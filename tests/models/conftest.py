from .fixtures import digits_cnn_onnx, dscnn_onnx, mobilenet_v2_onnx, resnet18_onnx  # noqa: F401
