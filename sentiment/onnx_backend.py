"""The ONNX Runtime path of the built-in model: exported once, cached, optionally int8-quantized.

The export is a build product, never committed: it is written on first use to the user cache
(`$MENTIONWATCH_CACHE`, else `$XDG_CACHE_HOME/mentionwatch`, else `~/.cache/mentionwatch`), named
after the model id (which holds the hash of the committed weights), so a rebuilt model gets a new
file. Files are written to a temporary name and renamed, so concurrent processes never read half a
file. int8 quantizes only the MatMul weights, per output channel (dynamic quantization).
"""
from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_PRECISION = "int8"
OPSET = 17


def cache_dir() -> Path:
    if os.environ.get("MENTIONWATCH_CACHE"):
        return Path(os.environ["MENTIONWATCH_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mentionwatch"


def model_file(net, model_id: str, precision: str) -> Path:
    """The cached ONNX file for this model and precision, exported/quantized if not there yet."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    exported = folder / f"{model_id}-exported.onnx"
    if not exported.exists():
        log.info("exporting %s to ONNX (once) at %s", model_id, exported)
        _atomic_write(exported, lambda tmp: export(net, tmp))
    fp32 = folder / f"{model_id}-fp32.onnx"
    if not fp32.exists():
        _atomic_write(fp32, lambda tmp: fuse(exported, tmp, net.encoder.config))
    if precision == "fp32":
        return fp32
    int8 = folder / f"{model_id}-int8.onnx"
    if not int8.exists():
        _atomic_write(int8, lambda tmp: quantize(fp32, tmp))
    return int8


def export(net, path: Path) -> None:
    import torch

    example_ids = torch.ones((2, 16), dtype=torch.long)
    example_mask = torch.ones((2, 16), dtype=torch.long)
    net.eval()
    with warnings.catch_warnings():  # tracer notes about shape checks that are constant here
        warnings.simplefilter("ignore")
        _export(net, example_ids, example_mask, path)


def _export(net, example_ids, example_mask, path: Path) -> None:
    import torch

    torch.onnx.export(
        net, (example_ids, example_mask), str(path), dynamo=False, opset_version=OPSET,
        input_names=["input_ids", "attention_mask"], output_names=["probabilities"],
        dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                      "probabilities": {0: "batch"}},
    )


def fuse(exported: Path, out_path: Path, encoder_config) -> None:
    """ONNX Runtime's transformer optimizer: fused attention, LayerNorm and GELU kernels."""
    from onnxruntime.transformers import optimizer

    optimized = optimizer.optimize_model(
        str(exported), model_type="bert", num_heads=encoder_config.num_attention_heads,
        hidden_size=encoder_config.hidden_size, opt_level=1, use_gpu=False)
    optimized.save_model_to_file(str(out_path))


def quantize(fp32_path: Path, out_path: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it advises a pre-processing step the fused graph does not need
    try:
        quantize_dynamic(str(fp32_path), str(out_path), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"],
                         # fused ops have no type inference; their outputs are float
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)


def _atomic_write(target: Path, write) -> None:
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def session_for(net, model_id: str, precision: str):
    """An ONNX Runtime session over all cores (CUDA provider first when one is installed)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, os.cpu_count() or 1)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                 if p in ort.get_available_providers()]
    return ort.InferenceSession(str(model_file(net, model_id, precision)), options, providers=providers)
