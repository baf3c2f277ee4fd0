"""int8 weights and activations with fixed, calibrated scales: fast, and the same for every batch.

ONNX Runtime's dynamic quantization measures each activation's range on the batch being scored, so
a mention's probabilities moved by up to 0.16 depending on which mentions shared its batch. Here
each activation gets one scale, measured once on calibration texts from the training corpora, and
every matrix product (the attention projections included) runs on int8:

1. `quantize_dynamic` quantizes the weights (per output channel, to 7 bits: on CPUs without
   AVX-512 VNNI, ONNX Runtime sums pairs of uint8 x int8 products in 16 bits, and full 8-bit
   weights overflow them) and inserts a DynamicQuantizeLinear before each quantized product;
2. that graph is run over the calibration texts and the min/max of each of those inputs is
   kept (min/max, not a percentile: clipping the rare large activations of a transformer
   costs far more accuracy than the coarser steps);
3. each DynamicQuantizeLinear becomes a QuantizeLinear with that fixed scale, and each
   MatMulInteger -> Cast -> Mul(scale) chain becomes one MatMulIntegerToFloat kernel.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np

Batch = dict[str, np.ndarray]  # {"input_ids": ..., "attention_mask": ...}


class QuantizationError(Exception):
    """The quantized graph does not have the shape this module rewrites."""


def quantize_fixed_scales(fp32_path: Path, out_path: Path, calibration: Iterable[Batch]) -> None:
    """Write an int8 model with fixed activation scales, calibrated on `calibration` batches."""
    import onnx

    with tempfile.TemporaryDirectory() as folder:
        dynamic_path = Path(folder) / "dynamic.onnx"
        _quantize_dynamic(fp32_path, dynamic_path)
        model = onnx.load(str(dynamic_path))
    ranges = activation_ranges(model, calibration)
    fix_scales(model, ranges)
    onnx.save(model, str(out_path))


def _quantize_dynamic(fp32_path: Path, out_path: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it advises a pre-processing step the fused graph does not need
    try:
        quantize_dynamic(str(fp32_path), str(out_path), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=True,  # 7-bit weights: no 16-bit overflow on AVX2-only CPUs
                         op_types_to_quantize=["MatMul", "Attention"],
                         # fused ops have no type inference; their outputs are float
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)


def activation_ranges(model, calibration: Iterable[Batch]) -> dict[str, tuple[float, float]]:
    """(min, max) over the calibration batches of every tensor a DynamicQuantizeLinear reads."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    names = [node.input[0] for node in model.graph.node if node.op_type == "DynamicQuantizeLinear"]
    if not names:
        raise QuantizationError("the quantized model has no DynamicQuantizeLinear node")
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    outputs = {output.name for output in probe.graph.output}
    for name in dict.fromkeys(names):
        if name not in outputs:
            probe.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep tensors visible
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    low = {name: np.inf for name in names}
    high = {name: -np.inf for name in names}
    for batch in calibration:
        for name, values in zip(names, session.run(names, batch)):
            low[name] = min(low[name], float(values.min()))
            high[name] = max(high[name], float(values.max()))
    if any(np.isinf(v) for v in low.values()):
        raise QuantizationError("no calibration batch was given")
    return {name: (low[name], high[name]) for name in names}


def fix_scales(model, ranges: dict[str, tuple[float, float]]) -> None:
    """Rewrite the dynamic graph in place: fixed QuantizeLinear scales, MatMulIntegerToFloat."""
    from onnx import helper, numpy_helper

    nodes, scales = [], []
    for node in model.graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        scale, zero_point = uint8_scale(*ranges[node.input[0]])
        quantized, scale_name, zero_point_name = node.output
        scales += [numpy_helper.from_array(np.array(scale, np.float32), scale_name),
                   numpy_helper.from_array(np.array(zero_point, np.uint8), zero_point_name)]
        nodes.append(helper.make_node("QuantizeLinear", [node.input[0], scale_name, zero_point_name],
                                      [quantized], name=f"{node.name or quantized}_fixed"))
    fused = _matmuls_to_float(nodes)  # raises before anything in the model is changed
    model.graph.initializer.extend(scales)
    del model.graph.node[:]
    model.graph.node.extend(fused)


def uint8_scale(low: float, high: float) -> tuple[float, int]:
    """Scale and zero point as DynamicQuantizeLinear computes them (the range always holds 0)."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = (high - low) / 255.0 or 1.0
    return scale, int(np.clip(round(-low / scale), 0, 255))


def _matmuls_to_float(nodes: list) -> list:
    """MatMulInteger -> Cast -> Mul(a_scale * b_scale) becomes one MatMulIntegerToFloat node.

    ONNX Runtime fuses this chain itself only when the scale comes from a DynamicQuantizeLinear;
    with a fixed scale the chain would run as three kernels."""
    from onnx import helper

    consumers: dict[str, list] = {}
    producer = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
        for name in node.output:
            producer[name] = node
    replaced, dropped = {}, set()
    for node in nodes:
        if node.op_type != "MatMulInteger":
            continue
        cast = _only_consumer(consumers, node.output[0], "Cast")
        multiply = _only_consumer(consumers, cast.output[0], "Mul")
        scales = producer.get(multiply.input[1])
        if scales is None or scales.op_type != "Mul":
            raise QuantizationError(f"{node.name}: its scale is not a product of two scales")
        a, b, a_zero_point, b_zero_point = node.input
        replaced[id(node)] = helper.make_node(
            "MatMulIntegerToFloat", [a, b, scales.input[0], scales.input[1], a_zero_point, b_zero_point],
            [multiply.output[0]], name=f"{node.name or multiply.output[0]}_to_float", domain="com.microsoft")
        dropped.update({id(cast), id(multiply)})
        if len(consumers[scales.output[0]]) == 1:
            dropped.add(id(scales))
    if not replaced:
        raise QuantizationError("the quantized model has no MatMulInteger node")
    return [replaced.get(id(node), node) for node in nodes if id(node) not in dropped]


def _only_consumer(consumers: dict, name: str, op_type: str):
    found = consumers.get(name, [])
    if len(found) != 1 or found[0].op_type != op_type:
        raise QuantizationError(f"{name}: expected one {op_type} after it, found "
                                f"{[node.op_type for node in found]}")
    return found[0]
