"""Local matching of a post against a watch's query (remote search is loose, so every source re-checks).

Matching ignores case, width, Latin accents and the many forms of the apostrophe and the hyphen,
and works on word boundaries: a letter of a script written without spaces (Chinese, Japanese,
Korean, Thai, Lao, Burmese, Khmer) next to a Latin term counts as a boundary, a combining vowel sign
(Hindi's, say) does not. Terms in Chinese or Japanese match as plain substrings. `wanted` is what
both collectors ask (the pollers' crawler.collect and the spiders' pipeline),
`options.match_query: false` included.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from mentionwatch.config import Query, language_code

# Scripts written without spaces between words: Thai, Lao, Burmese, Khmer, Hangul jamo and
# syllables, kana, CJK ideographs (the supplementary planes too).
_UNSPACED_LETTERS = ("\u0e00-\u0eff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff\u3040-\u30ff\u3130-\u318f"
                     "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff"
                     "\U00020000-\U0003134f")
_UNSPACED = re.compile(f"[{_UNSPACED_LETTERS}]")
# Terms in these match as substrings: Chinese and Japanese write no boundary a term could rely on.
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")


def _combining_marks() -> str:
    """A character class body of the combining marks outside the unspaced scripts: a vowel sign
    continues a Hindi or Bengali word, so 'अमूल' must not match inside 'अमूल्य'."""
    ranges: list[list[int]] = []
    for code in range(0x300, 0x10000):
        if unicodedata.category(chr(code)) in ("Mn", "Mc", "Me") and not _UNSPACED.match(chr(code)):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges)


_MARKS = _combining_marks()
# A term ends where no word character follows it: a letter or digit of a spaced script, _, or a
# combining mark. Thai, Chinese and Japanese are written without spaces and Korean particles are
# written on to the word ("Acmeのアプリ", "我喜欢Acme手机", "Acme를"), so their letters end a Latin
# term as a space would.
_NOT_AFTER_WORD = rf"(?<![^\W{_UNSPACED_LETTERS}])(?<![{_MARKS}])"
_NOT_BEFORE_WORD = rf"(?![^\W{_UNSPACED_LETTERS}]|[{_MARKS}])"

_FOLDS = str.maketrans({
    **dict.fromkeys("\u2018\u2019\u201b\u02bc\u02bb\u0060\u2032", "'"),  # ’ ‘ ʼ ` ′ -> '
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63", "-"),  # ‐ ‑ – — − -> -
    "\u2122": " ", "\u2120": " ",  # ™ ℠ (NFKC would write them as the letters tm, sm)
    "\u0131": "i",  # Turkish dotless ı; its capital I already folds to i
})
_LATIN_ACCENTS = re.compile(r"(?<=[a-z])[\u0300-\u036f]+")
# Between a post's title and its text: a phrase's spaces (\s+) cannot cross it
_FIELD_BREAK = "\n\u0000\n"


def normalize_text(text: str) -> str:
    """Text folded for matching: case, width (NFKC), accents on Latin letters ('Nestlé' is
    'nestle'), apostrophes and hyphens of every kind, and Turkish İ/ı are set aside."""
    decomposed = unicodedata.normalize("NFKD", (text or "").translate(_FOLDS).casefold())
    # casefold writes İ as i + a combining dot, which the accent rule removes too
    return unicodedata.normalize("NFC", _LATIN_ACCENTS.sub("", decomposed))


@lru_cache(maxsize=4096)
def _term_pattern(term: str) -> re.Pattern | None:
    """The term's pattern; None for a term that folds to nothing (it would match anywhere)."""
    folded = normalize_text(term).strip()
    if not folded:
        return None
    escaped = r"\s+".join(re.escape(part) for part in folded.split())
    if _CJK.search(folded):
        return re.compile(escaped)
    # word boundaries that also work for terms starting/ending with @ # $ and the like
    return re.compile(f"{_NOT_AFTER_WORD}{escaped}{_NOT_BEFORE_WORD}")


def contains_term(folded_text: str, term: str) -> bool:
    """Whether already-normalized text contains the term (or phrase) as a whole word."""
    pattern = _term_pattern(term)
    return pattern is not None and pattern.search(folded_text) is not None


def wanted(query: Query, text: str, *, lang: str | None = None, title: str | None = None,
           match_terms: bool = True) -> bool:
    """Whether a collector keeps the post: the query decides, or with `match_terms` false (the
    source's `options.match_query: false`) only its languages do."""
    if match_terms:
        return matches_query(query, text, lang=lang, title=title)
    return in_languages(query, lang)


def in_languages(query: Query, lang: str | None) -> bool:
    """True unless both the query and the post name languages and the post's is not among them.
    The post's language is read as sources write it: 'en-GB', 'en_US', 'eng' and 'English' are 'en'."""
    if not (query.languages and lang and lang.strip()):
        return True
    return language_code(lang) in {language_code(code) for code in query.languages}


def matches_query(query: Query, text: str, lang: str | None = None, title: str | None = None) -> bool:
    """True when the post satisfies the query: a phrase or an `any` term, every `all` term, no
    exclusion, and (when both sides know it) one of the query's languages."""
    return in_languages(query, lang) and matches_folded(query, folded_post(text, title), lang)


def folded_post(text: str, title: str | None = None) -> str:
    """A post's title and text folded for matching, once for any number of queries."""
    folded = normalize_text(text)
    return normalize_text(title) + _FIELD_BREAK + folded if title else folded


def matches_folded(query: Query, folded: str, lang: str | None = None) -> bool:
    """`matches_query` for a post already folded with `folded_post`."""
    if not in_languages(query, lang):
        return False
    if any(contains_term(folded, term) for term in query.exclude):
        return False
    if query.all and not all(contains_term(folded, term) for term in query.all):
        return False
    wanted_terms = query.phrases + query.any
    if wanted_terms and not any(contains_term(folded, term) for term in wanted_terms):
        return False
    return True
