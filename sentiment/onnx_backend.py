"""The ONNX Runtime path of the built-in model: exported once, cached, optionally int8-quantized.

The export is a build product, never committed: it is written on first use to the user cache
(`$MENTIONWATCH_CACHE`, else `$XDG_CACHE_HOME/mentionwatch`, else `~/.cache/mentionwatch`), named
after the model id (which holds the hash of the committed weights), so a rebuilt model gets a new
file. Files are written to a temporary name and renamed, so concurrent processes never read half a
file. int8 is the fixed-scale quantization of `sentiment.int8` (weights per output channel,
activations with scales calibrated once on training texts), so a mention's score does not depend
on the other mentions in its batch; the int8 graph also uses the tanh approximation of GELU. The
fp32 file stays exact (it matches torch to 1e-4) and is what int8 is compared against.
"""
from __future__ import annotations

import glob
import logging
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterable

from sentiment.int8 import quantize_fixed_scales

log = logging.getLogger(__name__)

DEFAULT_PRECISION = "int8"
OPSET = 17
GRAPH_VERSION = 2  # part of the cached files' names: a change in how they are made gives new files
# the int8 file's own version: 3 quantizes weights to 7 bits, so that on CPUs without AVX-512 VNNI
# (AVX2 only) ONNX Runtime's uint8 x int8 products cannot overflow their 16-bit sums
INT8_VERSION = 3
# ONNX Runtime's fused SkipLayerNormalization kernel took a fifth of the int8 model's time on CPU;
# Add + LayerNormalization do the same work in less than half that (+12% overall), so it is not fused.
UNFUSED = "SkipLayerNormFusion"


def cache_dir() -> Path:
    if os.environ.get("MENTIONWATCH_CACHE"):
        return Path(os.environ["MENTIONWATCH_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mentionwatch"


Calibration = Callable[[], Iterable[dict]]  # gives the batches int8 scales are measured on


def model_file(net, model_id: str, precision: str, calibration: Calibration | None = None,
               calibrated_on: str = "") -> Path:
    """The cached ONNX file for this model and precision, exported/quantized if not there yet.

    `calibration()` gives the batches int8 scales are measured on; it is called only when the
    int8 file has to be made. `calibrated_on` tells apart int8 files whose scales were measured on
    differently made batches (another max_length): part of the file's name."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_temporaries(folder)
    exported = folder / f"{model_id}-exported.onnx"
    if not exported.exists():
        log.info("exporting %s to ONNX (once) at %s", model_id, exported)
        _atomic_write(exported, lambda tmp: export(net, tmp))
    fp32 = folder / f"{model_id}-fp32-v{GRAPH_VERSION}.onnx"
    if not fp32.exists():
        _atomic_write(fp32, lambda tmp: fuse(exported, tmp, net.encoder.config))
    if precision == "fp32":
        return fp32
    int8 = folder / f"{model_id}-int8-v{INT8_VERSION}{calibrated_on}.onnx"
    if not int8.exists():
        if calibration is None:
            raise ValueError("int8 needs calibration batches")
        log.info("quantizing %s to int8 (once) at %s", model_id, int8)
        _atomic_write(int8, lambda tmp: _fast_int8(exported, tmp, net.encoder.config, calibration()))
        _remove_older_int8_files(folder, model_id)
    return int8


def _remove_older_int8_files(folder: Path, model_id: str) -> None:
    """int8 files of this model made by earlier versions of this code (about 60 MB each): nothing
    reads them once a newer one exists."""
    pattern = re.compile(re.escape(model_id) + r"-int8-v(\d+)(-len\d+)?\.onnx")
    for path in folder.glob(f"{glob.escape(model_id)}-int8-v*.onnx"):
        match = pattern.fullmatch(path.name)
        if match and int(match.group(1)) < INT8_VERSION:
            try:
                path.unlink()
            except OSError:  # in use by a process on a system that forbids that, say: next time
                continue


def _fast_int8(exported: Path, out_path: Path, encoder_config, calibration: Iterable) -> None:
    """int8 with the tanh approximation of GELU (7% faster here; the fp32 file stays exact)."""
    with tempfile.TemporaryDirectory() as folder:
        approximated = Path(folder) / "fast-fp32.onnx"
        fuse(exported, approximated, encoder_config, approximate_gelu=True)
        quantize_fixed_scales(approximated, out_path, calibration)


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


def fuse(exported: Path, out_path: Path, encoder_config, approximate_gelu: bool = False) -> None:
    """ONNX Runtime's transformer optimizer: fused attention, embedding and GELU kernels."""
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    fusions = FusionOptions("bert")
    fusions.enable_skip_layer_norm = False  # see UNFUSED
    fusions.enable_gelu_approximation = approximate_gelu
    optimized = optimizer.optimize_model(
        str(exported), model_type="bert", num_heads=encoder_config.num_attention_heads,
        hidden_size=encoder_config.hidden_size, opt_level=1, use_gpu=False,
        optimization_options=fusions)
    optimized.save_model_to_file(str(out_path))


ABANDONED_AFTER_SECONDS = 3600


def _remove_abandoned_temporaries(folder: Path) -> None:
    """Half-written files (about 90 MB each) of a process killed while it made a model file: the
    `finally` that removes them does not run on SIGKILL or a power cut. One writing now is younger."""
    import time

    for temporary in folder.glob("*.onnx.tmp"):
        try:
            if time.time() - temporary.stat().st_mtime > ABANDONED_AFTER_SECONDS:
                temporary.unlink()
        except OSError:
            continue


def _atomic_write(target: Path, write) -> None:
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def session_for(net, model_id: str, precision: str, calibration: Calibration | None = None,
                calibrated_on: str = ""):
    """An ONNX Runtime session over all cores (CUDA provider first when one is installed)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, os.cpu_count() or 1)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("optimization.disable_specified_optimizers", UNFUSED)
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                 if p in ort.get_available_providers()]
    path = model_file(net, model_id, precision, calibration, calibrated_on)
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # noqa: BLE001 - a damaged cached file (a disk error, a copy cut short)
        log.warning("the cached ONNX model %s cannot be read (%s); making it again", path, str(exc)[:200])
        path.unlink(missing_ok=True)
        path = model_file(net, model_id, precision, calibration, calibrated_on)
        return ort.InferenceSession(str(path), options, providers=providers)
