"""Fixed-scale int8 quantization, on a small ONNX graph built here (no model download)."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from sentiment.int8 import QuantizationError, fix_scales, quantize_fixed_scales, uint8_scale


def _two_layer_model(path, rng) -> None:
    """x[batch, 16] -> MatMul(16x32) -> Relu -> MatMul(32x4): two products to quantize."""
    w1 = numpy_helper.from_array(rng.normal(size=(16, 32)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(size=(32, 4)).astype(np.float32), "w2")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"])],
        "two_layers", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], [w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_fixed_scales_keep_the_output_close_and_do_not_depend_on_the_batch(tmp_path):
    rng = np.random.default_rng(7)
    _two_layer_model(tmp_path / "fp32.onnx", rng)
    calibration = [{"x": rng.normal(size=(8, 16)).astype(np.float32)} for _ in range(20)]
    quantize_fixed_scales(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", calibration)

    ops = [node.op_type for node in onnx.load(str(tmp_path / "int8.onnx")).graph.node]
    assert ops.count("MatMulIntegerToFloat") == 2 and ops.count("QuantizeLinear") == 2
    assert "DynamicQuantizeLinear" not in ops and "MatMulInteger" not in ops

    x = rng.normal(size=(6, 16)).astype(np.float32)
    reference, quantized = _run(tmp_path / "fp32.onnx", x), _run(tmp_path / "int8.onnx", x)
    assert np.abs(quantized - reference).max() < 0.05 * np.abs(reference).max()
    # one row alone gives exactly what it gives next to others, even next to a huge row
    with_outlier = np.vstack([x[:1], 50 * x[1:2]])
    int8 = tmp_path / "int8.onnx"
    assert np.array_equal(_run(int8, x[:1])[0], _run(int8, with_outlier)[0])


def test_scale_matches_what_dynamic_quantization_computes():
    assert uint8_scale(-1.0, 3.0) == pytest.approx((4.0 / 255, 64))
    assert uint8_scale(2.0, 5.0) == pytest.approx((5.0 / 255, 0))  # the range always holds zero
    assert uint8_scale(0.0, 0.0)[0] > 0  # a tensor that was always zero still gets a usable scale


def test_a_graph_of_another_shape_is_refused_not_half_rewritten():
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "plain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph)
    with pytest.raises(QuantizationError):
        fix_scales(model, {})
    assert [node.op_type for node in model.graph.node] == ["Relu"]


def test_weights_are_quantized_to_7_bits_so_avx2_products_cannot_overflow(tmp_path):
    """On CPUs without AVX-512 VNNI, ONNX Runtime adds pairs of uint8 x int8 products in 16 bits:
    255 * 127 * 2 overflows, and the output was off by 27% of its range on this test's model
    (fine on a VNNI CPU). 7-bit weights (|w| <= 64) keep every pair in range on any CPU."""
    rng = np.random.default_rng(11)
    _two_layer_model(tmp_path / "fp32.onnx", rng)
    calibration = [{"x": rng.normal(size=(8, 16)).astype(np.float32)} for _ in range(5)]
    quantize_fixed_scales(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", calibration)
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(tmp_path / "int8.onnx")).graph.initializer
               if t.name.endswith("_quantized")}
    assert set(weights) == {"w1_quantized", "w2_quantized"}
    for values in weights.values():
        assert values.dtype == np.int8 and np.abs(values.astype(int)).max() <= 64
