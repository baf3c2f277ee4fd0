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

# ISO 639 codes for 'undetermined' and 'no language' (an emoji-only post on X or Bluesky)
UNDETERMINED_LANGUAGES = frozenset({"und", "zxx", "mul"})

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
        # not enclosing marks (a keycap 1️⃣) nor variation selectors (❤️): emoji parts, not letters
        if 0xFE00 <= code <= 0xFE0F:
            continue
        if unicodedata.category(chr(code)) in ("Mn", "Mc") and not _UNSPACED.match(chr(code)):
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
    **dict.fromkeys("\u2018\u2019\u201b\u02bc\u02bb\u0060\u2032\u00b4\u02b9", "'"),  # ’ ‘ ʼ ` ′ ´ ʹ -> '
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63", "-"),  # ‐ ‑ – — − -> -
    "\u2122": " ", "\u2120": " ",  # ™ ℠ (NFKC would write them as the letters tm, sm)
    "\u0131": "i",  # Turkish dotless ı; its capital I already folds to i
    # Latin letters with a stroke, which have no accent to take off: Ørsted, Łódź, Điện Máy Xanh
    **dict.fromkeys("Øø", "o"), **dict.fromkeys("Łł", "l"), **dict.fromkeys("Đđ", "d"),
    **dict.fromkeys("Ħħ", "h"), **dict.fromkeys("Ææ", "ae"), **dict.fromkeys("Œœ", "oe"),
    # invisible characters: a soft hyphen or joiner inside a word is no break in it, a zero-width
    # space is one
    **dict.fromkeys("\u00ad\u200c\u200d\u2060\ufeff", ""), "\u200b": " ",
})
_LATIN_ACCENTS = re.compile(r"(?<=[a-z])[\u0300-\u036f]+")
# Between a post's title and its text: a phrase's spaces (\s+) cannot cross it
_FIELD_BREAK = "\n\u0000\n"


def normalize_text(text: str) -> str:
    """Text folded for matching: case, width (NFKC), accents on Latin letters ('Nestlé' is
    'nestle'), apostrophes and hyphens of every kind, and Turkish İ/ı are set aside."""
    # case-folded after NFKD, which writes styled capitals (𝐀𝐂𝐌𝐄, 🄰) as plain ones; casefold
    # writes İ as i + a combining dot, which the accent rule removes too
    decomposed = unicodedata.normalize("NFKD", (text or "").translate(_FOLDS)).casefold()
    return unicodedata.normalize("NFC", _LATIN_ACCENTS.sub("", decomposed))


@lru_cache(maxsize=4096)
def _term_pattern(term: str) -> tuple[re.Pattern, tuple[str, ...]] | None:
    """The term's pattern and its words; None for a term that folds to nothing (it would match
    anywhere)."""
    folded = normalize_text(term).strip()
    if not folded:
        return None
    words = tuple(folded.split())
    escaped = r"\s+".join(re.escape(word) for word in words)
    if _CJK.search(folded):
        return re.compile(escaped), words
    # word boundaries that also work for terms starting/ending with @ # $ and the like
    return re.compile(f"{_NOT_AFTER_WORD}{escaped}{_NOT_BEFORE_WORD}"), words


def matched_as_text(term: str) -> bool:
    """Whether the term is matched anywhere in a post's text, not as a word of its own: Chinese
    and Japanese, written without spaces."""
    return bool(_CJK.search(normalize_text(term)))


def contains_term(folded_text: str, term: str) -> bool:
    """Whether already-normalized text contains the term (or phrase) as a whole word."""
    compiled = _term_pattern(term)
    if compiled is None:
        return False
    pattern, words = compiled
    # the plain search first: a pattern starting with a look-behind is searched character by
    # character, 40 times slower on long posts, and most posts hold none of the words
    return all(word in folded_text for word in words) and pattern.search(folded_text) is not None


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
    post_language = language_code(lang)
    if post_language in UNDETERMINED_LANGUAGES:  # the source says it could not tell: not guessed at
        return True
    return post_language in {language_code(code) for code in query.languages}


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
