"""Which encoding a text file that is not UTF-8 most likely has, for the hint of the line that
refuses it: a spreadsheet saved as "CSV" in Shanghai is GBK (gb18030), in Taipei Big5, in Seoul
cp949, in Tokyo Shift-JIS (cp932), in Paris cp1252. Read as cp1252, East Asian bytes become Latin
letters without an error, so only a hint pointing the right way keeps a user from storing garbled
text. Kana tell Japanese apart; Chinese and Korean bytes read as each other's characters without
an error, so the hint names the encodings to try rather than guess one."""
from __future__ import annotations

import codecs
import re
from pathlib import Path

SAMPLE_BYTES = 64 * 1024
_KANA = re.compile(r"[\u3040-\u30ff]")  # hiragana and full-width katakana
_EAST_ASIAN = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7a3]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
# an accented Latin letter read in an East Asian encoding makes a character or two between Latin
# letters ('Źdźbło' read as GBK); a text in that encoding is made of them
SHARE_OF_LETTERS = 0.2
JAPANESE = ("cp932", "Japanese")
CHINESE_OR_KOREAN = ("gb18030 (Chinese), big5 (Chinese, traditional), cp949 (Korean) or cp932 "
                     "(Japanese)", "Chinese, Korean or Japanese")


def byte_order_mark_encoding(head: bytes) -> str | None:
    """'utf-32' or 'utf-16' when the file's first bytes are that encoding's byte-order mark (which
    the codec then reads the byte order from, and drops); None otherwise. UTF-32's little-endian
    mark starts with UTF-16's, so it is looked for first."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def east_asian_encoding(head: bytes) -> tuple[str, str] | None:
    """(the encoding or encodings to try, the language) when these bytes, not UTF-8, read as
    Japanese, or as Chinese or Korean, text; None otherwise."""
    for encoding, found in (("cp932", JAPANESE), ("gb18030", CHINESE_OR_KOREAN)):
        text = _decoded(head, encoding)
        if text is None:
            continue
        east_asian = len(_EAST_ASIAN.findall(text))
        if east_asian < 4 or east_asian < SHARE_OF_LETTERS * len(_ASCII_LETTER.findall(text)):
            continue
        if found is JAPANESE and len(_KANA.findall(text)) < 2:
            continue  # Chinese read as Shift-JIS makes kanji, not kana
        return found
    return None


def _decoded(head: bytes, encoding: str) -> str | None:
    for sample in (head, head[:-1]):  # the sample may end inside a character
        try:
            return sample.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def not_utf8_hint(path: Path) -> str:
    """'it reads as Japanese text: try --encoding cp932', or the cp1252 hint for the rest."""
    try:
        with path.open("rb") as handle:
            found = east_asian_encoding(handle.read(SAMPLE_BYTES))
    except OSError:
        found = None
    if found:
        return f"it reads as {found[1]} text: try --encoding {found[0]}"
    return "try --encoding cp1252"
