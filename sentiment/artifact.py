"""The built-in model's weights file and its hash, without importing torch.

The hash is part of the model id stored with every score. Commands that only read stored scores
(export, report, browse, stats, status) need that id, and importing `sentiment.builtin` for it
would load torch first: about 2 s before the first line of output.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

ARTIFACT = Path(__file__).parent / "model_files" / "model.safetensors"


def artifact_hash(path: Path | None = None) -> str:
    """First 12 hex digits of the artifact's sha256: part of the model id, key of the ONNX cache.

    Cheap to ask again and again (the service does before each score run, to notice new weights):
    the file is read only when its size or modification time is new."""
    path = path or ARTIFACT
    stat = path.stat()
    return _file_hash(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=8)
def _file_hash(path: str, _size: int, _mtime: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
