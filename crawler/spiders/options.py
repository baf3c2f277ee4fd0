"""The watchlist options of the Scrapy-based sources (`reviews`, `sitemap`), checked with pydantic.

A selector is CSS by default (Scrapy's `::text` and `::attr(name)` work) or XPath when written with
an `xpath:` prefix. Field selectors are read inside one review (the `item` selector); the others
(`item`, `next_page`) on the whole page. A bad option is an `OptionsError`: one line naming the
field (and the item, in a list of URLs or patterns), with its place for the watchlist's error line.
"""
from __future__ import annotations

import datetime as dt
import difflib
import re
from typing import Annotated, Any

from cssselect import SelectorError
from lxml import etree
from parsel import Selector
from parsel.csstranslator import HTMLTranslator
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from crawler.dates import has_year
from crawler.source_types import USER_AND_PASSWORD, http_url_problem, shown_value

XPATH_PREFIX = "xpath:"
_css_translator = HTMLTranslator()


# a selector is tried once on this, so an XPath naming an unknown function or variable (which
# compiles) is reported when the watchlist is read, not on every crawl
_TINY_PAGE = "<html><body><div><p>x</p></div></body></html>"


def check_selector(selector: str) -> str:
    """Compile a CSS or `xpath:` selector and apply it once, so a typo is reported before any
    crawl."""
    selector = selector.strip()
    if not selector:
        raise ValueError("empty selector")
    try:
        if selector.startswith(XPATH_PREFIX):
            xpath = selector[len(XPATH_PREFIX):].strip()
            etree.XPath(xpath)
            Selector(text=_TINY_PAGE).xpath(xpath)
        else:
            _css_translator.css_to_xpath(selector)
    except (SelectorError, etree.XPathSyntaxError) as exc:
        raise ValueError(f"invalid selector {selector!r}: {exc}") from None
    except ValueError as exc:  # parsel's 'XPath error: Unregistered function in foo(.)'
        reason = str(exc).removeprefix("XPath error: ").split(" in ")[0]
        raise ValueError(f"invalid selector {selector!r}: {reason}") from None
    return selector


_BAD_DIRECTIVE = re.compile(r"^'(.*)' is a bad directive in format")


def check_date_format(date_format: str) -> str:
    """A strptime format with a directive strptime does not know (`%Q`), a lone `%` at its end, no
    directive at all (`dd/mm/yyyy`), or neither a year nor a month (`%H:%M`) would make every date
    it should read unreadable: refused. One without a year is read as
    `crawler.dates.read_with_format` says."""
    try:
        dt.datetime.strptime("", date_format)
    except ValueError as exc:
        bad = _BAD_DIRECTIVE.match(str(exc))
        if bad:
            raise ValueError(f"invalid date_format {date_format!r}: %{bad.group(1)} is not a strptime "
                             "directive (use e.g. '%d %B %Y'; write %% for a % sign)") from None
        if str(exc).startswith("stray %"):
            raise ValueError(f"invalid date_format {date_format!r}: a lone % at its end (write %% for "
                             "a % sign)") from None
    if not re.search(r"%[^%]", date_format.replace("%%", "")):
        raise ValueError(f"invalid date_format {date_format!r}: it has no % directive, so it can "
                         "read no date (write it as strptime does, e.g. '%d/%m/%Y')")
    if not (has_year(date_format) or re.search(r"%[mbBhj]", date_format.replace("%%", ""))):
        raise ValueError(f"invalid date_format {date_format!r}: it has neither a year nor a month, "
                         "so it can read no date (e.g. '%d %B %H:%M')")
    return date_format


def _check_url(url: str) -> str:
    if _has_user_info(url):  # said without the address: what is before the @ may be a password
        raise ValueError("an address with a user name or password before its host (user:password@): the "
                         "web spiders cannot send them (Scrapy refuses such an address); leave them out")
    problem = http_url_problem(url)
    if problem:
        raise ValueError(problem)
    return url


def _has_user_info(url: str) -> bool:
    """Whether the address holds a user name or password: an '@' before its path (user@host), or
    a 'user:password@' whose password holds '/', '?' or '#' (then the '@' seems to be in the path;
    a port followed by a path, 'host:8080/@user', is not one)."""
    authority = url.split("//", 1)[-1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return "@" in authority or USER_AND_PASSWORD.search(url) is not None


def _check_pattern(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return pattern


def _one_or_list(value: Any) -> Any:
    """A single text is a list of one (`start_urls: https://…/page1`), as rss `urls` takes it."""
    return [value] if isinstance(value, str) else value


# checked one by one, so an error's location names the item (and the watchlist gives its line)
Urls = Annotated[list[Annotated[str, AfterValidator(_check_url)]], BeforeValidator(_one_or_list)]
Patterns = Annotated[list[Annotated[str, AfterValidator(_check_pattern)]], BeforeValidator(_one_or_list)]


class OptionsError(ValueError):
    """Bad options of a Scrapy source. str(): the one line, e.g. 'options.start_urls[1]: not an
    http(s) URL: ...'; `location` (below `options`) and `message` let the watchlist place it."""

    def __init__(self, location: tuple, message: str):
        super().__init__(f"{dotted(('options', *location))}: {message}")
        self.location = location
        self.message = message


class FieldSelectors(BaseModel):
    """Where each field of a mention is on the page (shared by both spiders)."""

    model_config = ConfigDict(extra="forbid")

    item: str | None = Field(default=None, description="one review / post on a page")
    text: str | None = Field(default=None, description="its text; all matching text is joined")
    title: str | None = Field(default=None, description="its title, if it has one")
    author: str | None = Field(default=None, description="who wrote it")
    date: str | None = Field(default=None, description="when (ISO, RFC 2822 or date_format)")
    date_format: str | None = Field(default=None,
                                    description="strptime format for dates that are not ISO/RFC, "
                                                "e.g. '%d %B %Y' (tried first; ISO/RFC dates are "
                                                "still read); without a year ('%d %B'), the latest "
                                                "such date that is not after tomorrow")
    rating: str | None = Field(default=None, description="stars; the first number found is kept "
                                                         "('★★★☆☆' only: the filled stars)")
    rating_out_of: float | None = Field(default=None, gt=0,
                                        description="the site's top rating when it is not 5 stars "
                                                    "(10, or 100 for a percentage): turned into stars")
    url: str | None = Field(default=None, description="permalink; else page URL + #index")
    id: str | None = Field(default=None, description="stable id on the site; else a hash")
    lang: str | None = Field(default=None,
                             description="language code for every item; else the page's lang")
    min_interval: float | None = Field(default=None, ge=0, le=600,
                                       description="seconds between two requests to the site")
    match_query: bool = Field(default=True, strict=True,
                              description="false: keep every item (the watch's languages still "
                                          "apply), e.g. all reviews of your own product")

    @field_validator("item", "text", "title", "author", "date", "rating", "url", "id")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return None if value is None else check_selector(value)

    @field_validator("date_format")
    @classmethod
    def _date_format_reads(cls, value: str | None) -> str | None:
        return None if value is None else check_date_format(value)


class ReviewOptions(FieldSelectors):
    """`type: reviews`: listing pages of a review site or forum, followed through `next_page`."""

    start_urls: Urls = Field(min_length=1, description="first listing page(s)")
    item: str = Field(description="one review / post on a page")
    text: str = Field(description="its text; all matching text is joined")
    date: str | None = Field(default=None,
                             description="when (ISO, RFC 2822 or date_format); without it, or where "
                                         "it matches nothing, the time the page was fetched")
    next_page: str | None = Field(default=None, description="link to the next listing page")
    max_pages: int = Field(default=50, ge=1, le=10_000, description="listing pages per start URL")
    stop_at_known: bool = Field(default=True, strict=True,
                                description="stop paging after a page whose last two reviews an "
                                            "earlier crawl of this listing read")

    _next = field_validator("next_page")(
        lambda value: None if value is None else check_selector(value))


class SitemapOptions(FieldSelectors):
    """`type: sitemap`: pages listed in sitemaps (or robots.txt, or RSS/Atom feeds), one mention
    per page unless `item` selects several."""

    sitemap_urls: Urls = Field(min_length=1,
                               description="sitemap.xml, robots.txt or RSS/Atom feed URLs")
    follow: Patterns = Field(default_factory=list,
                             description="regular expressions; only matching page URLs are crawled")
    date: str | None = Field(default=None,
                             description="when (ISO, RFC 2822 or date_format); failing that, the date "
                                         "the sitemap or feed gives, else the time the page was fetched")
    max_pages: int = Field(default=200, ge=1, le=100_000, description="pages crawled per run")
    skip_known: bool = Field(default=True, strict=True,
                             description="do not fetch again a page already stored for this "
                                         "watch, or found not to match it at the date the "
                                         "sitemap gives now (page mode)")


OPTION_MODELS: dict[str, type[FieldSelectors]] = {"reviews": ReviewOptions, "sitemap": SitemapOptions}


def option_descriptions(source_type: str) -> dict[str, str]:
    """Each option of a Scrapy source with its description, as `mentionwatch sources` prints it:
    '[required]' after a required one (as the API sources write it), else its default if any."""
    described = {}
    for name, info in OPTION_MODELS[source_type].model_fields.items():
        text = info.description or ""
        default = info.get_default(call_default_factory=True)
        if info.is_required():
            text = f"{text} [required]"
        elif default not in (None, [], ""):
            text = f"{text} (default {_yaml_value(default)})"
        described[name] = text
    return described


def _yaml_value(value: Any) -> str:
    """A default as the watchlist writes it: `true`, not Python's `True`."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def parse_options(source_type: str, options: dict[str, Any]) -> FieldSelectors:
    """Validated options of a Scrapy source; OptionsError (a ValueError) naming the field."""
    model = OPTION_MODELS.get(source_type)
    if model is None:
        raise ValueError(f"{source_type!r} is not a Scrapy source (use one of {', '.join(OPTION_MODELS)})")
    try:
        return model.model_validate(options or {})
    except ValidationError as exc:
        raise options_error(exc, source_type, options) from None


def options_error(exc: ValidationError, source_type: str, options: dict | None = None) -> OptionsError:
    """The first problem, worded as the API sources' options are ('options.nextpage: unknown option
    'nextpage' for reviews (did you mean 'next_page'?)'), and how many more there are."""
    errors = exc.errors()
    first = errors[0]
    location = _as_written(tuple(first["loc"]), options or {})
    message = _option_message(first, OPTION_MODELS[source_type], source_type)
    others = len(errors) - 1
    missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing" and len(e["loc"]) == 1]
    if first["type"] == "missing" and len(missing) > 1:  # every required option left out, in one line
        message = (f"{source_type} needs " + ", ".join(f"options.{name}" for name in missing[:-1])
                   + f" and options.{missing[-1]}")
        others -= len(missing) - 1
    more = f" (and {others} more)" if others else ""
    return OptionsError(location, f"{message}{more}")


def _option_message(error: dict, model: type[FieldSelectors], source_type: str) -> str:
    """One pydantic problem of a Scrapy source's options in the words `check_api_options` uses."""
    kind, location, value = error["type"], tuple(error["loc"]), error.get("input")
    name = str(location[0]) if location else ""
    field = model.model_fields.get(name)
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(name, list(model.model_fields), n=1)
        return f"unknown option {name!r} for {source_type}" + \
            (f" (did you mean {close[0]!r}?)" if close else "")
    if kind == "missing" and field is not None:
        return f"{source_type} needs options.{name}" + \
            (f" ({field.description})" if field.description else "")
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {shown_value(value)}"
    if field is not None and (kind.startswith(("int_", "float_")) or kind in _BOUNDS):
        return f"expected {_number_wanted(name, field)}, got {shown_value(value)}"
    if kind == "string_type":
        return f"expected text, got {shown_value(value)}" + \
            (" (put it in quotes)" if isinstance(value, bool) else "")
    if kind == "list_type":  # one text is taken as a list of one (see _one_or_list)
        return f"expected a list, got {shown_value(value)}"
    if kind == "too_short":
        return f"expected at least one {'URL' if name.endswith('urls') else 'item'}, got an empty list"
    return error["msg"].removeprefix("Value error, ")


def _as_written(location: tuple, options: dict) -> tuple:
    """('start_urls', 0) -> ('start_urls',) when start_urls was written as one text, not a list."""
    if len(location) == 2 and location[1] == 0 and isinstance(options.get(location[0]), str):
        return location[:1]
    return location


_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _number_wanted(name: str, field) -> str:
    """'a whole number from 1 to 10000', 'seconds from 0 to 600', 'a number more than 0'."""
    whole = field.annotation is int
    low = high = None
    above = False
    for rule in field.metadata:
        if getattr(rule, "ge", None) is not None:
            low = rule.ge
        elif getattr(rule, "gt", None) is not None:
            low, above = rule.gt, True
        if getattr(rule, "le", None) is not None:
            high = rule.le
    noun = "a whole number" if whole else ("seconds" if name == "min_interval" else "a number")
    if low is not None and high is not None:
        return f"{noun} from {low:g} to {high:g}"
    if low is not None:
        return f"{noun} more than {low:g}" if above else f"{noun} of {low:g} or more"
    return noun


def first_problem(exc: ValidationError) -> tuple[tuple, str]:
    """The location and message of a validation error's first problem, without pydantic's
    'Value error, ' prefix, and how many more there are: (('item',), 'Field required (and 1 more)')."""
    errors = exc.errors()
    first = errors[0]
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return tuple(first["loc"]), f"{message}{more}"


def dotted(location: tuple) -> str:
    """('options', 'start_urls', 1) -> 'options.start_urls[1]'."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location).lstrip(".")
