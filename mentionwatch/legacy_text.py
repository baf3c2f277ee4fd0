"""Which encoding a text file that is not UTF-8 most likely has, for the hint of the line that
refuses it: a spreadsheet saved as "CSV" in Shanghai is GBK (gb18030), in Tokyo Shift-JIS (cp932),
in Paris cp1252. Read as cp1252, Chinese or Japanese bytes become Latin letters without an error,
so only a hint pointing at the right encoding keeps a user from storing garbled text."""
from __future__ import annotations

import re
from pathlib import Path

SAMPLE_BYTES = 64 * 1024
# a run of three Chinese characters, or two of kana: an accented Latin letter read in a Chinese or
# Japanese encoding makes a lone one between Latin letters, a real text makes runs
_CHINESE_RUN = re.compile(r"[\u4e00-\u9fff]{3}")
_JAPANESE_RUN = re.compile(r"[\u3040-\u30ff]{2}")  # hiragana and full-width katakana
_CANDIDATES = (("cp932", "Japanese", _JAPANESE_RUN), ("gb18030", "Chinese", _CHINESE_RUN))


def east_asian_encoding(head: bytes) -> tuple[str, str] | None:
    """(encoding, language) when these bytes, not UTF-8, read as Japanese or Chinese text."""
    for encoding, language, run in _CANDIDATES:
        try:
            text = head.decode(encoding)
        except UnicodeDecodeError:
            try:  # the sample may end inside a character
                text = head[:-1].decode(encoding)
            except UnicodeDecodeError:
                continue
        if run.search(text):
            return encoding, language
    return None


def not_utf8_hint(path: Path) -> str:
    """'try --encoding gb18030: it reads as Chinese that way', or the cp1252 hint for the rest."""
    try:
        with path.open("rb") as handle:
            found = east_asian_encoding(handle.read(SAMPLE_BYTES))
    except OSError:
        found = None
    if found:
        return f"try --encoding {found[0]}: it reads as {found[1]} that way"
    return "try --encoding cp1252"
