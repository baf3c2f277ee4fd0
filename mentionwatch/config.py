"""The watchlist configuration: a YAML file validated with pydantic.

A watch is one customer, brand or topic: its query, the sources polled for it and, optionally, its
own alert settings. Secrets never sit in the file: write `${ENV_VAR}` in any value, or give a
notification's URL through `url_env` / `url_file`. `load_config` turns every problem into a
`ConfigError` whose message is one line: file, line, field path, what is wrong.
"""
from __future__ import annotations

import codecs
import contextvars
import difflib
import functools
import math
import os
import re
import typing
import unicodedata
import urllib.parse
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError,
                      ValidationInfo, field_validator, model_validator)

from mentionwatch.logging_setup import redact, remember_secrets
from storage.timeutil import AMBIGUOUS_ZONES, ZONE_PLACES, ambiguous_zone_places

DEFAULT_CONFIG_NAME = "mentionwatch.yaml"
DEFAULT_DB_NAME = "mentionwatch.db"
CONFIG_ENV = "MENTIONWATCH_CONFIG"
DB_ENV = "MENTIONWATCH_DB"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$")
_DURATION_SECONDS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MALFORMED_REFERENCE = re.compile(r"\$\{[^}]*\}?")  # what is left once the good ${NAME} are read
_SHELL_REFERENCE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")
# paths and addresses, where `$NAME` can only be a shell-style reference, never meant literally
_NO_SHELL_REFERENCE = (("database",), ("notifications", "*", "url"), ("notifications", "*", "url_file"))
# settings that name an environment variable: `${NAME}` there would read the secret in its place
_VARIABLE_NAME_SETTINGS = (("notifications", "*", "url_env"),
                           ("watches", "*", "sources", "*", "options", "token_env"))
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class ConfigError(Exception):
    """A configuration problem, already phrased as the one line the user sees."""


MAX_DURATION_SECONDS = 3650 * 86400.0


def parse_duration(value: object) -> float:
    """'90s', '15m', '1h', '2d', '1w' or a number of seconds -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            # an empty setting is nothing; yes/no/on/off are shown as the true/false YAML made of them
            shown = "nothing" if value is None else str(value).lower() if isinstance(value, bool) else repr(value)
            raise ValueError(f"not a duration: {shown} (use e.g. 30s, 15m, 1h, 1d)")
        seconds = float(match.group(1)) * _DURATION_SECONDS[match.group(2)]
    if not math.isfinite(seconds):  # YAML's .inf and .nan
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 1h, 1d)")
    if seconds <= 0:
        raise ValueError("a duration must be more than 0")
    if seconds > MAX_DURATION_SECONDS:  # longer spans overflow date arithmetic (a traceback in detect or run)
        raise ValueError(f"{value!r} is too long: at most {duration_text(MAX_DURATION_SECONDS)} (10 years)")
    return seconds


def duration_text(seconds: float) -> str:
    """3600 -> '1h', 5400 -> '90m': the shortest whole unit, as a watchlist would write it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


WATCHLIST_CONTEXT = {"watchlist": True}  # validation context of a watchlist file, see parse_config


def _watchlist_duration(value: object, info: ValidationInfo) -> float:
    """A duration setting. In a watchlist file a bare number is refused: `interval: 15` or
    `cooldown: 6` was meant in minutes or hours, and would be read as seconds. (A configuration
    passed on as JSON, to the spiders' process, keeps its durations as numbers of seconds.)"""
    if (info.context or {}).get("watchlist"):
        number = _number_without_unit(value)
        if number is not None:
            raise ValueError(f"{number:g} has no unit: write e.g. {number:g}s (seconds), {number:g}m "
                             f"(minutes), {number:g}h (hours) or {number:g}d (days)")
    return parse_duration(value)


def _number_without_unit(value: object) -> float | None:
    """The number of `interval: 15`, and of `interval: '15'` or `${MINUTES}` holding 15 (a quoted
    number is still a number without a unit); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match or match.group(2):
            return None
        value = float(match.group(1))
    if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
        return float(value)
    return None


MIN_KEEP_MENTIONS = 14 * 86400.0
BASELINE_SECONDS = 7 * 86400.0  # the detector compares each hour with the same hour of the past week
Duration = float  # seconds, parsed from '15m' style text by the validators below


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_YAML_TRUTH = ("YAML reads a bare yes, no, on, off, true or false as {value}: put the word in quotes, "
               "e.g. 'no' or 'On'")


def _query_term(value: object) -> str:
    """One term of a query: text that matching does not fold to nothing. A YAML truth value or
    number is refused with a hint: `On`, `no` or `007` was meant as a word (and YAML would have
    turned 007 into 7, 3.10 into 3.1)."""
    if isinstance(value, bool):
        raise ValueError(_YAML_TRUTH.format(value=str(value).lower()))
    if isinstance(value, (int, float)):
        raise ValueError(f"YAML reads a bare {value} as a number: put the term in quotes ('{value}')")
    if isinstance(value, str):
        from crawler.matching import normalize_text  # matching imports this module

        if not normalize_text(value).strip():
            raise ValueError("a term cannot be blank (signs that matching ignores, such as ™, do not count)")
    return value


# Every ISO 639-1 code, with the language's English name (which a watchlist may write by mistake)
ISO_639_1 = {
    "aa": "Afar", "ab": "Abkhazian", "ae": "Avestan", "af": "Afrikaans", "ak": "Akan", "am": "Amharic",
    "an": "Aragonese", "ar": "Arabic", "as": "Assamese", "av": "Avaric", "ay": "Aymara",
    "az": "Azerbaijani", "ba": "Bashkir", "be": "Belarusian", "bg": "Bulgarian", "bh": "Bihari",
    "bi": "Bislama", "bm": "Bambara", "bn": "Bengali", "bo": "Tibetan", "br": "Breton", "bs": "Bosnian",
    "ca": "Catalan", "ce": "Chechen", "ch": "Chamorro", "co": "Corsican", "cr": "Cree", "cs": "Czech",
    "cu": "Church Slavic", "cv": "Chuvash", "cy": "Welsh", "da": "Danish", "de": "German",
    "dv": "Divehi", "dz": "Dzongkha", "ee": "Ewe", "el": "Greek", "en": "English", "eo": "Esperanto",
    "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "ff": "Fulah", "fi": "Finnish",
    "fj": "Fijian", "fo": "Faroese", "fr": "French", "fy": "Western Frisian", "ga": "Irish",
    "gd": "Scottish Gaelic", "gl": "Galician", "gn": "Guarani", "gu": "Gujarati", "gv": "Manx",
    "ha": "Hausa", "he": "Hebrew", "hi": "Hindi", "ho": "Hiri Motu", "hr": "Croatian", "ht": "Haitian",
    "hu": "Hungarian", "hy": "Armenian", "hz": "Herero", "ia": "Interlingua", "id": "Indonesian",
    "ie": "Interlingue", "ig": "Igbo", "ii": "Sichuan Yi", "ik": "Inupiaq", "io": "Ido",
    "is": "Icelandic", "it": "Italian", "iu": "Inuktitut", "ja": "Japanese", "jv": "Javanese",
    "ka": "Georgian", "kg": "Kongo", "ki": "Kikuyu", "kj": "Kuanyama", "kk": "Kazakh",
    "kl": "Kalaallisut", "km": "Khmer", "kn": "Kannada", "ko": "Korean", "kr": "Kanuri",
    "ks": "Kashmiri", "ku": "Kurdish", "kv": "Komi", "kw": "Cornish", "ky": "Kyrgyz", "la": "Latin",
    "lb": "Luxembourgish", "lg": "Ganda", "li": "Limburgish", "ln": "Lingala", "lo": "Lao",
    "lt": "Lithuanian", "lu": "Luba-Katanga", "lv": "Latvian", "mg": "Malagasy", "mh": "Marshallese",
    "mi": "Maori", "mk": "Macedonian", "ml": "Malayalam", "mn": "Mongolian", "mr": "Marathi",
    "ms": "Malay", "mt": "Maltese", "my": "Burmese", "na": "Nauru", "nb": "Norwegian Bokmål",
    "nd": "North Ndebele", "ne": "Nepali", "ng": "Ndonga", "nl": "Dutch", "nn": "Norwegian Nynorsk",
    "no": "Norwegian", "nr": "South Ndebele", "nv": "Navajo", "ny": "Chichewa", "oc": "Occitan",
    "oj": "Ojibwa", "om": "Oromo", "or": "Oriya", "os": "Ossetian", "pa": "Punjabi", "pi": "Pali",
    "pl": "Polish", "ps": "Pashto", "pt": "Portuguese", "qu": "Quechua", "rm": "Romansh", "rn": "Rundi",
    "ro": "Romanian", "ru": "Russian", "rw": "Kinyarwanda", "sa": "Sanskrit", "sc": "Sardinian",
    "sd": "Sindhi", "se": "Northern Sami", "sg": "Sango", "si": "Sinhala", "sk": "Slovak",
    "sl": "Slovenian", "sm": "Samoan", "sn": "Shona", "so": "Somali", "sq": "Albanian", "sr": "Serbian",
    "ss": "Swati", "st": "Southern Sotho", "su": "Sundanese", "sv": "Swedish", "sw": "Swahili",
    "ta": "Tamil", "te": "Telugu", "tg": "Tajik", "th": "Thai", "ti": "Tigrinya", "tk": "Turkmen",
    "tl": "Tagalog", "tn": "Tswana", "to": "Tonga", "tr": "Turkish", "ts": "Tsonga", "tt": "Tatar",
    "tw": "Twi", "ty": "Tahitian", "ug": "Uyghur", "uk": "Ukrainian", "ur": "Urdu", "uz": "Uzbek",
    "ve": "Venda", "vi": "Vietnamese", "vo": "Volapük", "wa": "Walloon", "wo": "Wolof", "xh": "Xhosa",
    "yi": "Yiddish", "yo": "Yoruba", "za": "Zhuang", "zh": "Chinese", "zu": "Zulu",
}
# ISO 3166-1 countries, for a region after the language (en-GB, pt_BR); XK (Kosovo) as CLDR has it
_COUNTRIES = frozenset("""
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT
    BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH
    ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT
    HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS
    LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI
    NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG
    SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG
    UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW
""".split())
_REGION_MISTAKES = {"UK": "GB"}  # en-UK: the United Kingdom's code is GB
# ISO 639-2 codes and English names that sources write for common languages, by ISO 639-1 code
_LANGUAGE_ALIASES = {
    "ar": ("ara", "arabic"), "bn": ("ben", "bengali"), "cs": ("ces", "cze", "czech"),
    "da": ("dan", "danish"), "de": ("deu", "ger", "german", "deutsch"), "el": ("ell", "gre", "greek"),
    "en": ("eng", "english"), "es": ("spa", "spanish", "español", "espanol"), "fa": ("fas", "per", "persian"),
    "fi": ("fin", "finnish"), "fr": ("fra", "fre", "french", "français", "francais"), "he": ("heb", "hebrew", "iw"),
    "hi": ("hin", "hindi"), "hu": ("hun", "hungarian"), "id": ("ind", "indonesian", "in"),
    "it": ("ita", "italian", "italiano"), "ja": ("jpn", "japanese"), "ko": ("kor", "korean"),
    "ms": ("msa", "may", "malay"), "nl": ("nld", "dut", "dutch"), "no": ("nor", "nob", "nb", "nno", "nn", "norwegian"),
    "pl": ("pol", "polish"), "pt": ("por", "portuguese", "português"), "ro": ("ron", "rum", "romanian"),
    "ru": ("rus", "russian"), "sv": ("swe", "swedish"), "th": ("tha", "thai"), "tr": ("tur", "turkish"),
    "uk": ("ukr", "ukrainian"), "vi": ("vie", "vietnamese"), "zh": ("zho", "chi", "chinese"),
}
_LANGUAGE_BY_ALIAS = {alias: code for code, aliases in _LANGUAGE_ALIASES.items() for alias in aliases}
_LANGUAGE_BY_NAME = {name.casefold(): code for code, name in ISO_639_1.items()}
_TAG_PARTS = re.compile(r"([^-_]*)(?:([-_])(.*))?", re.DOTALL)  # 'en', '-', 'GB'
# after the language, besides a country: a script (Hans), a UN region (419) or a variant (1901)
_SCRIPT_REGION_OR_VARIANT = re.compile(r"[A-Za-z]{4}|[0-9]{3}|[0-9][A-Za-z0-9]{3}|[A-Za-z0-9]{5,8}")
# languages with only a three-letter code (fil, yue, haw, ckb), as sources tag posts with them
_ONLY_THREE_LETTERS = re.compile(r"(?!(?:" + "|".join(
    alias for alias in _LANGUAGE_BY_ALIAS if len(alias) == 3) + r")$)[a-z]{3}")
# the codes ISO 639-1 replaced, which Google and Java still write: Hebrew, Indonesian, Yiddish
_LEGACY_CODES = {"iw": "he", "in": "id", "ji": "yi"}
_LANGUAGE_EXAMPLES = "use a two-letter ISO 639-1 code such as en, de, zh (or en-GB, pt_BR)"


def language_code(tag: str) -> str:
    """A language as a source or a watchlist writes it -> its primary code, lower case:
    'en-GB', 'en_US', 'eng' and 'English' -> 'en'; a code not in the table is kept as it is."""
    primary = re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]
    return _LANGUAGE_BY_ALIAS.get(primary, primary)


def language_problem(tag: str, *, aliases: bool) -> str | None:
    """Why `tag` is not an ISO 639-1 code, alone or with a script or region ('en', 'en-GB',
    'zh_Hans'), as one sentence that suggests the closest real code; None when it is one.
    With `aliases`, 'eng' and 'English' count as 'en' (a query's languages are compared by code);
    without, they are refused (a source's `lang` option is sent to the site as it is written)."""
    primary, separator, rest = _TAG_PARTS.fullmatch(tag.strip()).groups(default="")
    code = primary.lower()
    if aliases:
        code = _LANGUAGE_BY_ALIAS.get(code, code)
    bad_subtag = _bad_subtag(rest) if separator else None
    real_all_the_same = code in _LEGACY_CODES or _ONLY_THREE_LETTERS.fullmatch(code)  # iw, fil, yue
    if code not in ISO_639_1 and not real_all_the_same:
        closest = _closest_language(primary)
        if closest and separator and bad_subtag is None:
            closest += separator + rest
        return _not_a_language(tag, closest)
    if bad_subtag is not None:
        region = _REGION_MISTAKES.get(bad_subtag.upper())
        suggestion = primary + separator + region if region and rest == bad_subtag else primary
        return _not_a_language(tag, suggestion, f"{bad_subtag!r} is not a country, region or script")
    return None


def _bad_subtag(rest: str) -> str | None:
    """The first part after the language that is neither a script (Hans), a country (GB), a UN region
    (419) nor a numbered variant (1901): 'XX' in en-XX. (Other parts of a BCP 47 tag say nothing
    a watchlist needs.)"""
    for subtag in re.split(r"[-_]", rest):
        if subtag.lower() == "x":  # private use: whatever follows is the writer's own
            return None
        if subtag.upper() not in _COUNTRIES and not _SCRIPT_REGION_OR_VARIANT.fullmatch(subtag):
            return subtag
    return None


# refused, but what they mean is plain: a country's code for its language ('jp' is Japan), a
# language's name in itself (中文)
_LANGUAGE_MISTAKES = {
    "jp": "ja", "cn": "zh", "gr": "el", "dk": "da", "cz": "cs", "ua": "uk", "vn": "vi", "gb": "en",
    "us": "en", "中文": "zh", "汉语": "zh", "漢語": "zh", "普通话": "zh", "國語": "zh", "日本語": "ja",
    "한국어": "ko", "русский": "ru", "español": "es", "français": "fr", "deutsch": "de",
    "português": "pt", "italiano": "it", "nederlands": "nl", "türkçe": "tr", "العربية": "ar",
}


def _closest_language(text: str) -> str | None:
    """The ISO 639-1 code `text` most likely means: 'eng', 'English', 'Englisch', 'jp', '中文'."""
    word = text.strip().casefold()
    known = {**_LANGUAGE_BY_NAME, **_LANGUAGE_BY_ALIAS, **_LANGUAGE_MISTAKES}
    if word in known:
        return known[word]
    # only names: a near miss of a two- or three-letter code is as likely another language
    close = difflib.get_close_matches(word, [name for name in known if len(name) > 3], n=1, cutoff=0.8)
    return known[close[0]] if close else None


def _not_a_language(tag: str, suggestion: str | None, why: str = "") -> str:
    hint = f" (did you mean {suggestion!r}?)" if suggestion else f": {_LANGUAGE_EXAMPLES}"
    return f"{tag!r} is not a language code" + (f": {why}" if why else "") + hint


def _query_language(value: object) -> str:
    """A language of a query: an ISO 639-1 code (en, de, zh, or en-US, eng, which count as en)."""
    if isinstance(value, bool):
        raise ValueError(_YAML_TRUTH.format(value=str(value).lower()) + " (Norwegian is 'no')")
    problem = language_problem(str(value), aliases=True)
    if problem:
        raise ValueError(problem)
    return language_code(str(value))


QueryTerm = Annotated[str, BeforeValidator(_query_term)]
QueryLanguage = Annotated[str, BeforeValidator(_query_language)]


class Query(_Strict):
    """What counts as a mention of the watch; matched locally too, since remote search is loose."""

    phrases: list[QueryTerm] = Field(default_factory=list, description="exact phrases, any one matches")
    any: list[QueryTerm] = Field(default_factory=list, description="terms, any one matches")
    all: list[QueryTerm] = Field(default_factory=list, description="terms that must all appear")
    exclude: list[QueryTerm] = Field(default_factory=list, description="terms or phrases that disqualify")
    languages: list[QueryLanguage] = Field(default_factory=list,
                                           description="ISO 639-1 codes (en-US counts as en); empty = any")

    @model_validator(mode="after")
    def _has_something_to_match(self) -> "Query":
        if not (self.phrases or self.any or self.all):
            raise ValueError("give at least one of phrases, any, all")
        blocking = self._exclusion_blocking_everything()
        if blocking:
            raise ValueError(f"exclude {blocking!r} is in every post the query wants (matching ignores "
                             "case and accents): the watch would match nothing")
        return self

    def _exclusion_blocking_everything(self) -> str | None:
        """An `exclude` term that every post the query wants contains (it is part of an `all` term,
        or of every phrase and `any` term), so that nothing could ever match; None when none is."""
        from crawler.matching import contains_term, matched_as_text, normalize_text  # it reads this module

        def always_excluded(wanted_term: str, excluded: str) -> bool:
            # a Chinese or Japanese term matches inside longer text ('東京acmeshop'), where a Latin
            # exclusion needs a word of its own: only another such term is sure to be there
            if matched_as_text(wanted_term) and not matched_as_text(excluded):
                return False
            return contains_term(normalize_text(wanted_term), excluded)

        wanted = self.phrases + self.any
        for term in self.exclude:
            if any(always_excluded(required, term) for required in self.all) or (
                    wanted and all(always_excluded(wanted_term, term) for wanted_term in wanted)):
                return term
        return None

    def searches(self) -> list[str]:
        """The remote searches that together fetch everything the query can match: one per phrase
        (quoted) and per `any` term, each with the `all` terms added; only `all` terms: one search.

        Sources search with these one at a time (crawler.collect), since most search APIs have no OR.
        """
        required = " ".join(self.all)
        wanted = ['"' + phrase.replace('"', "") + '"' for phrase in self.phrases] + list(self.any)
        if not wanted:
            return [required]
        return list(dict.fromkeys(f"{term} {required}".strip() for term in wanted))

    def search_terms(self) -> str:
        """One search string for the whole query, for a source searched once: the searches joined
        with OR (which Google News, Reddit and GitHub understand)."""
        searches = self.searches()
        if len(searches) == 1:
            return searches[0]
        return " OR ".join(f"({search})" if self.all else search for search in searches)


class SourceConfig(_Strict):
    """One source polled for a watch. `options` are the source's own (see `mentionwatch sources`)."""

    type: str
    interval: Duration = 900.0
    base_url: str | None = None
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)
    _written_base_url: str | None = PrivateAttr(default=None)  # set by parse_config
    _written_options: dict | None = PrivateAttr(default=None)  # set by parse_config when they read a ${VAR}

    @field_validator("interval", mode="before")
    @classmethod
    def _interval_or_unknown(cls, value: object, info: ValidationInfo) -> float:
        """A `${NAME}` kept as written (read for a command that polls no source, see load_config) is
        no duration to check: the default stands in, and only the service, which polls, reads it."""
        if isinstance(value, KeptUnset):
            return cls.model_fields["interval"].default
        return _watchlist_duration(value, info)

    @property
    def written_base_url(self) -> str | None:
        """base_url as the watchlist writes it, `${VAR}` unread: what the source's key hashes, so a
        new token in it does not make it a new source."""
        return self.base_url if self._written_base_url is None else self._written_base_url

    @property
    def written_options(self) -> dict:
        """options as the watchlist writes them, `${VAR}` unread: what the source's key and label
        hash, so a rotated key in a feed's address does not make it a new source."""
        return self.options if self._written_options is None else self._written_options

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        from crawler.source_types import SOURCE_TYPES

        if value not in SOURCE_TYPES:
            close = difflib.get_close_matches(value, SOURCE_TYPES, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "known: " + ", ".join(SOURCE_TYPES)
            raise ValueError(f"unknown source type {value!r} ({hint})")
        return value

    @field_validator("base_url")
    @classmethod
    def _absolute_base_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        from crawler.source_types import SCRAPY_TYPES, http_url_problem

        if value is not None and info.data.get("type") in SCRAPY_TYPES:  # it would be ignored
            addresses = "start_urls" if info.data["type"] == "reviews" else "sitemap_urls"
            raise ValueError(f"a {info.data['type']} source has no base_url: write each address whole "
                             f"in options.{addresses}")
        if _holds_unset_variable(value):  # read without the sources' secrets (see load_config)
            return value
        problem = None if value is None else http_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _api_options_valid(self) -> "SourceConfig":
        """A misspelt option or a bad value of an API source is reported when the watchlist is read."""
        from crawler.source_types import POLLER_TYPES, OptionProblem, check_api_options

        if _holds_unset_variable(self.options):  # read without the sources' secrets (see load_config)
            return self
        if self.type in POLLER_TYPES:
            try:
                check_api_options(self.type, self.options, has_base_url=self.base_url is not None)
            except OptionProblem as problem:
                if problem.option is None:
                    raise ValueError(str(problem)) from None
                raise _option_error(problem.location, str(problem), self.options[problem.option]) from None
        return self

    @model_validator(mode="after")
    def _spider_options_valid(self) -> "SourceConfig":
        """A typo in a spider's selectors is reported when the watchlist is read, not at crawl time."""
        if self.type in ("reviews", "sitemap") and not _holds_unset_variable(self.options):
            from crawler.spiders.options import OptionsError, parse_options  # Scrapy only for these

            try:
                parse_options(self.type, self.options)
            except OptionsError as exc:  # placed at the option (or list item): its own line
                raise _error_at(("options", *exc.location), exc.message, None) from None
        return self

    @model_validator(mode="after")
    def _lang_option_valid(self) -> "SourceConfig":
        """`options.lang` (bluesky, googleplay, the spiders) goes to the site, or onto every item, as
        written: a made-up code would keep every post out, or in, without a word."""
        lang = self.options.get("lang")
        # a bare number (`lang: 1`) is checked as text; true/false was refused with its own hint
        if isinstance(lang, (str, int, float)) and not isinstance(lang, bool) and not _holds_unset_variable(lang):
            problem = language_problem(str(lang), aliases=False)
            if problem:
                raise _option_error(("lang",), problem, lang)
        return self


def _holds_unset_variable(value: Any) -> bool:
    """Whether a setting still holds a `${NAME}` after interpolation: its variable was unset and the
    watchlist was read for a command that polls no source, so the value cannot be checked."""
    if isinstance(value, str):
        return _ENV_REFERENCE.search(value) is not None
    if isinstance(value, dict):
        return any(_holds_unset_variable(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_unset_variable(item) for item in value)
    return False


def _option_error(location: tuple, message: str, value: Any) -> ValidationError:
    """An error placed at `options.<option>` (or one item of a list option), so the error line
    gives that option's, or that item's, own line."""
    return _error_at(("options", *location), message, value)


def _first_repeat(names: list[str], key) -> int | None:
    """The position of the first name whose `key` an earlier name has, or None."""
    seen = set()
    for position, name in enumerate(names):
        if key(name) in seen:
            return position
        seen.add(key(name))
    return None


def _error_at(location: tuple, message: str, value: Any) -> ValidationError:
    """An error placed at `location` below the model being validated, so the error line names that
    setting and its line. pydantic adds the location of a ValidationError raised inside a validator
    to its own."""
    from pydantic_core import InitErrorDetails, PydanticCustomError

    detail = InitErrorDetails(type=PydanticCustomError("value_error", "{message}", {"message": message}),
                              loc=location, input=value)
    return ValidationError.from_exception_data("Config", [detail])


class ThresholdRule(_Strict):
    """A simple rule: at least `count` negative mentions within `window`."""

    name: str | None = None
    count: int = Field(ge=1, strict=True)
    window: Duration = 3600.0
    severity: Literal["low", "medium", "high", "critical"] = "medium"

    _window = field_validator("window", mode="before")(lambda v, info: _watchlist_duration(v, info))

    @field_validator("name")
    @classmethod
    def _not_blank(cls, name: str | None) -> str | None:
        """Alerts show the rule as `threshold:<name>`: blanks alone would name nothing."""
        if name and not name.strip():
            raise ValueError("a rule's name cannot be only blanks: write one, or leave it out "
                             "(the rule is then shown as its count and window, e.g. 20 in 1h)")
        return name


DAY_SECONDS = 86400.0
MIN_BUCKET, MAX_BUCKET = 60.0, DAY_SECONDS


def _check_bucket(seconds: float) -> float:
    """Counting per second would make millions of buckets a day; a bucket over a day hides the hour.
    The baseline compares each bucket with the same time on earlier days, so a day must be a whole
    number of buckets (with 7m ones the time of day would drift from one day to the next)."""
    if not MIN_BUCKET <= seconds <= MAX_BUCKET:
        raise ValueError(f"a bucket must be between 1m and 1d, not {duration_text(seconds)}")
    if DAY_SECONDS % seconds:
        raise ValueError(f"a bucket must divide a day evenly, e.g. 5m, 15m, 1h; not {duration_text(seconds)}")
    return seconds


TIME_ZONE_EXAMPLES = "a time zone name such as Europe/Paris, America/New_York or UTC"
# names the zone database holds as fixed offsets, which never move for daylight saving: what the
# setting is for (EST all year is not New York's time from March to November)
_NO_DAYLIGHT_SAVING = {"EST": ("UTC-5", "America/New_York", "America/Panama"),
                       "MST": ("UTC-7", "America/Denver", "America/Phoenix")}
# big cities whose zone is named after another one
_ZONE_CITIES = {"beijing": "Asia/Shanghai", "peking": "Asia/Shanghai", "shenzhen": "Asia/Shanghai",
                "guangzhou": "Asia/Shanghai", "chengdu": "Asia/Shanghai", "hangzhou": "Asia/Shanghai",
                "osaka": "Asia/Tokyo", "kyoto": "Asia/Tokyo", "mumbai": "Asia/Kolkata", "delhi": "Asia/Kolkata",
                "bangalore": "Asia/Kolkata", "hanoi": "Asia/Bangkok", "san francisco": "America/Los_Angeles",
                "seattle": "America/Los_Angeles", "boston": "America/New_York", "washington": "America/New_York",
                "munich": "Europe/Berlin", "milan": "Europe/Rome", "barcelona": "Europe/Madrid"}
# 'UTC+8', 'GMT-05:00', '+0530': an offset, not a zone
_OFFSET = re.compile(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)
_PLACE_AT_OFFSET = {"+8": "Asia/Shanghai", "+9": "Asia/Tokyo", "+5:30": "Asia/Kolkata", "+1": "Europe/Paris",
                    "+0": "Europe/London", "-5": "America/New_York", "-8": "America/Los_Angeles",
                    "+7": "Asia/Bangkok", "+10": "Australia/Sydney", "-3": "America/Sao_Paulo"}


def time_zone_name(value: object) -> str:
    """An IANA time zone name (alerts.timezone, `report --timezone`): the spike detector's "same time
    of day" is counted in it; a mistake is a ValueError of one line, with the name to write."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected {TIME_ZONE_EXAMPLES}")
    name = value.strip()
    if name.upper() in ("UTC", "Z"):
        return "UTC"
    if name.upper() in _NO_DAYLIGHT_SAVING:
        offset, moving, fixed = _NO_DAYLIGHT_SAVING[name.upper()]
        raise ValueError(f"{name!r} is {offset} all year, without daylight saving: write a place, "
                         f"e.g. {moving} (or {fixed} for {offset} all year)")
    zones = _time_zones()  # not ZoneInfo(name): 'Europe' is a folder of the database, not a zone
    if name in zones:
        return name
    raise ValueError(f"{name!r} is not a time zone{_time_zone_hint(name, zones)}")


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())  # a walk through the zone database: once


def _time_zone_hint(name: str, zones: frozenset[str]) -> str:
    """' (did you mean ...?)' for a misspelt zone or a common abbreviation, else examples. A short
    name is an abbreviation, not a misspelling: its closest spelling (PST -> MST) would mislead."""
    offset = _OFFSET.fullmatch(name.strip())
    if offset:
        return _offset_hint(*offset.groups(), zones)
    if name.upper() in AMBIGUOUS_ZONES:
        return f" (did you mean {ambiguous_zone_places(name, quoted=True)}?)"
    known = {zone.casefold(): zone for zone in zones if zone.upper() not in _NO_DAYLIGHT_SAVING}
    close = (known.get(name.casefold()) or ZONE_PLACES.get(name.upper())
             or _ZONE_CITIES.get(" ".join(name.replace("_", " ").casefold().split())))
    if close is None and len(name) > 4:
        close = next(iter(difflib.get_close_matches(name, sorted(known.values()), n=1)), None)
    return f" (did you mean {close!r}?)" if close else f": use {TIME_ZONE_EXAMPLES}"


def _offset_hint(sign: str, hours: str, minutes: str | None, zones: frozenset[str]) -> str:
    """For 'UTC+8': the place to write (its summer time kept), or the fixed zone of that offset
    (IANA names it with the sign reversed: Etc/GMT-8 is UTC+8); for 'UTC+0', UTC."""
    whole_hours = not minutes or minutes == "00"
    if whole_hours and int(hours) == 0:
        return " (did you mean 'UTC'?)"
    written = f"{sign}{int(hours)}" + ("" if whole_hours else f":{minutes}")
    place = _PLACE_AT_OFFSET.get(written)
    fixed = f"Etc/GMT{'-' if sign == '+' else '+'}{int(hours)}" if whole_hours else None
    fixed = fixed if fixed in zones else None  # Etc/GMT-14 is the last: UTC+99 is no offset at all
    named = [repr(place)] if place else []
    if fixed:  # a zone, though not a place: IANA's name for UTC+8 all year reverses the sign
        named.append(f"{fixed!r}, which is UTC{written} all year")
    choices = " or ".join(named)
    return (f": a time zone is a place, not an offset (did you mean {choices}?)" if choices
            else f": a time zone is a place, not an offset: use {TIME_ZONE_EXAMPLES}")


TimeZone = Annotated[str, BeforeValidator(time_zone_name)]


def _refuse_true_or_false(value: object) -> object:
    """A number setting written yes/no/on/off, which YAML reads as true/false and pydantic would take
    as 1 or 0 (`sensitivity: off` is 0.0: alerts still on, for the largest spikes): refused, and told
    in the file's own word (_validation_error_line)."""
    if isinstance(value, bool):
        from pydantic_core import PydanticCustomError

        raise PydanticCustomError("float_type", "Input should be a valid number")
    return value


NumberSetting = Annotated[float, BeforeValidator(_refuse_true_or_false)]
WholeNumberSetting = Annotated[int, BeforeValidator(_refuse_true_or_false)]


class AlertSettings(_Strict):
    """How spikes are detected. Every field may be overridden per watch."""

    enabled: bool = True
    bucket: Duration = 3600.0
    sensitivity: NumberSetting = Field(default=0.5, ge=0.0, le=1.0, allow_inf_nan=False,
                               description="0 = only the largest spikes, 1 = the faintest")
    min_count: int = Field(default=5, ge=1, strict=True,
                           description="fewest negative mentions in the spike's hour (or bucket, when longer) to alert")
    warmup: Duration = 7 * 86400.0
    cooldown: Duration = 6 * 3600.0
    per_source: bool = False
    timezone: TimeZone = "UTC"  # where "the same time of day" on earlier days is counted
    thresholds: list[ThresholdRule] = Field(default_factory=list)

    _durations = field_validator("bucket", "warmup", "cooldown", mode="before")(
        lambda v, info: _watchlist_duration(v, info)
    )
    _bucket = field_validator("bucket")(lambda v: _check_bucket(v))


class AlertOverrides(_Strict):
    """Per-watch alert settings: anything left out comes from the global `alerts` section."""

    enabled: bool | None = None
    bucket: Duration | None = None
    sensitivity: NumberSetting | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)
    min_count: int | None = Field(default=None, ge=1, strict=True)
    warmup: Duration | None = None
    cooldown: Duration | None = None
    per_source: bool | None = None
    timezone: TimeZone | None = None
    thresholds: list[ThresholdRule] | None = None

    _durations = field_validator("bucket", "warmup", "cooldown", mode="before")(
        lambda v, info: None if v is None else _watchlist_duration(v, info)
    )
    _bucket = field_validator("bucket")(lambda v: None if v is None else _check_bucket(v))

    @field_validator("thresholds", mode="before")
    @classmethod
    def _rules_or_none_said_so(cls, value: object, info: ValidationInfo) -> object:
        """`thresholds:` left empty under a watch would keep the global rules, which a user clearing
        the list rarely means: `[]` says no rules for this watch, leaving the key out says the global
        ones. (A watch sent to a crawl's child process holds None for "left out".)"""
        if value is None and (info.context or {}).get("watchlist"):
            raise ValueError("is empty: write thresholds: [] for no threshold rules on this watch, "
                             "or leave it out to use the global ones")
        return value


WATCH_NAME_RULE = ("1-64 ASCII letters (A-Z, a-z), digits, '_', '.' or '-', starting with a letter "
                   "or digit")
_WATCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_WATCH_NAME_CHAR = re.compile(r"[A-Za-z0-9_.-]")


def watch_name_problem(name: str) -> str | None:
    """Why `name` cannot be a watch name, as one plain sentence; None when it can.

    Watch names become file names (report charts), URL parts and command arguments: ASCII only.
    """
    if _WATCH_NAME.fullmatch(name):
        return None
    bad = list(dict.fromkeys(char for char in name if not _WATCH_NAME_CHAR.fullmatch(char)))
    if not name:
        problem = "it is empty"
    elif bad:
        shown = [repr(char) for char in bad]
        listed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
        problem = f"{listed} {'is' if len(bad) == 1 else 'are'} not allowed"
    elif len(name) > 64:
        problem = f"it is {len(name)} characters long"
    else:
        problem = f"it starts with {name[0]!r}"
    return f"{name!r} is not a valid watch name: {problem}; use {WATCH_NAME_RULE}"


def _check_watch_name(name: str) -> str:
    problem = watch_name_problem(name)
    if problem:
        raise ValueError(problem)
    return name


class Watch(_Strict):
    """A customer, brand or topic to monitor."""

    name: str
    description: str = ""
    query: Query
    sources: list[SourceConfig] = Field(default_factory=list)
    alerts: AlertOverrides = Field(default_factory=AlertOverrides)

    _name = field_validator("name")(lambda v: _check_watch_name(v))

    @model_validator(mode="after")
    def _no_source_twice(self) -> "Watch":
        """Two sources with the same type, base_url and options would be polled twice under one
        label (`hackernews#c6ef8eb9`), sharing their cursors: a pasted copy, refused."""
        from crawler.source_types import settings_key

        first_at: dict[tuple[str, str], int] = {}
        for position, source in enumerate(self.sources):
            key = (source.type, settings_key(source))
            if key in first_at:
                raise _error_at(("sources", position),
                                f"the same source as sources[{first_at[key]}] ({source.type} with the "
                                "same base_url and options): remove one of them", None)
            first_at[key] = position
        return self


class SentimentConfig(_Strict):
    """Which model scores sentiment: 'builtin' (works offline), a Hugging Face id or a local path."""

    model: str = "builtin"
    label_map: dict[str, Literal["negative", "neutral", "positive"]] = Field(default_factory=dict)
    batch_size: WholeNumberSetting = Field(default=32, ge=1, le=4096)
    backend: Literal["auto", "onnx", "torch"] = "auto"
    device: str = "auto"
    max_length: WholeNumberSetting = Field(default=128, ge=8, le=512)
    # for a model written 'org/name': (that name, the folder beside the watchlist that was looked
    # for, missing); the error of a model not found names it. A copy with another model (`sentiment
    # eval --model`) keeps it, so the name says whose it is
    _folder_beside: tuple[str, Path] | None = PrivateAttr(default=None)

    @field_validator("model")
    @classmethod
    def _some_model(cls, value: str) -> str:
        """`model: ""` would name the watchlist's folder: refused here, not as a missing model later."""
        if not value.strip():
            raise ValueError("is empty: write builtin, a Hugging Face model id or a model folder, or leave it out")
        return value

    @field_validator("label_map", mode="before")
    @classmethod
    def _label_numbers_as_text(cls, value: Any) -> Any:
        """`{0: negative, 1: neutral}`: YAML reads the bare label numbers as numbers; they name the
        model's labels by their index ('0', LABEL_0) all the same."""
        if isinstance(value, dict):
            return {str(key) if isinstance(key, int) and not isinstance(key, bool) else key: label
                    for key, label in value.items()}
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        """What torch is given: checked here, so a typo is one line, not a traceback at scoring."""
        device = value.strip().lower()
        if not _DEVICE.match(device):
            raise ValueError(f"unknown device {value!r} (use auto, cpu, cuda, cuda:N or mps)")
        return device

    def folder_looked_for(self) -> Path | None:
        """The folder beside the watchlist that `model` was looked for in, when it is not there."""
        return self._folder_beside[1] if self._folder_beside and self._folder_beside[0] == self.model else None


# apprise schemes whose URL is made of tokens or keys (from apprise's list of services): written in
# the watchlist, such a URL would leave its secret in a file that is shared, backed up and shown
_TOKEN_SCHEMES = frozenset("""
    bark barks boxcar bluesky chantify d7sms dingtalk discord fcm feishu flock gchat gitter gotify
    gotifys guilded hassio hassios ifttt join kavenegar kumulos lametric lametrics lark line mailgun
    mastodon mastodons toot toots matrix matrixs misskey misskeys mmost mmosts msgbird msteams notica
    notifiarr notifico o365 azure onesignal opsgenie pagerduty pagertree pbul pjet pjets popcorn
    pover prowl psafer psafers push pushdeer pushdeers pushed pushme pushy reddit resend revolt
    rocket rockets ryver schan sendgrid seven ses signl4 sinch slack smseagle
    smseagles smsmgr sns sparkpost spush splunk victorops strmlabs synology synologys tgram telegram
    threema twilio twist twitter tweet vonage nexmo voipms webex wxteams wecombot whatsapp
    workflow workflows wxpusher zulip
""".split())
# https addresses of services that carry their secret in the path: (what, host, path start)
_SECRET_WEBHOOKS = (
    ("Slack web hook", r"hooks\.slack\.com", r"/(services|workflows|triggers)/\w"),
    ("Discord web hook", r"((canary|ptb)\.)?discord(app)?\.com", r"/api/webhooks/\w"),
    ("Microsoft Teams web hook", r"[\w-]+\.webhook\.office\.com", r"/\w"),
    ("Microsoft Teams web hook", r"outlook\.office(365)?\.com", r"/webhook/\w"),
    ("Telegram bot", r"api\.telegram\.org", r"/bot\w"),
    ("Zapier web hook", r"hooks\.zapier\.com", r"/hooks/catch/\w"),
    ("IFTTT web hook", r"maker\.ifttt\.com", r"/trigger/.*/key/\w"),
)
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)", re.DOTALL)


def _token_in_url(url: str, marked: str | None = None) -> str | None:
    """Why this notification URL holds a token (its scheme, its host, a `token=` parameter), in a
    few words that do not quote it; None when nothing in it looks like a token. `marked` is the URL
    with FROM_ENV where the file reads a ${VAR} (an ntfy URL's token:@ and user:${PASSWORD}@ look
    alike once that is taken out)."""
    from mentionwatch.logging_setup import is_secret_parameter

    match = _URL_SCHEME.fullmatch(url.strip())
    if not match:
        return None
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme in _TOKEN_SCHEMES and re.search(r"[A-Za-z0-9]", rest):
        return f"{scheme}:// URLs are made of tokens"
    if scheme in ("ntfy", "ntfys"):
        written = _URL_SCHEME.fullmatch((marked or url).strip())
        if written and _ntfy_token_written(re.split(r"[/?#]", written.group(2), maxsplit=1)[0]):
            return "the part before @ of an ntfy URL is an access token"
    try:
        parts = urllib.parse.urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:  # e.g. an unclosed IPv6 bracket: apprise reports it when sending
        return None
    for what, host_pattern, path_start in _SECRET_WEBHOOKS:
        # the token is the path's last part: left empty, it comes from ${ENV_VAR}, not the file
        if re.fullmatch(host_pattern, host) and re.match(path_start, parts.path) and parts.path.split("/")[-1]:
            return f"a {what} address carries its token"
    secret = next((name for name, value in urllib.parse.parse_qsl(parts.query)
                   if is_secret_parameter(name) and not _names_a_method(scheme, name, value)), None)
    return f"its {secret}= parameter is a secret" if secret else None


def _names_a_method(scheme: str, name: str, value: str) -> bool:
    """ntfy's auth= says how the part before @ is sent (basic, token), not a secret."""
    return scheme in ("ntfy", "ntfys") and name.lower() == "auth" and value.lower() in ("basic", "token")


def _ntfy_token_written(authority: str) -> bool:
    """Whether an ntfy URL's token@host (or token:@host, which apprise reads as a token too) has its
    token written out; a ${ENV_VAR} shows as FROM_ENV. user:password@host is the password check's."""
    if "@" not in authority:
        return False
    user, colon, password = authority.rsplit("@", 1)[0].partition(":")
    if colon and password:
        return False
    return re.search(r"[A-Za-z0-9]", user) is not None


FROM_ENV = "\x00"  # what a ${VAR} reads as in `_written_in_the_file(url, FROM_ENV)`: no letter, no digit


# while parse_config reads a watchlist: {a notification setting after ${ENV_VAR} replacement: as written}
_WRITTEN_AS: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("written_as", default=None)


def _written_in_the_file(url: str, stand_in: str = "") -> str:
    """The URL as the file writes it, less its ${ENV_VAR} references (each `stand_in`): what the
    file itself says. (Not the URL less every secret this process knows: a target's URL is one once
    it was used, and a token added to it in the file must still be seen.)"""
    return _ENV_REFERENCE.sub(stand_in, (_WRITTEN_AS.get() or {}).get(url, url))


class Notification(_Strict):
    """Where alerts are sent: an apprise URL, read from the environment or a file (it is a secret)."""

    name: str
    url_env: str | None = None
    url_file: Path | None = None
    url: str | None = Field(default=None, description="prefer url_env or url_file: this is a secret")
    events: list[Literal["opened", "escalated", "resolved"]] = Field(
        default_factory=lambda: ["opened", "escalated"]
    )
    watches: list[str] = Field(default_factory=list, description="empty = every watch")

    @field_validator("name")
    @classmethod
    def _printable_name(cls, name: str) -> str:
        """The name is shown in `alerts show` and in logs: a blank one names nothing."""
        if not name.strip():
            raise ValueError("a notification needs a name that is not blank, e.g. team-chat")
        if any(unicodedata.category(char) == "Cc" for char in name):
            raise ValueError(f"{name!r} cannot be a notification name: it holds control characters "
                             "(newline, tab, escape)")
        return name

    @field_validator("events")
    @classmethod
    def _some_event(cls, events: list[str]) -> list[str]:
        if not events:
            raise ValueError("give at least one of opened, escalated, resolved (or leave events out)")
        return events

    @field_validator("url_env")
    @classmethod
    def _a_variable_name(cls, name: str | None) -> str | None:
        """`url_env: ${SLACK_URL}` (or `$SLACK_URL`) would look up a variable named after the URL
        itself: never set, so alerts would never go out, and the URL would be printed as its
        "name". The value is not quoted: it may be that URL."""
        if name is not None and not _ENV_NAME.fullmatch(name):
            raise ValueError("url_env takes the name of the environment variable that holds the URL, "
                             "e.g. url_env: MENTIONWATCH_NOTIFY_URL (no $, no ${ }, not the URL itself)")
        return name

    @field_validator("url_file", mode="before")
    @classmethod
    def _not_a_url(cls, value: object) -> object:
        """A URL given as url_file (`url_file: ${SLACK_URL}`) would be looked for as a file, and
        shown as a missing file's name. The value is not quoted: it may be that URL."""
        if isinstance(value, str) and "://" in value:
            raise ValueError("url_file takes the path of a file that holds the URL, not the URL itself "
                             "(for a URL in an environment variable: url_env: VARIABLE_NAME)")
        if isinstance(value, str) and value.strip() in ("", ".", ".."):
            raise ValueError("url_file takes the path of a file that holds the URL, such as "
                             "/etc/mentionwatch/slack.url; this names a folder")
        return value

    @model_validator(mode="after")
    def _one_url_source(self) -> "Notification":
        given = [x for x in (self.url_env, self.url_file, self.url) if x]
        if len(given) != 1:
            raise ValueError("give exactly one of url_env, url_file, url")
        return self

    @field_validator("url")
    @classmethod
    def _no_password_in_the_file(cls, url: str | None, info: ValidationInfo) -> str | None:
        """`url` is for an address that holds no secret (a local test hook); a password in it would
        sit in a file that is shared, backed up and shown. (A token: see _no_token_in_the_file.)"""
        # a password read from ${ENV_VAR} is not in the file
        with_password = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*:([^/@]*)@", _written_in_the_file(url or ""))
        if with_password and with_password.group(1):
            named = f"notification {info.data['name']!r}: " if info.data.get("name") else ""
            raise ValueError(f"{named}this URL holds a password: put it in an environment variable (url_env) "
                             "or a file (url_file), not in the watchlist")
        return url

    @model_validator(mode="after")
    def _no_token_in_the_file(self) -> "Notification":
        """Like a password, a token in `url` would sit in the watchlist: in a scheme made of tokens
        (slack://), the path of a web hook (hooks.slack.com/services/…) or a `token=` parameter.
        Neither the URL nor the token is quoted."""
        if not self.url:
            return self
        why = _token_in_url(_written_in_the_file(self.url), _written_in_the_file(self.url, FROM_ENV))
        if why:
            raise _error_at(("url",), f"notification {self.name!r}: this URL holds a token ({why}): "
                                      "give it with url_env (an environment variable) or url_file "
                                      "(a file) instead, not in the watchlist", None)
        return self

    def resolve_url(self) -> str | None:
        """The apprise URL, or None when its environment variable or file is not there (or its
        `url:` reads a ${VARIABLE} this process does not set)."""
        url = self._read_url()
        remember_secrets([url])  # a webhook URL is a secret: hidden in logs and stored errors
        return url

    def unread_variable(self) -> str | None:
        """A ${NAME} its name or its watches still hold, its variable unset when the watchlist was
        read for a command that sends nothing (see load_config), or None: such a target is not the
        one the service knows, and a message queued for it here would never go."""
        for value in (self.name, *self.watches):
            reference = _ENV_REFERENCE.search(value)
            if reference and reference.group(1) not in os.environ:
                return reference.group(1)
        return None

    def unset_variable(self) -> str | None:
        """The first ${NAME} its `url:` still holds because its variable was unset when the
        watchlist was read (kept as written, see load_config), or None. A '${' that came from a
        variable's value is part of the URL."""
        if self.url not in _URLS_WITH_UNSET_VARIABLES:
            return None
        reference = next((found for found in _ENV_REFERENCE.finditer(self.url) if found.group(1) not in os.environ),
                         None)
        return reference.group(1) if reference else None

    def _read_url(self) -> str | None:
        if self.url:
            return None if self.unset_variable() else self.url
        if self.url_env:
            return os.environ.get(self.url_env, "").strip() or None  # as a url_file's text is
        try:
            return url_in_file(url_file_text(Path(self.url_file).read_bytes())) or None
        except (OSError, UnicodeError):  # told by the notifier: "... is not UTF-8 text"
            return None


def url_in_file(text: str) -> str:
    """A url_file's URL: its lines without blank ones and comments (`# old: slack://…`), which
    apprise would read as another target. Several lines left stay several (refused when sent)."""
    lines = (line.strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("#"))


def url_file_text(data: bytes) -> str:
    """A url_file's text: UTF-8, with or without a byte-order mark, or UTF-16 or UTF-32 with one
    (Notepad and PowerShell write UTF-16); UnicodeError for other bytes."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16: its mark starts alike
        text = data.decode("utf-32")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16")
    else:
        text = data.decode("utf-8-sig")
    if "\x00" in text:  # UTF-16 without its mark reads as UTF-8 with a NUL between letters
        raise UnicodeError("NUL characters: not UTF-8 text")
    return text


class ServiceConfig(_Strict):
    """Timings of the background service (`mentionwatch run`)."""

    score_interval: Duration = 60.0
    detect_interval: Duration = 300.0
    notify_retry_interval: Duration = 120.0
    jitter: Duration = 30.0
    misfire_grace: Duration = 300.0
    max_backoff: Duration = 6 * 3600.0
    keep_mentions: Duration | None = None  # erase mentions older than this once a day; None: keep all

    _durations = field_validator("*", mode="before")(
        lambda v, info: None if v is None else _watchlist_duration(v, info)
    )

    @field_validator("keep_mentions")
    @classmethod
    def _long_enough_for_detection(cls, seconds: float | None) -> float | None:
        if seconds is not None and seconds < MIN_KEEP_MENTIONS:
            raise ValueError(f"at least {duration_text(MIN_KEEP_MENTIONS)}: spike detection compares "
                             "each hour with the past week, and backtests need history")
        return seconds


class Config(_Strict):
    """The whole watchlist file."""

    database: Path = Path(DEFAULT_DB_NAME)
    sentiment: SentimentConfig = Field(default_factory=SentimentConfig)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    notifications: list[Notification] = Field(default_factory=list)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    watches: list[Watch] = Field(default_factory=list)

    @field_validator("database", mode="before")
    @classmethod
    def _a_file_name(cls, value: object) -> object:
        """`database: ""` would name the watchlist's folder: refused here, not as a folder later."""
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty: write a file name such as mentionwatch.db, or leave it out")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> "Config":
        for kind, section, names in (("watch", "watches", [w.name for w in self.watches]),
                                     ("notification", "notifications", [n.name for n in self.notifications])):
            repeat = _first_repeat(names, str)
            if repeat is not None:
                raise _error_at((section, repeat, "name"), f"{kind} names must be unique: {names[repeat]!r} "
                                f"is also the name of {section}[{names.index(names[repeat])}]", names[repeat])
        # report files are named after the watch: on a disk that ignores case (macOS, Windows)
        # 'acme' and 'Acme' would overwrite each other's charts
        names = [w.name for w in self.watches]
        repeat = _first_repeat(names, str.casefold)
        if repeat is not None:
            first = [name.casefold() for name in names].index(names[repeat].casefold())
            raise _error_at(("watches", repeat, "name"), "watch names must differ by more than capital "
                            f"letters: {names[first]}, {names[repeat]}", names[repeat])
        return self

    @model_validator(mode="after")
    def _notified_watches_exist(self) -> "Config":
        """A misspelt watch in a notification's `watches` would silently keep that target quiet."""
        names = [watch.name for watch in self.watches]
        for number, notification in enumerate(self.notifications):
            for position, name in enumerate(notification.watches):
                # a ${NAME} kept as written (its variable unset here, see load_config) is unchecked
                if name not in names and not _ENV_REFERENCE.search(name):
                    close = difflib.get_close_matches(name, names, n=1)
                    hint = f"did you mean {close[0]!r}?" if close else "known: " + (", ".join(names) or "none")
                    raise _error_at(("notifications", number, "watches", position),
                                    f"no watch named {name!r} ({hint})", name)
        return self

    @model_validator(mode="after")
    def _threshold_windows_fit_the_bucket(self) -> "Config":
        """Counts are kept per bucket, so a rule's window must be whole buckets (30m on 1h buckets
        would silently be read as 1h)."""
        checks = [(("alerts",), self.alerts, "")]
        for number, watch in enumerate(self.watches):
            own_rules = watch.alerts.thresholds is not None
            checks.append(((("watches", number, "alerts") if own_rules else ("alerts",)),
                           self.alert_settings(watch.name), f" of watch {watch.name!r}"))
        for location, settings, whose in checks:
            labels: set[str] = set()
            for number, rule in enumerate(settings.thresholds):
                if rule.window % settings.bucket:
                    raise _error_at((*location, "thresholds", number, "window"),
                                    f"{duration_text(rule.window)} is not a whole number of buckets "
                                    f"(the bucket{whose} is {duration_text(settings.bucket)})", rule.window)
                # an alert names its rule by this label: two alike could not be told apart
                label = rule.name or f"{rule.count} in {duration_text(rule.window)}"
                # 'Flood' and 'flood ' read as 'flood' in an alert list: alike too
                if " ".join(label.split()).casefold() in labels:
                    raise _error_at((*location, "thresholds", number, "name" if rule.name else "count"),
                                    f"a second threshold rule{whose} called {label!r}: alerts name their "
                                    "rule, so give each its own name", rule.name or rule.count)
                labels.add(" ".join(label.split()).casefold())
        return self

    @model_validator(mode="after")
    def _history_kept_covers_the_warmup(self) -> "Config":
        """Retention shorter than a warm-up plus the week of baseline would keep spike alerts from
        ever opening, silently."""
        keep = self.service.keep_mentions
        if keep is None:
            return self
        warmups = [self.alerts.warmup] + [self.alert_settings(w.name).warmup for w in self.watches]
        needed = max(warmups) + BASELINE_SECONDS
        if keep < needed:
            advice = (f"keep at least {duration_text(needed)}" if needed <= MAX_DURATION_SECONDS else
                      f"that is more than the longest duration ({duration_text(MAX_DURATION_SECONDS)}): "
                      "shorten the warm-up, or leave keep_mentions out to keep everything")
            raise _error_at(("service", "keep_mentions"),
                            f"{duration_text(keep)} keeps less than the longest warm-up "
                            f"({duration_text(max(warmups))}) plus the week of history spike detection "
                            f"compares with: {advice}", keep)
        return self

    def watch(self, name: str) -> Watch:
        for watch in self.watches:
            if watch.name == name:
                return watch
        raise KeyError(name)

    def alert_settings(self, watch_name: str) -> AlertSettings:
        """The global alert settings with this watch's overrides applied."""
        overrides = self.watch(watch_name).alerts
        # attributes, not model_dump(): that would turn the watch's threshold rules into plain dicts
        changed = {name: getattr(overrides, name) for name in type(overrides).model_fields
                   if getattr(overrides, name) is not None}
        return self.alerts.model_copy(update=changed)


# what a `${NAME}` whose variable is unset may stay as written in (see load_config)
KEEP_UNSET_IN_SOURCES = "sources"  # and in every notification setting
KEEP_UNSET_IN_URLS = "urls"  # only in a notification's url
KEEP_UNSET_IN_SOURCES_AND_URLS = "sources and urls"


def load_config(path: str | Path, *, keep_unset_env: bool | str = False) -> Config:
    """Read, interpolate and validate a watchlist file. Raises ConfigError with one clear line.

    With `keep_unset_env=KEEP_UNSET_IN_SOURCES`, a `${NAME}` in a source's or a notification's
    settings whose variable is not set stays as written (and unchecked) instead of being an error:
    for the commands that neither poll a source nor send a message (`report`, `search`,
    `alerts resolve` …), which may run without the service's secrets;
    elsewhere (the database's path, say) it is still an error. With KEEP_UNSET_IN_URLS only a
    notification's `url` keeps it: for `crawl` and `run`, which poll the sources and need their
    secrets; that target cannot send (and says why), as one whose url_env is unset, while the
    others still do. KEEP_UNSET_IN_SOURCES_AND_URLS is both: for `detect` and `notify`, which send
    but poll nothing. A notification's other settings (its name, its url_file) are not kept by the
    commands that send: messages queued under a name the service reads otherwise would never go.
    With `keep_unset_env=True` it stays anywhere: for `status`, a health check run from any shell.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (create one with 'mentionwatch init')") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(_not_utf8(path, exc)) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(text, path, keep_unset_env=keep_unset_env)


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> str:
    """'mentionwatch.yaml:21: not UTF-8 text …': the line of the first byte that is not, as an
    editor saving in Latin-1 or Windows-1252 writes é."""
    line = exc.object[:exc.start].count(b"\n") + 1
    return (f"{path}:{line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}): save the file as "
            "UTF-8 in your editor")


def database_setting(path: str | Path) -> Path | None:
    """The database a watchlist names, read on its own (None when even that cannot be read): for
    the commands that only read what is stored (`stats`, `alerts list` …), which must keep working
    while someone's edit has left a mistake elsewhere in the file."""
    path = Path(path)
    value = _database_as_written(path)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        value = _interpolate(value, ("database",))
    except (_MissingEnv, _BadReference):
        return None
    database = Path(value).expanduser()
    return database if database.is_absolute() else path.resolve().parent / database


def names_a_database(path: str | Path) -> bool:
    """Whether the watchlist has a `database:` line (without one it means the default file)."""
    try:
        data = yaml.safe_load(Path(path).read_bytes().decode("utf-8", errors="replace"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "database" in data


def _database_as_written(path: Path) -> object:
    """The watchlist's `database` value as YAML reads it, the rest of the file unchecked (the
    default when it has none; None when the file cannot be read as YAML)."""
    try:  # a file that is not UTF-8 elsewhere (a Latin-1 'Café') still names its database
        data = yaml.safe_load(path.read_bytes().decode("utf-8", errors="replace"))
    except (OSError, yaml.YAMLError):
        return None
    return data.get("database", DEFAULT_DB_NAME) if isinstance(data, dict) else None


def unset_database_variable(path: str | Path) -> str | None:
    """The first ${NAME} the watchlist's database setting names that this shell does not set (read
    on its own, as database_setting reads it), or None."""
    value = _database_as_written(Path(path))
    if not isinstance(value, str):
        return None
    return next((match.group(1) for match in _ENV_REFERENCE.finditer(value) if match.group(1) not in os.environ),
                None)


def parse_config(text: str, path: str | Path = "<config>", *, keep_unset_env: bool | str = False) -> Config:
    """Validate watchlist text; relative paths (database, url_file, a model folder) are taken from the file's folder."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_error_line(path, exc)) from None
    _refuse_duplicate_keys(path, node)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the file must be a mapping of settings, not {type(data).__name__}")
    written = data
    reading = _WRITTEN_AS.set({})
    try:
        return _validated(path, node, text, written, _interpolated(path, node, data, keep_unset_env))
    finally:
        _WRITTEN_AS.reset(reading)


def _interpolated(path, node, data: dict, keep_unset_env: bool | str) -> dict:
    """The watchlist's settings with ${ENV_VAR} references replaced, or one ConfigError line."""
    try:
        return _interpolate(data, (), keep_unset_env)
    except _MissingEnv as missing:
        raise ConfigError(
            f"{path}:{_line_of(node, missing.location)}: {_dotted(missing.location)}: "
            f"environment variable {missing.name} is not set"
        ) from None
    except _BadReference as bad:
        raise ConfigError(f"{path}:{_line_of(node, bad.location)}: {_dotted(bad.location)}: "
                          f"{bad.problem}") from None


def _validated(path, node, text: str, written: dict, data: dict) -> Config:
    """The Config of the interpolated settings `data`, or one ConfigError line."""
    while True:
        try:
            config = Config.model_validate(data, context=WATCHLIST_CONTEXT)
            break
        except ValidationError as exc:
            retyped = _with_typed_variables(exc, written, data)
            if retyped is None:
                line = _validation_error_line(path, node, exc)
                raise ConfigError(f"{path}:" + _hide_environment_values(line.removeprefix(f"{path}:"), text)) from None
            data = retyped
    if str(path) != "<config>":
        _anchor_relative_paths(config, Path(path).resolve().parent)
    _keep_written_base_urls(config, written)
    return config


def _with_typed_variables(exc: ValidationError, written: dict, data: dict) -> dict | None:
    """A copy of `data` in which each setting refused that the file writes as a whole `${NAME}`
    (`min_count: ${MIN_COUNT}`) holds its variable's value as YAML reads it, when that is a number
    or true/false (a variable's value is text); None when no refused setting is such a one."""
    import copy

    retyped = copy.deepcopy(data)
    changed = False
    for error in exc.errors():
        location = tuple(part for part in error["loc"] if isinstance(part, (str, int)))
        if not _ENV_WHOLE_REFERENCE.fullmatch(str(_setting_at(written, location))):
            continue
        parent, key = _setting_at(retyped, location[:-1]), location[-1] if location else None
        value = _setting_at(retyped, location)
        if not isinstance(value, str) or isinstance(value, KeptUnset):
            continue
        try:
            typed = yaml.safe_load(value)
        except yaml.YAMLError:
            continue
        if isinstance(typed, (bool, int, float)):
            parent[key] = typed
            changed = True
    return retyped if changed else None


_ENV_WHOLE_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_NOWHERE = object()


def _setting_at(settings: Any, location: tuple) -> Any:
    """The value at `location` (keys and list positions) in nested settings, or _NOWHERE."""
    for part in location:
        if isinstance(settings, dict) and part in settings:
            settings = settings[part]
        elif isinstance(settings, list) and isinstance(part, int) and 0 <= part < len(settings):
            settings = settings[part]
        else:
            return _NOWHERE
    return settings


def _keep_written_base_urls(config: Config, written: dict) -> None:
    """Each source's base_url, and its options where they read a ${VAR}, as the file writes them
    (see SourceConfig.written_base_url and written_options)."""
    for watch, written_watch in zip(config.watches, written.get("watches") or []):
        sources = written_watch.get("sources") if isinstance(written_watch, dict) else None
        for source, written_source in zip(watch.sources, sources or []):
            if not isinstance(written_source, dict):
                continue
            value = written_source.get("base_url")
            if isinstance(value, str):
                source._written_base_url = value
            options = written_source.get("options")
            if isinstance(options, dict) and _reads_a_variable(options):
                source._written_options = options


def _reads_a_variable(value: Any) -> bool:
    """Whether a setting as written holds a ${NAME} anywhere inside it."""
    if isinstance(value, dict):
        return any(_reads_a_variable(one) for one in value.values())
    if isinstance(value, list):
        return any(_reads_a_variable(one) for one in value)
    return isinstance(value, str) and _ENV_REFERENCE.search(value) is not None


def _anchor_relative_paths(config: Config, folder: Path) -> None:
    """Paths written in the watchlist mean the same whichever folder the command runs from."""
    config.database = config.database.expanduser()  # ~/mentionwatch.db is in the home folder
    if not config.database.is_absolute():
        config.database = folder / config.database
    for notification in config.notifications:
        if notification.url_file:
            notification.url_file = notification.url_file.expanduser()
        if notification.url_file and not notification.url_file.is_absolute():
            notification.url_file = folder / notification.url_file
    # sentiment.model is a hub id ("org/name") or a folder: one written as a relative path
    # ('./x', '../x') is always beside the watchlist; for 'org/name' a folder beside it wins
    model = config.sentiment.model
    if model != "builtin" and not Path(model).expanduser().is_absolute():
        if model in (".", "..") or model.startswith(("./", "../", ".\\", "..\\")) or (folder / model).is_dir():
            config.sentiment.model = os.path.normpath(folder / model)
        else:
            config.sentiment._folder_beside = (model, Path(os.path.normpath(folder / model)))


class _MissingEnv(Exception):
    def __init__(self, name: str, location: tuple):
        super().__init__(name)
        self.name = name
        self.location = location


class _BadReference(Exception):
    def __init__(self, problem: str, location: tuple):
        super().__init__(problem)
        self.problem = problem
        self.location = location


def _check_references(value: str, location: tuple) -> None:
    """A reference this file cannot read would stay in the value as written, without a word:
    `database: ${DATA:-mw.db}` would name a file `${DATA:-mw.db}`, `database: $DATA` one `$DATA`."""
    if _at_one_of(location, _VARIABLE_NAME_SETTINGS):
        raise _BadReference(f"{location[-1]} takes the name of an environment variable as it is, "
                            f"e.g. {location[-1]}: MY_VARIABLE (no $, no ${{ }})", location)
    rest = _ENV_REFERENCE.sub("", value)
    malformed = _MALFORMED_REFERENCE.search(rest)
    if malformed:
        raise _BadReference(f"{malformed.group(0)!r} is not an environment variable reference this file "
                            "can read: write ${NAME}, NAME being letters, digits and _ (no default, "
                            "no spaces)", location)
    shell_style = _SHELL_REFERENCE.search(rest)
    if shell_style and _at_one_of(location, _NO_SHELL_REFERENCE):
        name = shell_style.group(0)[1:]
        raise _BadReference(f"to read the environment variable {name}, write ${{{name}}} "
                            f"(with braces), not ${name}", location)


def _at_one_of(location: tuple, patterns: tuple) -> bool:
    """Whether a setting's location is one of these ('*': any list item)."""
    return any(len(pattern) == len(location) and all(p in ("*", part) for p, part in zip(pattern, location))
               for pattern in patterns)


def _in_a_notification(location: tuple) -> bool:
    """Whether a setting is part of a notification target (notifications[i]...)."""
    return location[:1] == ("notifications",)


def _in_a_source(location: tuple) -> bool:
    """Whether a setting is part of a watch's source (watches[i].sources[j]...)."""
    return location[:1] == ("watches",) and location[2:3] == ("sources",)


def _kept_unset(keep_unset: bool | str, location: tuple) -> bool:
    """Whether a `${NAME}` whose variable is unset stays as written at `location` (see load_config)."""
    if keep_unset is True or (keep_unset and _is_a_notification_url(location)):
        return True
    if keep_unset in (KEEP_UNSET_IN_SOURCES, KEEP_UNSET_IN_SOURCES_AND_URLS) and _in_a_source(location):
        return True
    return keep_unset == KEEP_UNSET_IN_SOURCES and _in_a_notification(location)


def _is_a_notification_url(location: tuple) -> bool:
    return len(location) == 3 and location[0] == "notifications" and location[2] == "url"


# notification urls that hold a ${NAME} kept as written (its variable unset when they were read):
# told apart from a URL whose variable's value itself holds '${' (see Notification.unset_variable)
_URLS_WITH_UNSET_VARIABLES: set[str] = set()


class KeptUnset(str):
    """A setting holding a `${NAME}` kept as written: its variable is unset, and the command reading
    the watchlist uses no such setting (see load_config)."""


def _interpolate(value: Any, location: tuple, keep_unset: bool | str = False) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, (*location, k), keep_unset) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*location, i), keep_unset) for i, v in enumerate(value)]
    if isinstance(value, str) and "$${" in value:  # '$${' is a '${' as written (a watch on "${jndi:")
        parts = [_interpolate(part, location, keep_unset) for part in value.split("$${")]
        joined = "${".join(parts)
        return KeptUnset(joined) if any(isinstance(part, KeptUnset) for part in parts) else joined
    if isinstance(value, str) and "$" in value:
        _check_references(value, location)
    if isinstance(value, str) and "${" in value:
        kept: list[str] = []

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name not in os.environ:
                if _kept_unset(keep_unset, location):
                    kept.append(name)
                    return match.group(0)
                raise _MissingEnv(name, location)
            remember_secrets([os.environ[name]])  # hidden in logs and stored errors from now on
            # an env file saved on Windows ends each value in '\r': no URL or token ends so
            return os.environ[name].rstrip("\r\n")
        replaced = _ENV_REFERENCE.sub(replace, value)
        if kept and _is_a_notification_url(location):
            _URLS_WITH_UNSET_VARIABLES.add(replaced)
        if kept:  # told apart from a set variable whose value holds '${' (SourceConfig's interval)
            replaced = KeptUnset(replaced)
        written_as = _WRITTEN_AS.get()
        if written_as is not None and _in_a_notification(location):
            written_as[replaced] = value
        return replaced
    return value


_ORDINARY_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "none"})


def _hide_environment_values(line: str, text: str) -> str:
    """A value that came from ${NAME} may be a secret (a webhook URL, a token): an error line shows
    `${NAME}` in its place."""
    from crawler.source_types import without_password

    for name in sorted(set(_ENV_REFERENCE.findall(text))):
        value = os.environ.get(name, "")
        if value.strip().lower() in _ORDINARY_WORDS:  # no secret, and 'expected true or false' holds them
            continue
        # as quoted too: a value from a Windows env file ends in '\r', which a quoted value shows
        # escaped ('…Tok9\\r'), and the stripped value an error may name alone
        forms = {value, value.strip(), repr(value)[1:-1], repr(value.strip())[1:-1],
                 without_password(value.strip())}  # as an address's error line shows it (source_types)
        for form in sorted(forms, key=len, reverse=True):
            if len(form) >= 4:  # shorter values would replace ordinary characters
                line = line.replace(form, "${" + name + "}")
    return redact(line, paths=False)  # a key=… in a URL written into the file itself


def _yaml_error_line(path: str | Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None and "'\\t'" in problem:
        return f"{path}:{mark.line + 1}:{mark.column + 1}: a tab: indent with spaces, not tabs"
    if mark is not None and "${" in _line_at(mark):
        return (f"{path}:{mark.line + 1}:{mark.column + 1}: YAML syntax error: {problem} (inside {{ }} or "
                "[ ] a ${VARIABLE} must be quoted: \"${VARIABLE}\")")
    if mark is not None:
        return (f"{path}:{mark.line + 1}:{mark.column + 1}: YAML syntax error: {problem} "
                "(check this line's indentation against the lines above it, and quote a value that holds ': ')")
    return f"{path}: YAML syntax error: {problem}"


def _line_at(mark) -> str:
    """The text of the line a YAML error points at ('' when the mark holds no text)."""
    buffer = getattr(mark, "buffer", None)
    if not isinstance(buffer, str):
        return ""
    return buffer.split("\n")[mark.line] if mark.line < buffer.count("\n") + 1 else ""


def _validation_error_line(path: str | Path, node: yaml.Node | None, exc: ValidationError) -> str:
    errors = exc.errors()
    # a misspelt required key ('querry:') is both "unknown" and "missing": the unknown one says why
    first = next((error for error in errors if error["type"] == "extra_forbidden"), errors[0])
    location = tuple(part for part in first["loc"] if not str(part).startswith("function-"))
    field = _dotted(location) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden" and location:
        message = _unknown_setting(location)
    elif first["type"] in ("model_type", "dict_type"):  # pydantic would name the internal class
        given = first.get("input")
        what = "options" if location[-1:] == ("options",) else "settings"
        message = (f"is empty: write its {what} indented below it, or leave it out" if given is None
                   else f"should be {what} (name: value lines), not {type(given).__name__}")
    elif first["type"] == "path_type":  # pydantic would name its internal class
        given = first.get("input")
        message = ("is empty: write a file name, or leave it out" if given is None
                   else f"should be a file name, not {type(given).__name__}")
    elif first["type"] == "list_type":  # `languages: en` for `languages: [en]`
        given = first.get("input")
        shown = "nothing" if given is None else repr(given) if isinstance(given, str) else type(given).__name__
        message = f"should be a list, such as [a, b] (or '- ' lines below it), not {shown}"
    elif first["type"] == "missing" and location:  # pydantic says "Field required"
        message = _missing_setting(location)
    elif first["type"] in ("float_type", "int_type") and isinstance(first.get("input"), bool):
        # `sensitivity: off` was read as 0.0 without a word: still spike alerts, on the largest spikes
        scalar = _deepest_node(node, location)
        written = scalar.value if isinstance(scalar, yaml.ScalarNode) else str(first["input"]).lower()
        read_as = str(first["input"]).lower()
        notes = ([] if written.lower() == read_as else [f"YAML reads a bare {written} as {read_as}"]) + (
            ["to switch alerts off write enabled: false"] if location and location[-1] == "sensitivity" else [])
        message = f"expected a number, got {written}" + (f" ({'; '.join(notes)})" if notes else "")
    elif message.startswith("not a duration: ") and isinstance(first.get("input"), bool):
        # `cooldown: on` said "not a duration: true", a word the file does not hold
        scalar = _deepest_node(node, location)
        written = scalar.value if isinstance(scalar, yaml.ScalarNode) else str(first["input"]).lower()
        message = f"not a duration: {written} (use e.g. 30s, 15m, 1h, 1d)"
    elif first["type"] in ("bool_type", "bool_parsing"):  # as the sources' options say it
        from crawler.source_types import shown_value

        message = f"expected true or false, got {shown_value(first.get('input'))}"
    if first["type"] == "string_type" or message.startswith("YAML reads"):  # text that YAML made true/false
        message = _yaml_truth_hint(node, location, first.get("input")) or message
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{path}:{_line_of(node, location)}: {field}: {message}{suffix}"


def _missing_setting(location: tuple) -> str:
    """What to write for a required setting left out; a source's type lists the types."""
    name = location[-1]
    if name == "type" and "sources" in location:
        from crawler.source_types import SOURCE_TYPES

        return f"is missing: every source needs a type, one of {', '.join(SOURCE_TYPES)}"
    return f"is missing: add a '{name}:' line"


def _refuse_duplicate_keys(path: str | Path, node: yaml.Node | None, _inside: frozenset = frozenset()) -> None:
    """YAML keeps the last of two equal keys without a word; in a watchlist that hides a mistake.
    An alias inside the anchor it names (`a: &x [*x]`) is refused too: it never ends."""
    if id(node) in _inside:
        raise ConfigError(f"{path}:{node.start_mark.line + 1}: an alias (*name) is used inside the anchor "
                          "(&name) it refers to, so this setting would never end")
    _inside = _inside | {id(node)}
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):  # a list or mapping as a key: pydantic refuses it
                continue
            if key.value in seen:
                raise ConfigError(f"{path}:{key.start_mark.line + 1}: {key.value!r} is set twice "
                                  "in the same place (only one would count)")
            seen.add(key.value)
            _refuse_duplicate_keys(path, value, _inside)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(path, item, _inside)


def _unknown_setting(location: tuple) -> str:
    """'unknown setting 'sorces' (did you mean 'sources'?)' for a key the model at that place lacks."""
    name = str(location[-1])
    close = difflib.get_close_matches(name, _settings_at(location[:-1]), n=1)
    return f"unknown setting {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def _settings_at(location: tuple) -> list[str]:
    """The setting names allowed at a place in the watchlist ([] when it cannot tell)."""
    model: type[BaseModel] | None = Config
    for part in location:
        if isinstance(part, int):  # an item of a list: the same model
            continue
        field = model.model_fields.get(str(part))
        model = _model_in(field.annotation) if field is not None else None
        if model is None:
            return []
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The settings model an annotation holds: itself, or inside list[...] / ... | None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _dotted(location: tuple) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line_of(node: yaml.Node | None, location: tuple) -> int:
    """The line in the YAML file of the deepest node on this path (1 when unknown)."""
    deepest = _deepest_node(node, location)
    return deepest.start_mark.line + 1 if deepest is not None else 1


def _deepest_node(node: yaml.Node | None, location: tuple) -> yaml.Node | None:
    """The YAML node at this path, or the deepest one on it that exists."""
    for part in location:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:  # a missing key: the mapping that lacks it
            break
        node = child
    return node


def _yaml_truth_hint(node: yaml.Node | None, location: tuple, given: object) -> str | None:
    """For text that YAML read as true/false or a number (a watch named `on`, a term `No` or `007`):
    the hint to quote it, in the file's own spelling."""
    scalar = _deepest_node(node, location)
    if not isinstance(given, (bool, int, float)) or not isinstance(scalar, yaml.ScalarNode):
        return None
    read_as = str(given).lower() if isinstance(given, bool) else f"the number {given}"
    return f"YAML reads a bare {scalar.value} as {read_as}: put it in quotes ('{scalar.value}') to mean the text"
