"""ONNX backend cases int8rt refuses, each with the reason (test_onnx_backend.py checks
that every one of them is refused with a clear error and that every other case passes).

Regenerate the candidates with `python -m tests.conformance.runner` (REFUSED lines).
"""

REFUSED: dict[str, str] = {
    "test_quantizelinear_axis":
        "per-axis activation quantization (int8rt activations are per tensor)",
    "test_quantizelinear_e4m3fn":
        "element type FLOAT8E4M3FN: int8rt models take float32 (quantization: int8 / uint8)",
    "test_quantizelinear_e5m2":
        "element type FLOAT8E5M2: int8rt models take float32 (quantization: int8 / uint8)",
    "test_quantizelinear_uint16":
        "element type UINT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_quantizelinear_int16":
        "element type INT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_quantizelinear_uint4":
        "element type UINT4: int8rt models take float32 (quantization: int8 / uint8)",
    "test_quantizelinear_int4":
        "element type INT4: int8rt models take float32 (quantization: int8 / uint8)",
    "test_quantizelinear_uint2":
        "element type UINT2: int8rt models take float32 (quantization: int8 / uint8)",
    "test_quantizelinear_int2":
        "element type INT2: int8rt models take float32 (quantization: int8 / uint8)",
    "test_quantizelinear_float4e2m1":
        "element type FLOAT4E2M1: int8rt models take float32 (quantization: int8 / uint8)",
    "test_quantizelinear_blocked_asymmetric": "blocked quantization (block_size)",
    "test_quantizelinear_blocked_symmetric":
        "element type INT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_dequantizelinear_axis":
        "per-axis activation quantization (int8rt activations are per tensor)",
    "test_dequantizelinear_e4m3fn":
        "element type FLOAT8E4M3FN: int8rt models take float32 (quantization: int8 / uint8)",
    "test_dequantizelinear_e4m3fn_float16":
        "element type FLOAT8E4M3FN: int8rt models take float32 (quantization: int8 / uint8)",
    "test_dequantizelinear_e4m3fn_zero_point":
        "element type FLOAT8E4M3FN: int8rt models take float32 (quantization: int8 / uint8)",
    "test_dequantizelinear_e5m2":
        "element type FLOAT8E5M2: int8rt models take float32 (quantization: int8 / uint8)",
    "test_dequantizelinear_uint16":
        "element type UINT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_dequantizelinear_int16":
        "element type INT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_dequantizelinear_uint4":
        "element type UINT4: int8rt models take float32 (quantization: int8 / uint8)",
    "test_dequantizelinear_int4":
        "element type INT4: int8rt models take float32 (quantization: int8 / uint8)",
    "test_dequantizelinear_uint2":
        "element type UINT2: int8rt models take float32 (quantization: int8 / uint8)",
    "test_dequantizelinear_int2":
        "element type INT2: int8rt models take float32 (quantization: int8 / uint8)",
    "test_dequantizelinear_float4e2m1":
        "element type FLOAT4E2M1: int8rt models take float32 (quantization: int8 / uint8)",
    "test_dequantizelinear_blocked": "blocked quantization (block_size)",
    "test_qlinearconv":
        "asymmetric uint8 weights: q - z spans more than int8 (int8rt weights are symmetric int8)",
    "test_qlinearmatmul_2D_uint8_float32":
        "asymmetric uint8 weights: q - z spans more than int8 (int8rt weights are symmetric int8)",
    "test_qlinearmatmul_2D_uint8_float16":
        "element type FLOAT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_qlinearmatmul_3D_uint8_float16":
        "element type FLOAT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_qlinearmatmul_2D_int8_float32":
        "asymmetric uint8 weights: q - z spans more than int8 (int8rt weights are symmetric int8)",
    "test_qlinearmatmul_2D_int8_float16":
        "element type FLOAT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_qlinearmatmul_3D_int8_float16":
        "element type FLOAT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_convinteger_without_padding": "run-time (dynamic) activation quantization: not static",
    "test_convinteger_with_padding": "run-time (dynamic) activation quantization: not static",
    "test_matmulinteger": "run-time (dynamic) activation quantization: not static",
    "test_dynamicquantizelinear": "run-time (dynamic) activation quantization: not static",
    "test_dynamicquantizelinear_max_adjusted":
        "run-time (dynamic) activation quantization: not static",
    "test_dynamicquantizelinear_min_adjusted":
        "run-time (dynamic) activation quantization: not static",
    "test_convtranspose_1d": "1-D / 3-D spatial op (int8rt: 2-D, NCHW)",
    "test_convtranspose_3d": "1-D / 3-D spatial op (int8rt: 2-D, NCHW)",
    "test_clip_default_int8_min":
        "element type INT8: int8rt models take float32 (quantization: int8 / uint8)",
    "test_clip_default_int8_max":
        "element type INT8: int8rt models take float32 (quantization: int8 / uint8)",
    "test_clip_default_int8_inbounds":
        "element type INT8: int8rt models take float32 (quantization: int8 / uint8)",
    "test_add_int8": "element type INT8: int8rt models take float32 (quantization: int8 / uint8)",
    "test_add_int16": "element type INT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_add_uint8": "element type UINT8: int8rt models take float32 (quantization: int8 / uint8)",
    "test_add_uint16":
        "element type UINT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_add_uint32":
        "element type UINT32: int8rt models take float32 (quantization: int8 / uint8)",
    "test_add_uint64":
        "element type UINT64: int8rt models take float32 (quantization: int8 / uint8)",
    "test_sub_int8": "element type INT8: int8rt models take float32 (quantization: int8 / uint8)",
    "test_sub_int16": "element type INT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_sub_uint8": "element type UINT8: int8rt models take float32 (quantization: int8 / uint8)",
    "test_sub_uint16":
        "element type UINT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_sub_uint32":
        "element type UINT32: int8rt models take float32 (quantization: int8 / uint8)",
    "test_sub_uint64":
        "element type UINT64: int8rt models take float32 (quantization: int8 / uint8)",
    "test_mul_int8": "element type INT8: int8rt models take float32 (quantization: int8 / uint8)",
    "test_mul_int16": "element type INT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_mul_uint8": "element type UINT8: int8rt models take float32 (quantization: int8 / uint8)",
    "test_mul_uint16":
        "element type UINT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_mul_uint32":
        "element type UINT32: int8rt models take float32 (quantization: int8 / uint8)",
    "test_mul_uint64":
        "element type UINT64: int8rt models take float32 (quantization: int8 / uint8)",
    "test_div_int8": "element type INT8: int8rt models take float32 (quantization: int8 / uint8)",
    "test_div_int16": "element type INT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_div_int32_trunc":
        "element type INT32: int8rt models take float32 (quantization: int8 / uint8)",
    "test_div_uint8": "element type UINT8: int8rt models take float32 (quantization: int8 / uint8)",
    "test_div_uint16":
        "element type UINT16: int8rt models take float32 (quantization: int8 / uint8)",
    "test_div_uint32":
        "element type UINT32: int8rt models take float32 (quantization: int8 / uint8)",
    "test_div_uint64":
        "element type UINT64: int8rt models take float32 (quantization: int8 / uint8)",
    "test_batchnorm_example_training_mode": "training mode",
    "test_batchnorm_epsilon_training_mode": "training mode",
    "test_maxpool_2d_uint8":
        "element type UINT8: int8rt models take float32 (quantization: int8 / uint8)",
    "test_maxpool_with_argmax_2d_precomputed_pads": "MaxPool Indices output",
    "test_maxpool_with_argmax_2d_precomputed_strides": "MaxPool Indices output",
    "test_maxpool_1d_default": "1-D / 3-D spatial op (int8rt: 2-D, NCHW)",
    "test_maxpool_3d_default": "1-D / 3-D spatial op (int8rt: 2-D, NCHW)",
    "test_maxpool_3d_dilations": "1-D / 3-D spatial op (int8rt: 2-D, NCHW)",
    "test_maxpool_3d_dilations_use_ref_impl": "1-D / 3-D spatial op (int8rt: 2-D, NCHW)",
    "test_maxpool_3d_dilations_use_ref_impl_large": "1-D / 3-D spatial op (int8rt: 2-D, NCHW)",
    "test_averagepool_1d_default": "1-D / 3-D spatial op (int8rt: 2-D, NCHW)",
    "test_averagepool_3d_default": "1-D / 3-D spatial op (int8rt: 2-D, NCHW)",
    "test_averagepool_2d_dilations": "dilated AveragePool",
    "test_averagepool_3d_dilations_small": "1-D / 3-D spatial op (int8rt: 2-D, NCHW)",
    "test_averagepool_3d_dilations_large_count_include_pad_is_0_ceil_mode_is_True":
        "1-D / 3-D spatial op (int8rt: 2-D, NCHW)",
    "test_averagepool_3d_dilations_large_count_include_pad_is_0_ceil_mode_is_False":
        "1-D / 3-D spatial op (int8rt: 2-D, NCHW)",
    "test_averagepool_3d_dilations_large_count_include_pad_is_1_ceil_mode_is_True":
        "1-D / 3-D spatial op (int8rt: 2-D, NCHW)",
    "test_averagepool_3d_dilations_large_count_include_pad_is_1_ceil_mode_is_False":
        "1-D / 3-D spatial op (int8rt: 2-D, NCHW)",
    # ops kept in float32 with ONNX semantics (opset.ONNX_FLOAT_OPS)
    "test_reduce_sum_empty_axes_input_noop_example":
        "noop_with_empty_axes with empty axes (an identity)",
    "test_reduce_sum_empty_axes_input_noop": "noop_with_empty_axes with empty axes (an identity)",
    **{f"test_reduce_{op}_empty_set": "zero-size tensors (a symbolic input dimension)"
       for op in ("sum", "max", "sum_square", "l1", "l2")},
    "test_reduce_sum_empty_set_non_reduced_axis_zero":
        "zero-size tensors (a symbolic input dimension)",
    "test_where_example":
        "element type BOOL: int8rt models take float32 (quantization: int8 / uint8)",
    "test_where_long_example":
        "element type BOOL: int8rt models take float32 (quantization: int8 / uint8)",
    "test_reduce_max_bool_inputs":
        "element type BOOL: int8rt models take float32 (quantization: int8 / uint8)",
    "test_reduce_max_empty_set_bool":
        "element type BOOL: int8rt models take float32 (quantization: int8 / uint8)",
    **{f"test_layer_normalization_{case}": "LayerNormalization's Mean / InvStdDev outputs"
       for case in ("4d_axis0", "4d_axis_negative_4", "4d_axis1", "4d_axis_negative_3",
                    "4d_axis2", "4d_axis_negative_2", "4d_axis3", "4d_axis_negative_1",
                    "default_axis", "2d_axis0", "2d_axis_negative_2", "2d_axis1",
                    "2d_axis_negative_1", "3d_axis0_epsilon", "3d_axis_negative_3_epsilon",
                    "3d_axis1_epsilon", "3d_axis_negative_2_epsilon", "3d_axis2_epsilon",
                    "3d_axis_negative_1_epsilon")},
    "test_reshape_allowzero_reordered": "zero-size tensors",
    "test_split_zero_size_splits_opset13": "zero-size tensors",
    "test_split_zero_size_splits_opset18": "zero-size tensors",
    "test_edge_pad": "element type INT32: int8rt models take float32 (quantization: int8 / uint8)",
    "test_reflect_pad":
        "element type INT32: int8rt models take float32 (quantization: int8 / uint8)",
    "test_wrap_pad": "element type INT32: int8rt models take float32 (quantization: int8 / uint8)",
    "test_resize_upsample_scales_cubic": "Resize mode cubic",
    "test_resize_upsample_scales_cubic_align_corners": "Resize mode cubic",
    "test_resize_downsample_scales_cubic": "Resize mode cubic",
    "test_resize_downsample_scales_cubic_align_corners": "Resize mode cubic",
    "test_resize_upsample_sizes_cubic": "Resize mode cubic",
    "test_resize_downsample_sizes_cubic": "Resize mode cubic",
    "test_resize_upsample_scales_cubic_A_n0p5_exclude_outside": "Resize mode cubic",
    "test_resize_downsample_scales_cubic_A_n0p5_exclude_outside": "Resize mode cubic",
    "test_resize_upsample_scales_cubic_asymmetric": "Resize mode cubic",
    "test_resize_tf_crop_and_resize": "Resize tf_crop_and_resize",
    "test_resize_tf_crop_and_resize_extrapolation_value": "Resize tf_crop_and_resize",
    "test_resize_downsample_scales_linear_antialias": "Resize antialias",
    "test_resize_downsample_sizes_linear_antialias": "Resize antialias",
    "test_resize_downsample_scales_cubic_antialias": "Resize mode cubic",
    "test_resize_downsample_sizes_cubic_antialias": "Resize mode cubic",
    "test_resize_tf_crop_and_resize_axes_2_3": "Resize tf_crop_and_resize",
    "test_resize_tf_crop_and_resize_axes_3_2": "Resize tf_crop_and_resize",
    "test_resize_upsample_sizes_nearest_not_larger": "Resize keep_aspect_ratio_policy",
    "test_resize_upsample_sizes_nearest_not_smaller": "Resize keep_aspect_ratio_policy",
    "test_resize_downsample_sizes_nearest_not_larger": "Resize keep_aspect_ratio_policy",
    "test_resize_downsample_sizes_nearest_not_smaller": "Resize keep_aspect_ratio_policy",
    "test_resize_downsample_scales_linear_half_pixel_symmetric": "Resize half_pixel_symmetric",
    "test_resize_upsample_scales_linear_half_pixel_symmetric": "Resize half_pixel_symmetric",
    "test_identity_sequence":
        "element type UNDEFINED: int8rt models take float32 (quantization: int8 / uint8)",
    "test_identity_opt":
        "element type UNDEFINED: int8rt models take float32 (quantization: int8 / uint8)",
    "test_dropout_default_mask": "Dropout mask output",
    "test_dropout_default_mask_ratio": "Dropout mask output",
    "test_training_dropout_default": "training mode",
    "test_training_dropout_default_mask": "Dropout mask output",
    "test_training_dropout": "training mode",
    "test_training_dropout_mask": "Dropout mask output",
    "test_training_dropout_zero_ratio": "training mode",
    "test_training_dropout_zero_ratio_mask": "Dropout mask output",
}

# Cases int8rt runs but gets wrong: known bugs outside this suite's code, reported.
WRONG: dict[str, str] = {
    "test_l2normalization_axis_0":
        "a zero norm: ONNX's reference writes 0, int8rt divides by it (NaN), as the dynamic "
        "path's LpNormalization record does",
    "test_resize_downsample_scales_linear_align_corners":
        "align_corners with `scales`: ONNX maps through the float length in * scale (2.4), "
        "int8rt through the integer output size",
}
