"""The source types a watchlist may name, and the options of the API ones, without importing their
pollers or spiders.

The watchlist is checked on every command; importing all the pollers and Scrapy's selectors for
that would cost about half a second. `crawler.pollers.SOURCES` describes each of these types (a test
keeps the two lists, and the option names below and each poller's `options_doc`, in step).
`check_api_options` is what the watchlist runs on a poller's `options`, so a misspelt option or a
bad value is reported when the file is read rather than silently ignored or found at crawl time.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass
from typing import Any

SCRAPY_TYPES = ("reviews", "sitemap")
POLLER_TYPES = ("reddit", "hackernews", "mastodon", "bluesky", "rss", "appstore", "googleplay",
                "stackexchange", "github")
SOURCE_TYPES = POLLER_TYPES + SCRAPY_TYPES


@dataclass(frozen=True)
class Option:
    """What one option of an API source accepts.

    kind: 'text', 'whole' (a whole number from `low` to `high`), 'seconds' (0 or more), 'flag'
    (true/false), 'choice' (one of `choices`), 'digits', 'urls' (one URL or a list of them) or
    'url' (a URL, or a path taken from base_url when one is set), 'strings' (a list of `count` texts),
    'hashtag' (see is_hashtag).
    A 'text' with a `pattern` (a regular expression the whole text must match) is refused otherwise
    as not being `expects`.
    """

    kind: str = "text"
    required: bool = False
    choices: tuple[str, ...] = ()
    low: int = 1
    high: int | None = None
    count: int = 0
    hint: str = ""  # added to the message when the value is wrong
    pattern: str = ""
    expects: str = ""
    quoted: bool = True  # False: a wrong value is not shown (it may be the secret itself)


_QUERY = Option()
# the name of the variable holding a token; a token pasted here instead must not be printed back
# not a GitHub token ('ghp_…'), nor 24 characters or more with a digit and a small letter followed by
# a capital twice (a Mastodon token: 'Zk39aQrealMasto…'; names are written MY_TOKEN, my_token,
# My_Token or myMastodonToken)
_TOKEN_ENV = Option(pattern=r"(?!gh[pousr]_|github_pat_)(?!(?=.{24})(?=.*\d)(?=.*[a-z][A-Z].*[a-z][A-Z]))"
                            r"[A-Za-z_][A-Za-z0-9_]*", quoted=False,
                    expects="the name of the environment variable that holds the token, e.g. "
                            "token_env: MY_INSTANCE_TOKEN (letters, digits and _; no $, "
                            "not the token itself)")
_COUNTRY = Option(pattern=r"[A-Za-z]{2}", expects="a two-letter country code (e.g. us, gb, jp)")
# Reddit's names: letters, digits and _, 2 to 21; 'a+b' reads several, 'all-a-b' all of Reddit but
# those; a leading r/ is left out; empty: all of Reddit
_SUBREDDIT_NAME = r"[A-Za-z0-9_]{2,21}"
_SUBREDDIT = Option(pattern=rf"\s*((?:/?[rR]/)?(?:{_SUBREDDIT_NAME}(?:\+{_SUBREDDIT_NAME})*|all(?:-{_SUBREDDIT_NAME})+)/?)?\s*",
                    expects="a subreddit name: letters, digits and _, 2 to 21 (the name after r/ "
                            "in its address, e.g. sysadmin)")
_HASHTAG = Option("hashtag", expects="a hashtag: letters (at least one), digits and _, no spaces "
                                     "(e.g. acme or #acme)")
_MAX_PAGES = Option("whole")
COMMON_API_OPTIONS = {"min_interval": Option("seconds"), "match_query": Option("flag")}

API_OPTIONS: dict[str, dict[str, Option]] = {
    "reddit": {"subreddit": _SUBREDDIT, "mode": Option("choice", choices=("search", "new", "comments")),
               "query": _QUERY, "limit": Option("whole", high=100), "max_pages": _MAX_PAGES,
               "send_oauth": Option("flag")},
    "hackernews": {"query": _QUERY, "tags": Option(), "max_pages": _MAX_PAGES},
    "mastodon": {"tag": _HASHTAG, "query": _QUERY, "token_env": _TOKEN_ENV, "max_pages": _MAX_PAGES},
    "bluesky": {"query": _QUERY, "lang": Option(), "token_env": _TOKEN_ENV, "max_pages": _MAX_PAGES},
    "rss": {"urls": Option("urls"), "google_news": Option("flag"),
            "google_news_locale": Option("strings", count=3, hint="e.g. [en-GB, GB, 'GB:en']"),
            "query": _QUERY},
    "appstore": {"app_id": Option("digits", required=True,
                                  hint="the number in the app's App Store address, …/id1321994487"),
                 "country": _COUNTRY, "format": Option("choice", choices=("json", "xml")),
                 "max_pages": Option("whole", high=10)},
    "googleplay": {"app_id": Option(pattern=r"[A-Za-z0-9_.]+", expects="a package name: letters, "
                                    "digits, _ and dots, no spaces (e.g. com.example.app)"),
                   "lang": Option(), "country": _COUNTRY, "max_pages": _MAX_PAGES,
                   "html_url": Option("url")},
    "stackexchange": {"site": Option(pattern=r"[a-z0-9.-]+", expects="a site's API name: lower case, "
                                     "no spaces (e.g. stackoverflow, superuser, ru.stackoverflow)"),
                      "query": _QUERY, "token_env": _TOKEN_ENV, "max_pages": _MAX_PAGES},
    "github": {"query": _QUERY, "qualifiers": Option(), "token_env": _TOKEN_ENV, "max_pages": _MAX_PAGES},
}

# a source that needs one of these options given (true, not empty) to have anything to read
NEEDS_ONE_OF: dict[str, tuple[str, ...]] = {
    "rss": ("urls", "google_news"),
    "googleplay": ("app_id", "html_url"),
}


class OptionProblem(ValueError):
    """A bad option: `option` names it (None: the options as a whole), `index` the item of a list
    that is wrong (so the error line gives that item's own line), the message says what is wrong."""

    def __init__(self, option: str | None, message: str, index: int | None = None):
        super().__init__(message)
        self.option = option
        self.index = index

    @property
    def location(self) -> tuple:
        """Where below `options` the problem is: (), (option,) or (option, index)."""
        if self.option is None:
            return ()
        return (self.option,) if self.index is None else (self.option, self.index)


def check_api_options(source_type: str, options: dict[str, Any], has_base_url: bool) -> None:
    """Raise OptionProblem for the first unknown, missing or bad option of an API source."""
    known = {**API_OPTIONS[source_type], **COMMON_API_OPTIONS}
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1)
            raise OptionProblem(name, f"unknown option {name!r} for {source_type}"
                                      + (f" (did you mean {close[0]!r}?)" if close else ""))
    for name, spec in known.items():
        value = options.get(name)
        if value is None:  # left out, or written with no value: the poller's default
            if spec.required:
                raise OptionProblem(None, f"{source_type} needs options.{name}"
                                          + (f" ({spec.hint})" if spec.hint else ""))
            continue
        index, problem = _url_problem(spec, value, has_base_url)
        problem = problem or _value_problem(spec, value)
        if problem:
            raise OptionProblem(name, problem + (f" ({spec.hint})" if spec.hint else ""), index)
    alternatives = NEEDS_ONE_OF.get(source_type, ())
    if alternatives and not any(options.get(name) for name in alternatives):
        given = " or ".join(f"options.{name}" for name in alternatives)
        raise OptionProblem(None, f"{source_type} needs {given}")


# written inside hashtags besides word characters: middle dot (Catalan l·l), katakana middle dot
# (ポケモン・サン), zero-width non-joiner (Persian)
_HASHTAG_JOINERS = {"\u00b7", "\u30fb", "\u200c"}


def is_hashtag(text: str) -> bool:
    """Whether `text` (a leading # aside) is a hashtag as Mastodon reads one: letters, combining marks
    (Hindi, Thai, Arabic vowel signs), digits, connectors such as _ and the joiners above, with at
    least one letter (a tag of digits alone is no hashtag: its timeline would stay empty)."""
    name = text.removeprefix("#")
    categories = [unicodedata.category(character) for character in name]
    return (bool(name) and any(category.startswith("L") for category in categories)
            and all(character in _HASHTAG_JOINERS or category[0] in "LMN" or category == "Pc"
                    for character, category in zip(name, categories)))


def subreddit_name(value: Any) -> str:
    """The subreddit as Reddit's paths take it: 'r/sysadmin' or '/r/sysadmin/' -> 'sysadmin'."""
    name = str(value).strip().strip("/")
    return name[2:] if name[:2] in ("r/", "R/") else name


# 'user:password@' after '//' (or a '/' typed alone), the password with '/', '?' or '#' in it too
# (not 'host:8080/…@')
USER_AND_PASSWORD = re.compile(r"^(\s*[a-z][\w+.-]*:/{1,2})[^/@\s]*:(?!\d*(?:[/?#]|$))[^@\s]*@", re.IGNORECASE)


def without_password(url: str) -> str:
    """The address as an error line may show it: a user:password@ part hidden."""
    return USER_AND_PASSWORD.sub(r"\1[redacted]@", url)


def http_url_problem(url: Any) -> str | None:
    """Why this is not an absolute http(s) URL, or None when it is one."""
    try:
        parsed = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parsed = None
    shown = without_password(url) if isinstance(url, str) else url
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname or \
            any(c.isspace() for c in url):
        return f"not an http(s) URL: {shown!r} (write it whole, starting with http:// or https://)"
    try:
        port = parsed.port
    except ValueError:  # out of range, or not a number
        port = 0
    if port == 0:
        return f"bad port in {shown!r} (a port is a number from 1 to 65535)"
    return None


def _url_problem(spec: Option, value: Any, has_base_url: bool) -> tuple[int | None, str | None]:
    """(the position of the first bad URL in a list, or None; what is wrong with it, or None)."""
    if spec.kind not in ("url", "urls"):
        return None, None
    if spec.kind == "urls" and isinstance(value, list):
        for index, url in enumerate(value):
            problem = _url_or_path_problem(url, has_base_url)
            if problem:
                return index, problem
        return None, None
    return None, _url_or_path_problem(value, has_base_url)


def _value_problem(spec: Option, value: Any) -> str | None:
    """What is wrong with an option's value (URLs aside: see _url_problem), or None."""
    if spec.kind == "text":
        # a bare `no` or `on` in YAML is a boolean, not the text the user meant
        if isinstance(value, (bool, list, dict)):
            return f"expected text, got {shown_value(value)} (put it in quotes)"
        if spec.pattern and not re.fullmatch(spec.pattern, str(value)):
            return f"expected {spec.expects}" + (f", got {shown_value(value)}" if spec.quoted else "")
    elif spec.kind == "whole":
        number = int(value) if _is_whole(value) else None
        if number is None or number < spec.low or (spec.high is not None and number > spec.high):
            limits = (f"from {spec.low} to {spec.high}" if spec.high is not None
                      else f"of {spec.low} or more")
            return f"expected a whole number {limits}, got {shown_value(value)}"
    elif spec.kind == "seconds":
        if isinstance(value, bool) or not _is_number(value) or float(value) < 0:
            return f"expected seconds (0 or more), got {shown_value(value)}"
    elif spec.kind == "flag":
        if not isinstance(value, bool):
            return f"expected true or false, got {shown_value(value)}"
    elif spec.kind == "choice":
        if value not in spec.choices:
            return f"expected one of {', '.join(spec.choices)}, got {shown_value(value)}"
    elif spec.kind == "digits":
        if isinstance(value, bool) or not str(value).strip().isdigit():
            return f"expected digits only, got {shown_value(value)}"
    elif spec.kind == "hashtag":
        if isinstance(value, (bool, list, dict)) or not is_hashtag(str(value)):
            return f"expected {spec.expects}, got {shown_value(value)}"
    elif spec.kind == "strings":
        if not (isinstance(value, list) and len(value) == spec.count
                and all(isinstance(v, str) for v in value)):
            return f"expected a list of {spec.count} texts, got {shown_value(value)}"
    return None


def _url_or_path_problem(url: Any, has_base_url: bool) -> str | None:
    """A path ('/feed.xml') is read from base_url; without one only a whole http(s) URL will do."""
    if isinstance(url, str) and has_base_url and "://" not in url and url.strip() and \
            not any(c.isspace() for c in url):
        return None
    return http_url_problem(url)


def _is_whole(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())


def _is_number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def shown_value(value: Any) -> str:
    """A value as the user wrote it in YAML: true/false in lower case, text quoted (also used for the
    Scrapy sources' options, so both kinds of source word a bad value alike)."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "nothing"
    return repr(value)


def settings_key(source_cfg, options: dict | None = None) -> str:
    """8 hex digits that stay the same while the source's base_url and options do (the service's job
    ids use it, so does source_label; cursors hash only the options that say what is read).
    base_url and options count as written (`${TOKEN}`, not the token), so a new token keeps the
    source's key."""
    base_url = getattr(source_cfg, "written_base_url", source_cfg.base_url)
    if options is None:
        options = getattr(source_cfg, "written_options", source_cfg.options)
    settings = json.dumps({"base_url": base_url, "options": options},
                          sort_keys=True, default=str)
    return hashlib.sha1(settings.encode()).hexdigest()[:8]


def source_label(watch, source_cfg) -> str:
    """How crawl runs name a source: its type, or, when the watch has several of that type, the
    type and its settings key (`rss#3f9a21c0`), so `crawl` and `status` tell them apart and a run's
    history stays with its source when another one is removed or the list is reordered."""
    if sum(1 for other in watch.sources if other.type == source_cfg.type) < 2:
        return source_cfg.type
    return f"{source_cfg.type}#{settings_key(source_cfg)}"
