"""Local matching of a post against a watch's query (remote search is loose, so every source re-checks).

Matching is case-insensitive on word boundaries for Latin text (a Chinese, Japanese, Korean or Thai
letter next to a Latin term counts as a boundary); for terms in scripts written without spaces
(Chinese, Japanese) a term matches as a plain substring. `wanted` is what both collectors ask (the
pollers' crawler.collect and the spiders' pipeline), `options.match_query: false` included.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from mentionwatch.config import Query

_UNSPACED_LETTERS = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK = re.compile(f"[{_UNSPACED_LETTERS}]")
# A Latin term ends where a letter of a spaced script (or a digit, or _) does not follow it. Thai,
# Chinese and Japanese are written without spaces and Korean particles are written on to the word
# ("Acmeのアプリ", "我喜欢Acme手机", "Acme를"), so their letters end a Latin term as a space would.
_NOT_AFTER_WORD = rf"(?<![^\W{_UNSPACED_LETTERS}])"
_NOT_BEFORE_WORD = rf"(?![^\W{_UNSPACED_LETTERS}])"


def normalize_text(text: str) -> str:
    """Lower-cased, NFKC-folded text, so 'ＡＣＭＥ' and 'Acme' compare equal."""
    return unicodedata.normalize("NFKC", text or "").casefold()


@lru_cache(maxsize=4096)
def _term_pattern(term: str) -> re.Pattern:
    folded = normalize_text(term).strip()
    escaped = r"\s+".join(re.escape(part) for part in folded.split())
    if _CJK.search(folded):
        return re.compile(escaped)
    # word boundaries that also work for terms starting/ending with @ # $ and the like
    return re.compile(f"{_NOT_AFTER_WORD}{escaped}{_NOT_BEFORE_WORD}")


def contains_term(folded_text: str, term: str) -> bool:
    """Whether already-normalized text contains the term (or phrase) as a whole word."""
    return bool(term.strip()) and _term_pattern(term).search(folded_text) is not None


def wanted(query: Query, text: str, *, lang: str | None = None, title: str | None = None,
           match_terms: bool = True) -> bool:
    """Whether a collector keeps the post: the query decides, or with `match_terms` false (the
    source's `options.match_query: false`) only its languages do."""
    if match_terms:
        return matches_query(query, text, lang=lang, title=title)
    return in_languages(query, lang)


def in_languages(query: Query, lang: str | None) -> bool:
    """True unless both the query and the post name languages and the post's is not among them
    ('en-GB' counts as 'en')."""
    if not (query.languages and lang):
        return True
    return lang.split("-")[0].lower() in {code.lower() for code in query.languages}


def matches_query(query: Query, text: str, lang: str | None = None, title: str | None = None) -> bool:
    """True when the post satisfies the query: a phrase or an `any` term, every `all` term, no
    exclusion, and (when both sides know it) one of the query's languages."""
    if not in_languages(query, lang):
        return False
    folded = normalize_text(f"{title}\n{text}" if title else text)
    if any(contains_term(folded, term) for term in query.exclude):
        return False
    if query.all and not all(contains_term(folded, term) for term in query.all):
        return False
    wanted_terms = query.phrases + query.any
    if wanted_terms and not any(contains_term(folded, term) for term in wanted_terms):
        return False
    return True
