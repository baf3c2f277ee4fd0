"""Text from strangers' posts made harmless to print on a terminal.

A post, an author name or a URL can hold characters a terminal obeys rather than shows: ESC starts
sequences that recolour, clear or retitle it, BEL rings, backspace and carriage return overwrite
what was printed, a line break starts a line that looks like the program's own, and bidi controls
(U+202A-U+202E, U+2066-U+2069) show text in another order than it is stored. `terminal_safe`
turns line breaks and tabs into spaces and writes every other control or invisible format
character as its Python escape ('\\x1b', '\\u202e'), so it is seen and inert; the joiners U+200C
and U+200D and the emoji tag characters stay, as emoji sequences and Persian or Hindi words need
them. `json_line` is the same for JSON output: those characters written as \\uXXXX escapes, which
JSON readers decode back to the stored text.
"""
from __future__ import annotations

import json
import re
import unicodedata

LINE_BREAKS = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029")
_HIDDEN_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")  # controls, format characters, lone surrogates
_KEPT_FORMAT = frozenset("\u200c\u200d")  # zero-width non-joiner and joiner
_EMOJI_TAGS = range(0xE0020, 0xE0080)  # subdivision flags such as Scotland's


def is_hidden(char: str) -> bool:
    """Whether a terminal would act on `char` or show nothing for it."""
    if char in _KEPT_FORMAT or ord(char) in _EMOJI_TAGS:
        return False
    return unicodedata.category(char) in _HIDDEN_CATEGORIES


class _Replacements(dict):
    """A str.translate table filled in as characters are met: most texts use few distinct ones,
    so each is looked at once instead of once per occurrence."""

    def __init__(self, stand_in):
        super().__init__()
        self.stand_in = stand_in

    def __missing__(self, code: int) -> str:
        char = chr(code)
        value = self.stand_in(char) if is_hidden(char) else char
        self[code] = value
        return value


def _terminal_stand_in(char: str) -> str:
    return " " if char in LINE_BREAKS else ascii(char)[1:-1]


def _json_stand_in(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # beyond the BMP: a surrogate pair, as JSON writes it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


_TERMINAL = _Replacements(_terminal_stand_in)
_JSON = _Replacements(_json_stand_in)


def terminal_safe(value: object) -> str:
    """`value` as text to print: line breaks and tabs as spaces, other hidden characters escaped."""
    return str(value).translate(_TERMINAL)


def json_line(value: object) -> str:
    """`value` as one line of JSON (non-ASCII kept readable) with no hidden character left raw."""
    # json.dumps escapes only U+0000-U+001F; inside strings the rest may be escaped just the same
    return json.dumps(value, ensure_ascii=False).translate(_JSON)



# where a sentence or clause ends in Chinese or Japanese, which put no spaces between words
_CJK_BREAKS = "。！？；，、）」』"
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")  # not Korean: it has spaces


def cut_at_word(text: str, limit: int) -> str:
    """The start of `text`, at most `limit` characters, cut after a word: at the last space, unless
    Chinese or Japanese follows it (they put no spaces between words: 'Home Inn 首先感觉…' would keep
    only the brand); then at the later of that space and their last punctuation mark, when late
    enough, else at `limit` itself."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > 0 and not _CJK.search(cut[space:]):
        return cut[:space]
    # Chinese or Japanese after the last space: the later of a space past the first third and
    # their punctuation past the first two thirds, else the limit
    punctuation = max(cut.rfind(mark) for mark in _CJK_BREAKS)
    ends = [end for end, earliest in ((space, limit // 3), (punctuation + 1, limit * 2 // 3)) if end >= earliest]
    return cut[:max(ends)] if ends else cut
