"""Turning a mention into the text a model reads, the same way in training and in scoring.

User names and links carry no sentiment and differ between corpora, so they are replaced by the
placeholders TweetEval uses (`@user`, `http`). Control characters, undecodable junk and lone
surrogates (which tokenizers reject) are dropped, and very long texts are cut to a few thousand
characters before tokenization (the model reads at most `max_length` tokens anyway; tokenizing 100k
characters would only waste time).
"""
from __future__ import annotations

import re

MAX_CHARS = 2000  # far more than 128 tokens need, small enough to tokenize fast
CJK_SHARE_FOR_CHINESE = 0.3

_USER = re.compile(r"@\w+")
_LINK = re.compile(r"https?://\S+|www\.\S+")
_JUNK = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd\ud800-\udfff]+")  # controls, junk, lone surrogates
_SPACES = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]")


def mention_text(text: str | None, title: str | None = None) -> str:
    """What is scored for a mention: its title and its text, when it has a title."""
    text = text or ""
    if title and title.strip() and title.strip() not in text:
        return f"{title.strip()}. {text}" if text else title.strip()
    return text


def clean(text: str | None) -> str:
    """Placeholders for users and links, no control characters, single spaces, bounded length."""
    if not text:
        return ""
    text = text[: MAX_CHARS * 2]
    text = _JUNK.sub(" ", text)
    text = _USER.sub("@user", text)
    text = _LINK.sub("http", text)
    return _SPACES.sub(" ", text).strip()[:MAX_CHARS]


def is_chinese(text: str) -> bool:
    """True when at least 30% of the letters are Chinese characters."""
    letters = _LETTER.findall(text[:MAX_CHARS])
    if not letters:
        return False
    cjk = sum(1 for ch in letters if _CJK.match(ch))
    return cjk / len(letters) >= CJK_SHARE_FOR_CHINESE
