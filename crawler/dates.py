"""Reading a scraped item's date: with the source's `date_format` (a strptime format) first, then
the usual ISO/RFC forms. Shared by the pipeline, which stores the date, and the spiders, which
compare it with a stored one.
"""
from __future__ import annotations

import datetime as dt
import re

from storage import parse_timestamp, to_iso
from storage.mentions import latest_allowed_created_at


def has_year(date_format: str) -> bool:
    """Whether a strptime format reads the year (%c and %x hold one)."""
    return re.search(r"%[YyGcx]", date_format.replace("%%", "")) is not None


# W3C's year and year-month dates ('2024', '2024-05'): parse_timestamp would read '2024' as Unix seconds
# (valid in a sitemap's <lastmod> and a <time datetime>)
YEAR_OR_MONTH = re.compile(r"\d{4}(?:-\d{2})?")


def first_day_if_year_or_month(text: str) -> str:
    """'2024' -> '2024-01-01', '2024-05' -> '2024-05-01'; any other text as it is."""
    return f"{text}-01-01"[:10] if YEAR_OR_MONTH.fullmatch(text) else text


def item_created_at(raw, date_format: str | None):
    """`date_format` first, then the usual ISO/RFC forms: a site may mix both (a `datetime`
    attribute on some reviews, "3 May 2024" on others). Neither: ValueError. A year alone, or a
    year and month, is its first day."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ValueError("created_at: missing")
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if not date_format:
        return first_day_if_year_or_month(text)
    try:
        return read_with_format(text, date_format)
    except ValueError:
        pass
    try:
        return parse_timestamp(first_day_if_year_or_month(text))
    except ValueError:
        raise ValueError(f"created_at: {text[:40]!r} matches neither date_format {date_format!r} "
                         f"nor an ISO/RFC date") from None


def stored_date(raw, date_format: str | None) -> str | None:
    """An item's date as storage keeps it, or None when it cannot be read."""
    try:
        return parse_timestamp(item_created_at(raw, date_format))
    except ValueError:
        return None


def read_with_format(text: str, date_format: str) -> dt.datetime:
    """`strptime`; a format without a year (forums write '3 May') gives the latest such date that
    storage accepts: this year's, or last year's when this year's is still to come (after tomorrow).
    strptime alone would take 1900, a date storage refuses."""
    if has_year(date_format):
        return dt.datetime.strptime(text, date_format)
    latest = latest_allowed_created_at()
    this_year = int(latest[:4])
    # read in each year back from this one: '29 Feb' needs a leap year, and a day of the year
    # (%j) is another date in one (day 61 is 1 March, or 2 March in a leap year)
    for year in range(this_year, this_year - 9, -1):
        try:
            dated = dt.datetime.strptime(f"{text}|{year}", f"{date_format}|%Y")
        except ValueError:
            continue
        if dated.year == year and to_iso(dated) <= latest:
            return dated
    raise ValueError(f"no year makes {text[:40]!r} a past date")
