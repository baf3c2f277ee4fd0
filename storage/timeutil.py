"""Timestamps: every time stored by mentionwatch is UTC ISO-8601 text, `YYYY-MM-DDTHH:MM:SSZ`.

One fixed-width format means text order is time order, so SQL can compare and bucket times directly.
"""
from __future__ import annotations

import datetime as dt
import re
from email.utils import parsedate_to_datetime

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_STORED_FORM = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

_EXTRA_FORMATS = (
    "%Y-%m-%d %H:%M:%S %z",  # 2015-02-24 11:35:52 -0800 (Twitter exports)
    "%a %b %d %H:%M:%S %z %Y",  # Wed Aug 27 13:08:45 +0000 2008 (Twitter API v1)
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
    "%d/%m/%Y %H:%M",
)


def to_iso(moment: dt.datetime) -> str:
    """Format a datetime as stored text (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    try:
        utc = moment.astimezone(dt.timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+02:00 is before year 1 in UTC
        raise ValueError(f"timestamp {moment.isoformat()} out of range") from None
    # not strftime: on Linux its %Y does not zero-pad years before 1000 ('1-01-01'), which breaks
    # the fixed width that makes text order time order
    return (f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
            f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z")


def parse_timestamp(value: object) -> str:
    """Turn a timestamp from any source into stored text.

    Accepts datetimes, Unix seconds (int/float or digit strings), ISO 8601 (with `Z` or an offset),
    RFC 2822 (RSS) and a few common export formats. Raises ValueError with a short reason otherwise.
    """
    if isinstance(value, str) and _STORED_FORM.fullmatch(value):
        dt.datetime.fromisoformat(value[:-1])  # still rejects impossible dates such as 2024-02-30
        return value
    if isinstance(value, dt.datetime):
        return to_iso(value)
    if isinstance(value, bool) or value is None:
        raise ValueError("missing timestamp")
    if isinstance(value, (int, float)):
        return _from_epoch(float(value))
    text = str(value).strip()
    if not text:
        raise ValueError("empty timestamp")
    if text.lstrip("-").replace(".", "", 1).isdigit():
        return _from_epoch(float(text))
    try:
        iso = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        iso = None
    if iso is not None:
        return to_iso(iso)  # a ValueError here says out of range, not unrecognised
    for fmt in _EXTRA_FORMATS:
        try:
            return to_iso(dt.datetime.strptime(text, fmt))
        except ValueError:
            continue
    try:
        return to_iso(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"unrecognised timestamp {text[:40]!r}") from None


def _from_epoch(seconds: float) -> str:
    if seconds > 1e11:  # milliseconds
        seconds /= 1000.0
    try:
        return to_iso(dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc))
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"timestamp {seconds!r} out of range") from None


def from_iso(text: str) -> dt.datetime:
    """Parse stored text back into an aware UTC datetime."""
    return dt.datetime.strptime(text, ISO_FORMAT).replace(tzinfo=dt.timezone.utc)
