"""The character encoding of an HTML page that declares none, chosen from its language.

A page that says nothing of its encoding (no charset in its Content-Type, no byte-order mark, no
`<meta charset>`) and is not UTF-8 is, on the web, almost always in the legacy Windows code page
of its language. Scrapy guesses one from the bytes alone (charset_normalizer), which on a short
review mistakes French for Baltic (`trčs déįu`) and Polish for Western (`obs³uga`). Browsers
decide from the language instead; this downloader middleware does the same, in this order: the
source's `lang` option, the page's `<html lang>`, the country of its address (`.pl`); then, with
no language known, it keeps the guess when it is a non-Latin script (Cyrillic, Greek, Hebrew,
Arabic, Thai, Chinese, Japanese, Korean: those the bytes show well) and reads the page as
windows-1252, the web's default, otherwise. The table of languages is WHATWG's suggested default
encodings (HTML standard, "determining the character encoding").
"""
from __future__ import annotations

import codecs
import re
from urllib.parse import urlsplit

from scrapy.http import HtmlResponse
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom

WESTERN = "cp1252"
CENTRAL_EUROPEAN = "central european"  # cp1250 or ISO-8859-2, told apart by the bytes (below)

LANGUAGE_ENCODINGS = {
    "ar": "cp1256", "fa": "cp1256", "ur": "cp1256",
    "az": "cp1254", "ku": "cp1254", "tr": "cp1254",
    "ba": "cp1251", "be": "cp1251", "bg": "cp1251", "kk": "cp1251", "ky": "cp1251", "mk": "cp1251",
    "ru": "cp1251", "sah": "cp1251", "sr": "cp1251", "tg": "cp1251", "tt": "cp1251", "uk": "cp1251",
    "bs": CENTRAL_EUROPEAN, "cs": CENTRAL_EUROPEAN, "hr": CENTRAL_EUROPEAN, "hu": CENTRAL_EUROPEAN,
    "pl": CENTRAL_EUROPEAN, "ro": CENTRAL_EUROPEAN, "sk": CENTRAL_EUROPEAN, "sl": CENTRAL_EUROPEAN,
    "el": "cp1253", "he": "cp1255", "iw": "cp1255",
    "et": "cp1257", "lt": "cp1257", "lv": "cp1257",
    "th": "cp874", "vi": "cp1258",
    "ja": "shift_jis", "ko": "euc_kr", "zh": "gb18030", "zh-tw": "big5", "zh-hk": "big5", "zh-hant": "big5",
}

# a country's address (its top-level domain) to its language, for a page that names none
COUNTRY_LANGUAGES = {
    "ae": "ar", "eg": "ar", "sa": "ar", "ir": "fa", "pk": "ur", "az": "az", "tr": "tr",
    "by": "be", "bg": "bg", "kz": "kk", "kg": "ky", "mk": "mk", "ru": "ru", "rs": "sr", "ua": "uk",
    "ba": "bs", "cz": "cs", "hr": "hr", "hu": "hu", "pl": "pl", "ro": "ro", "sk": "sk", "si": "sl",
    "gr": "el", "il": "he", "ee": "et", "lt": "lt", "lv": "lv", "th": "th", "vn": "vi",
    "jp": "ja", "kr": "ko", "cn": "zh", "tw": "zh-tw", "hk": "zh-hk",
}

# the code pages of each script other than Latin, whose bytes tell them apart: Scrapy's guess from
# the bytes is kept when it is one of the language's own (a Russian page in KOI8-R, a Japanese one
# in EUC-JP), and when no language is known; a Latin-script guess is a coin toss between code pages
SCRIPT_ENCODINGS = [
    {"cp1251", "koi8_r", "koi8_u", "iso8859_5", "mac_cyrillic", "cp866", "cp855"},
    {"cp1253", "iso8859_7"}, {"cp1255", "iso8859_8"}, {"cp1256", "iso8859_6"}, {"cp874", "tis_620"},
    {"shift_jis", "cp932", "euc_jp", "euc_jis_2004", "euc_jisx0213", "shift_jis_2004", "shift_jisx0213",
     "iso2022_jp"},
    {"gb2312", "gbk", "gb18030", "big5", "big5hkscs", "cp950", "hz"},
    {"euc_kr", "cp949", "johab", "iso2022_kr"},
]

_HTML_LANG = re.compile(rb"<html\b[^>]*?\blang\s*=\s*[\"']?\s*([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?)", re.I)


class UndeclaredEncodingMiddleware:
    """Reads an HTML page that declares no encoding in its language's code page (see the module)."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_response(self, request, response):
        if not isinstance(response, HtmlResponse) or _declares_or_is_utf8(response):
            return response
        spider = self.crawler.spider
        options = getattr(spider, "options", None)
        language = (getattr(options, "lang", None) or _html_lang(response.body)
                    or COUNTRY_LANGUAGES.get(_top_level_domain(response.url)))
        guess = _codec_name(response.encoding)  # Scrapy's, from the bytes alone
        encoding = encoding_for(language, response.body, guess) if language else _unknown_language(guess)
        if encoding == guess:
            return response
        spider.logger.debug("%s declares no encoding: read as %s (language %s)", response.url, encoding,
                            language or "unknown")
        return response.replace(encoding=encoding)


def encoding_for(language: str, body: bytes, guess: str) -> str:
    """The code page a page in `language` ('pt-BR', 'zh_TW') that declares none is written in;
    `guess`, the one its bytes suggest, when it is one of the language's script."""
    code = language.strip().lower().replace("_", "-")
    encoding = LANGUAGE_ENCODINGS.get(code) or LANGUAGE_ENCODINGS.get(code.split("-")[0], WESTERN)
    if any(encoding in script and guess in script for script in SCRIPT_ENCODINGS):
        return guess
    if encoding == CENTRAL_EUROPEAN:
        # ISO-8859-2 leaves 0x80-0x9F to control characters, where cp1250 has letters (ś, ź, š, ť)
        return "cp1250" if re.search(rb"[\x80-\x9f]", body) else "iso8859_2"
    return encoding


def _declares_or_is_utf8(response: HtmlResponse) -> bool:
    content_type = response.headers.get(b"Content-Type", b"").decode("latin-1")
    if http_content_type_encoding(content_type) or read_bom(response.body)[0] \
            or html_body_declared_encoding(response.body):
        return True
    try:
        response.body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _html_lang(body: bytes) -> str | None:
    found = _HTML_LANG.search(body[:16384])
    return found.group(1).decode("ascii") if found else None


def _top_level_domain(url: str) -> str:
    host = (urlsplit(url).hostname or "").rstrip(".")
    return host.rsplit(".", 1)[-1] if "." in host else ""


def _unknown_language(guess: str) -> str:
    return guess if any(guess in script for script in SCRIPT_ENCODINGS) else WESTERN


def _codec_name(encoding: str) -> str:
    """Python's name of a codec ('koi8-r' and 'KOI8_R' are koi8_r), as the tables above write it."""
    try:
        return codecs.lookup(encoding).name.replace("-", "_")
    except LookupError:
        return encoding
