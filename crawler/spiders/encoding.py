"""The character encoding of an HTML page that declares none, chosen from its language.

A page that says nothing of its encoding (no charset in its Content-Type, no byte-order mark, no
`<meta charset>`) and is not UTF-8 is, on the web, almost always in the legacy Windows code page
of its language. Scrapy guesses one from the bytes alone (charset_normalizer), which on a short
review mistakes French for Baltic (`trčs déįu`) and Polish for Western (`obs³uga`). Browsers
decide from the language instead; this downloader middleware does the same:

* a language the page names (the source's `lang` option, else its `<html lang>`) that is in
  WHATWG's table of default encodings (HTML standard, "determining the character encoding"), or
  is a Western one, gives its code page; Scrapy's guess is kept only when it is another code page
  of the same non-Latin script (a Russian page in KOI8-R, a Japanese one in EUC-JP);
  A Western language over text whose words with letters above ASCII mostly have no ASCII letter (a
  template's `lang="en"` over Russian posts) keeps a non-Latin guess;
* otherwise (no language, or a code the table does not know such as `yue`) Scrapy's guess is kept
  when it is a non-Latin script (Cyrillic, Greek, Hebrew, Arabic, Thai, Chinese, Japanese, Korean:
  those the bytes show well); a Latin-script guess is a coin toss between code pages, so the
  country of the address decides (`.pl`: Central European; only for single-byte code pages, and a
  non-Latin one only for text in another script, as above); else a Turkish, Baltic or Vietnamese
  guess is kept when the page has letters windows-1252 reads as þ ð ý within words (not on an
  Icelandic or Faroese address), and windows-1252, the web's default, is taken otherwise.

Scrapy's guess is weak on short texts (charset-normalizer 3.5 took a short EUC-JP review for ASCII,
a Chinese one for Korean, windows-1251 Russian for Mac Cyrillic), so within a language the bytes are
read with each of its code pages: Japanese as EUC-JP when they are EUC-JP, else Shift_JIS; Chinese
and Korean, guessed another script, in the code page that reads them cleanly; Cyrillic in the code
page that gives words in small letters. A `.cn`/`.jp`/`.tw`/`.kr`/`.hk` or `.ru`-like address counts
as the language for bytes of that kind; ISO-2022-JP, which passes for UTF-8, is recognised by its
escapes; and bytes above ASCII standing alone between letters (Latin accents) are never taken for
Chinese, Japanese or Korean.

A `<meta charset>` further into the page than the 4 KB Scrapy looks at is honoured as declared.
"""
from __future__ import annotations

import codecs
import re
from urllib.parse import urlsplit

from scrapy.http import HtmlResponse
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom, resolve_encoding

WESTERN = "cp1252"
CENTRAL_EUROPEAN = "central european"  # cp1250 or ISO-8859-2, told apart by the bytes (below)

LANGUAGE_ENCODINGS = {
    "ar": "cp1256", "fa": "cp1256", "ur": "cp1256",
    "az": "cp1254", "ku": "cp1254", "tr": "cp1254",
    "ba": "cp1251", "be": "cp1251", "bg": "cp1251", "kk": "cp1251", "ky": "cp1251", "mk": "cp1251",
    "ru": "cp1251", "sah": "cp1251", "sr": "cp1251", "tg": "cp1251", "tt": "cp1251", "uk": "cp1251",
    "bs": CENTRAL_EUROPEAN, "cs": CENTRAL_EUROPEAN, "hr": CENTRAL_EUROPEAN, "hu": CENTRAL_EUROPEAN,
    "pl": CENTRAL_EUROPEAN, "ro": CENTRAL_EUROPEAN, "sk": CENTRAL_EUROPEAN, "sl": CENTRAL_EUROPEAN,
    "sr-latn": CENTRAL_EUROPEAN,
    "el": "cp1253", "he": "cp1255", "iw": "cp1255",
    "et": "cp1257", "lt": "cp1257", "lv": "cp1257",
    "th": "cp874", "vi": "cp1258",
    "ja": "shift_jis", "ko": "euc_kr", "zh": "gb18030", "zh-tw": "big5", "zh-hk": "big5", "zh-hant": "big5",
}

# country codes written where a language code belongs (`<html lang="jp">`), and retired codes
LANGUAGE_ALIASES = {"jp": "ja", "cn": "zh", "kr": "ko", "ua": "uk", "cz": "cs", "gr": "el", "iw": "he",
                    "in": "id", "dk": "da", "se": "sv", "ee": "et", "si": "sl"}

# languages written in windows-1252 (WHATWG: "all other locales"), named so that a code the table
# does not know (`yue`, a typo) is not taken for one of them
WESTERN_LANGUAGES = {
    "af", "br", "ca", "co", "cy", "da", "de", "en", "es", "eu", "fi", "fil", "fo", "fr", "fy", "ga", "gd", "gl",
    "id", "is", "it", "la", "lb", "ms", "nb", "nl", "nn", "no", "oc", "pt", "rm", "sq", "sv", "sw", "tl", "wa",
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
CYRILLIC = {"cp1251", "koi8_r", "koi8_u", "iso8859_5", "mac_cyrillic", "cp866", "cp855"}
JAPANESE = {"shift_jis", "cp932", "euc_jp", "euc_jis_2004", "euc_jisx0213", "shift_jis_2004", "shift_jisx0213",
            "iso2022_jp"}
CHINESE = {"gb2312", "gbk", "gb18030", "big5", "big5hkscs", "cp950", "hz"}
KOREAN = {"euc_kr", "cp949", "johab", "iso2022_kr"}
EAST_ASIAN = JAPANESE | CHINESE | KOREAN
SCRIPT_ENCODINGS = [CYRILLIC, {"cp1253", "iso8859_7"}, {"cp1255", "iso8859_8"}, {"cp1256", "iso8859_6"},
                    {"cp874", "tis_620"}, JAPANESE, CHINESE, KOREAN]

_HTML_LANG = re.compile(rb"<html\b[^>]*?\blang\s*=\s*[\"']?\s*([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?)", re.I)


class UndeclaredEncodingMiddleware:
    """Reads an HTML page that declares no encoding in its language's code page (see the module)."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_response(self, request, response):
        if not isinstance(response, HtmlResponse) or _declares_encoding(response):
            return response
        if _ISO_2022_JP.search(response.body):  # 7-bit, so it reads as UTF-8, escape codes and all
            return response.replace(encoding="iso2022_jp")
        if _is_utf8(response.body):
            return response
        spider = self.crawler.spider
        late = _late_meta_charset(response.body)
        if late:  # declared after the first 4 KB: as declared, as a browser reads it
            return response.replace(encoding=late)
        options = getattr(spider, "options", None)
        language = getattr(options, "lang", None) or _html_lang(response.body)
        guess = _codec_name(response.encoding)  # Scrapy's, from the bytes alone
        encoding = choose_encoding(language, _top_level_domain(response.url), response.body, guess)
        if encoding == guess:
            return response
        spider.logger.debug("%s declares no encoding: read as %s (language %s)", response.url, encoding,
                            language or "not named")
        return response.replace(encoding=encoding)


def choose_encoding(language: str | None, country: str, body: bytes, guess: str) -> str:
    """The encoding of a page that declares none: see the module's docstring."""
    known = _known_language(language) if language else None
    if known in WESTERN_LANGUAGES and _non_latin(guess) and _words_in_another_script(body):
        return guess  # a template's lang="en" over posts in another script
    if known:
        return encoding_for(known, body, guess)
    by_country = COUNTRY_LANGUAGES.get(country)
    # read only with an address's country: the page's text is scanned once more for it
    saw_no_script = bool(by_country) and not _non_latin(guess) and _words_in_another_script(body)
    if by_country and _multi_byte(LANGUAGE_ENCODINGS[by_country]) and (
            saw_no_script or (guess in EAST_ASIAN and not _reads_as_its_language(body, guess))):
        return encoding_for(by_country, body, guess)  # a short Chinese review on .cn guessed Korean
    if by_country and LANGUAGE_ENCODINGS[by_country] == "cp1251" and (saw_no_script or guess in CYRILLIC):
        return _likeliest_cyrillic(body, by_country, guess)  # windows-1251 on .ru guessed Mac Cyrillic
    if guess in EAST_ASIAN and _accents_within_latin_words(body):
        guess = WESTERN  # "Ça marche très bien" read as Big5-HKSCS: ぺ marche tr鋊 bien
    if _non_latin(guess):
        return guess
    if by_country and not _multi_byte(LANGUAGE_ENCODINGS[by_country]):
        if _non_latin(LANGUAGE_ENCODINGS[by_country]) and not _words_in_another_script(body):
            # Latin letters on a .ru address: English, say, not Russian; on a .rs one, Serbian
            return encoding_for("sr-latn", body, guess) if by_country == "sr" else WESTERN
        return encoding_for(by_country, body, guess)
    if guess in KEPT_LATIN_GUESSES and country not in ("is", "fo") and re.search(_NOT_WESTERN_LETTERS, body):
        return guess  # Turkish, Baltic, Vietnamese: bytes windows-1252 reads as þ ð ý inside words
    return WESTERN


# bytes windows-1252 reads as þ, ð, ý, Icelandic and Faroese letters: in a Turkish, Baltic or
# Vietnamese page they are ş ı ğ, ž š ų, ư đ. Such a guess from the bytes is kept, where a French
# or German page never has them. cp1250 is not among them: the bytes alone give it to French and
# Icelandic pages too (a Czech or Polish page names its language, or gets it from its address).
KEPT_LATIN_GUESSES = {"cp1254", "iso8859_9", "cp1257", "iso8859_13", "iso8859_4", "cp1258"}
_NOT_WESTERN_LETTERS = rb"[A-Za-z][\xf0\xfd\xfe]|[\xf0\xfd\xfe][A-Za-z]"


def _words_in_another_script(body: bytes) -> bool:
    """Whether most of the page's words that have letters above ASCII have no ASCII letter at all,
    as in single-byte Cyrillic, Greek, Hebrew, Arabic or Thai text (even a few posts among an
    English template's menus); in a Latin-script language such letters are accents within words.
    One-letter words (Italian è, French à) and × ÷ (0xD7, 0xF7 in windows-1252) do not count."""
    words = re.findall(rb"[A-Za-z\xa8\xb8\xc0-\xd6\xd8-\xf6\xf8-\xff]{2,}", _text_of(body))
    with_high = [word for word in words if re.search(rb"[\x80-\xff]", word)]
    only_high = [word for word in with_high if not re.search(rb"[A-Za-z]", word)]
    return len(only_high) >= 3 and len(only_high) > 0.5 * len(with_high)


def _text_of(body: bytes) -> bytes:
    """The page without its comments, scripts, styles and tags: in one pass, as an unclosed <script
    or <!-- must not make each later one scan to the end of the page."""
    return re.sub(rb"<[^<>]*>", b" ", _without_hidden_parts(body))  # [^<>]: a lone < stops at the next


# a comment, a script or a style: not <scripts> or <styled>, custom tags whose text is the page's
_HIDDEN_PART = re.compile(rb"<!--|<(script|style)(?=[\s>/])", re.I)


def _without_hidden_parts(body: bytes) -> bytes:
    """The page without its comments, scripts and styles (an unclosed one runs to the end)."""
    lowered = body.lower()
    kept, at = [], 0
    while (found := _HIDDEN_PART.search(lowered, at)) is not None:
        kept.append(body[at:found.start()])
        if found[1]:
            closer, after = b"</" + found[1], found.end()
        else:  # '<!-->' and '<!--->' are whole comments too
            closer, after = b"-->", found.start() + 2
        end = lowered.find(closer, after)
        if end < 0:
            return b"".join(kept)
        at = end + len(closer)
    kept.append(body[at:])
    return b"".join(kept)


def _known_language(language: str) -> str | None:
    """The code as the tables write it ('pt-BR' -> 'pt', 'zh_TW' -> 'zh-tw', 'jp' -> 'ja',
    'sr-Latn' -> 'sr-latn'), or None for one they do not know."""
    code = language.strip().lower().replace("_", "-")
    base = LANGUAGE_ALIASES.get(code.split("-")[0], code.split("-")[0])
    if code in LANGUAGE_ENCODINGS:
        return code
    if "-latn" in code and LANGUAGE_ENCODINGS.get(base) == "cp1251":  # Serbian in Latin letters
        return "sr-latn"
    return base if base in LANGUAGE_ENCODINGS or base in WESTERN_LANGUAGES else None


def encoding_for(language: str, body: bytes, guess: str) -> str:
    """The code page a page in `language` (as _known_language writes it) that declares none is
    written in; `guess`, the one its bytes suggest, when it is one of the language's script."""
    encoding = LANGUAGE_ENCODINGS.get(language, WESTERN)
    if encoding == "shift_jis":  # even a Japanese guess: the bytes alone take EUC-JP for cp932
        return _cleanest(body, MULTI_BYTE_ALTERNATIVES[encoding])
    if encoding == "cp1251":  # the bytes alone take a short windows-1251 review for Mac Cyrillic
        return _likeliest_cyrillic(body, language, guess)
    if any(encoding in script and guess in script for script in SCRIPT_ENCODINGS):
        return guess
    if encoding in MULTI_BYTE_ALTERNATIVES:
        return _cleanest(body, MULTI_BYTE_ALTERNATIVES[encoding])
    if encoding == CENTRAL_EUROPEAN:
        # ISO-8859-2 leaves 0x80-0x9F to control characters, where cp1250 has letters (ś, ź, š, ť);
        # without them, Polish tells them apart by its ą: 0xB9 in cp1250, 0xB1 in ISO-8859-2
        if re.search(rb"[\x80-\x9f]", body) or (language == "pl" and body.count(b"\xb9") > body.count(b"\xb1")):
            return "cp1250"
        return "iso8859_2"
    return encoding


# a language's multi-byte code pages, the likeliest to read the page rightly first: when the guess
# from the bytes is of another script (charset_normalizer 3.5 takes a short EUC-JP page for ASCII, a
# Shift_JIS one for Korean), the first that reads the page with the fewest misread characters is
# taken. EUC-JP comes first: Shift_JIS text, whose kana bytes EUC-JP does not have, never reads as
# EUC-JP, while EUC-JP text reads as Shift_JIS (as half-width katakana and kanji, wrongly).
MULTI_BYTE_ALTERNATIVES = {"shift_jis": ("euc_jp", "shift_jis"), "gb18030": ("gb18030", "big5"),
                           "big5": ("big5", "gb18030"), "euc_kr": ("euc_kr",)}
_MISREAD = re.compile("[\ue000-\uf8ff\ufffd]")  # private-use characters and U+FFFD


def _likeliest_cyrillic(body: bytes, language: str, guess: str) -> str:
    """windows-1251, KOI8-R/U, Mac Cyrillic, ISO-8859-5 or DOS's 866, whichever reads the page's
    text as Cyrillic words (see _cyrillic_fit); on a tie the guess from the bytes, else windows-1251."""
    text = _text_of(body)
    candidates = ["cp1251", "koi8_u" if language in ("uk", "be") else "koi8_r", "mac_cyrillic", "iso8859_5", "cp866"]
    if guess in candidates:
        candidates.remove(guess)
        candidates.insert(0, guess)
    return max(candidates, key=lambda encoding: _cyrillic_fit(text.decode(encoding, errors="replace")))


def _cyrillic_fit(text: str) -> int:
    """Cyrillic letters, less what a wrong code page makes of a word: a capital after a small letter
    (KOI8 read as windows-1251 swaps the cases: Всё as чУЈ) and a sign between letters (Mac
    Cyrillic reads windows-1251 capitals as signs: ВНИМАНИЕ as ¬Ќ»ћјЌ»≈). Capitals alone (МВД, an
    all-capitals review) and quotes and dashes around words are no sign of either."""
    letters = len(re.findall("[А-Яа-яЁёЄєІіЇїЎўҐґЂђЈјЉљЊњЋћЏџЃѓЌќЅѕ]", text))
    swapped = len(re.findall("[а-яёєіїўґђјљњћџѓќѕ][А-ЯЁЄІЇЎҐЂЈЉЊЋЏЃЌЅ]", text))
    inside = len(re.findall(r"(?<=[^\W\d_])[^\w\s'’\-](?=[^\W\d_])", text))
    return letters - 3 * swapped - 3 * inside


def _reads_as_its_language(body: bytes, guess: str) -> bool:
    """Whether the page read in the guessed East Asian code page looks written in that code page's
    language: Korean mostly in Hangul (a Chinese page taken for Korean reads as Hangul with hanja
    among it: 낚섬봤넜！棠우), Japanese with kana, Chinese with neither."""
    text = _text_of(body).decode(resolve_encoding(guess) or guess, errors="replace")
    hangul = re.findall("[\uac00-\ud7a3]", text)
    han = len(re.findall("[\u4e00-\u9fff]", text))
    kana = len(re.findall("[\u3041-\u3096\u30a1-\u30fa]", text))
    if guess in KOREAN:  # and in the 2,350 syllables of EUC-KR: Shift_JIS kana read as cp949 are rarer ones
        common = sum(_in_euc_kr(syllable) for syllable in hangul)
        return bool(hangul) and han <= 0.1 * len(hangul) and common >= 0.9 * len(hangul)
    if guess in JAPANESE:
        return kana > 0
    return not hangul and not kana


def _in_euc_kr(syllable: str) -> bool:
    """One of EUC-KR's own 2,350 syllables (two bytes; Python writes any other as eight, by its jamo)."""
    try:
        return len(syllable.encode("euc_kr")) == 2
    except UnicodeEncodeError:
        return False


def _cleanest(body: bytes, encodings: tuple[str, ...]) -> str:
    """The first of `encodings` that reads `body` with no error and the fewest misread characters,
    each read as Scrapy will read it (big5 as Big5-HKSCS, with Hong Kong's 嘅 and 咗; shift_jis as
    cp932)."""
    def misread(encoding: str) -> tuple[bool, int]:
        codec = resolve_encoding(encoding) or encoding
        try:
            return False, len(_MISREAD.findall(body.decode(codec)))
        except UnicodeDecodeError:  # a character cut short (an excerpt cut by bytes): the fewest such
            return True, body.decode(codec, errors="replace").count("\ufffd")

    return min(encodings, key=misread)  # min keeps the first of equals


_ISO_2022_JP = re.compile(rb"\x1b\$[@B]")  # the escape that starts its two-byte characters


def _declares_encoding(response: HtmlResponse) -> bool:
    content_type = response.headers.get(b"Content-Type", b"").decode("latin-1")
    return bool(http_content_type_encoding(content_type) or read_bom(response.body)[0]
                or html_body_declared_encoding(response.body))


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _html_lang(body: bytes) -> str | None:
    found = _HTML_LANG.search(body[:16384])
    return found.group(1).decode("ascii") if found else None


def _top_level_domain(url: str) -> str:
    host = (urlsplit(url).hostname or "").rstrip(".")
    return host.rsplit(".", 1)[-1] if "." in host else ""


def _non_latin(encoding: str) -> bool:
    return any(encoding in script for script in SCRIPT_ENCODINGS)


def _accents_within_latin_words(body: bytes) -> bool:
    """Whether the page's bytes above ASCII stand mostly alone between letters (très, Müller), as
    accents in a single-byte Latin code page do, rather than in runs, as the two bytes of each
    Chinese, Japanese or Korean character do."""
    text = _text_of(body)
    alone = len(re.findall(rb"(?<=[A-Za-z])[\x80-\xff](?=[A-Za-z])", text))
    runs = len(re.findall(rb"[\x80-\xff]{2,}", text))
    return alone > 2 * runs and (alone >= 2 or runs == 0)


def _multi_byte(encoding: str) -> bool:
    """Chinese, Japanese and Korean code pages: an address's country decides for them only when the
    bytes look East Asian (see choose_encoding); an English page on a .jp address read in Shift_JIS
    would lose the letter after each of its curly quotes."""
    return encoding in EAST_ASIAN


_LATE_META = re.compile(rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)


def _late_meta_charset(body: bytes) -> str | None:
    """The encoding a `<meta charset>` between 4 KB and 64 KB into the page declares, if any (not
    one inside a comment or a script, which an ad's iframe may write; utf-16 and utf-32, which an
    ASCII-like page cannot be in, mean UTF-8, as the HTML standard says)."""
    found = _LATE_META.search(_without_hidden_parts(body[:65536]))
    name = resolve_encoding(found.group(1).decode("ascii")) if found else None  # text encodings only
    if name is None or name.startswith(("utf_7", "utf-7")):
        return None
    name = "utf-8" if name.startswith(("utf-16", "utf_16", "utf-32", "utf_32")) else name
    try:
        body.decode(name)  # a page not in what it says (its bytes are not UTF-8, say) is guessed
    except (UnicodeError, LookupError):  # UnicodeError: Python's 'undefined' codec, say
        return None
    return name


def _codec_name(encoding: str) -> str:
    """Python's name of a codec ('koi8-r' and 'KOI8_R' are koi8_r), as the tables above write it."""
    try:
        return codecs.lookup(encoding).name.replace("-", "_")
    except LookupError:
        return encoding
