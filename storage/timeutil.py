"""Timestamps: every time stored by mentionwatch is UTC ISO-8601 text, `YYYY-MM-DDTHH:MM:SSZ`.

One fixed-width format means text order is time order, so SQL can compare and bucket times directly.
`parse_timestamp` reads what collectors meet; `parse_given_time` what is typed on the command line;
`parse_file_timestamp` reads a file's column for `mentionwatch import`, where it refuses to guess: an unknown zone name or a slash date that reads
both day-first and month-first is an error, not a time that may be hours or months off.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from email.utils import parsedate_to_datetime

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_STORED_FORM = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
DATE_ORDERS = ("dmy", "mdy")

_EXTRA_FORMATS = (
    "%Y-%m-%d %H:%M:%S %z",  # 2015-02-24 11:35:52 -0800 (Twitter exports)
    "%a %b %d %H:%M:%S %z %Y",  # Wed Aug 27 13:08:45 +0000 2008 (Twitter API v1)
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
    "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y",  # 24 Feb 2015, February 24, 2015: the month is a word
    "%d-%b-%Y", "%d-%b-%Y %H:%M", "%d-%b-%Y %H:%M:%S",  # 01-Dec-2026 (Meltwater's exports, Oracle's dates)
    "%d %b %Y %H:%M", "%d %B %Y %H:%M", "%d %b %Y %H:%M:%S", "%d %B %Y %H:%M:%S",
)
_DAY_FIRST_FORMAT = "%d/%m/%Y %H:%M"  # what parse_timestamp has always read; files say their order

def _or_list(words: list[str]) -> str:
    """'a, b or c'."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def ambiguous_zone_places(name: str, quoted: bool = False) -> str:
    """The places an ambiguous abbreviation may mean: 'America/Chicago or Asia/Shanghai', or quoted
    with what each is: "'America/Chicago' (US Central) or 'Asia/Shanghai' (China)"."""
    meanings = _AMBIGUOUS_PLACES[name.upper()]
    if quoted:
        return _or_list([f"{place!r} ({what})" for place, what in meanings])
    return _or_list([place for place, _what in meanings])


# Zone names with one meaning, as UTC offsets. RFC 2822's US names are here too; names with
# several meanings (IST: India, Ireland or Israel; CST: US Central or China) are refused.
ZONE_OFFSETS = {
    "UT": "+0000", "UTC": "+0000", "GMT": "+0000", "WET": "+0000", "WEST": "+0100",
    "BST": "+0100", "CET": "+0100", "CEST": "+0200", "MEZ": "+0100", "MESZ": "+0200",
    "EET": "+0200", "EEST": "+0300", "MSK": "+0300", "JST": "+0900", "KST": "+0900",
    "HKT": "+0800", "SGT": "+0800", "AEST": "+1000", "AEDT": "+1100", "NZST": "+1200",
    "NZDT": "+1300", "EST": "-0500", "EDT": "-0400", "CDT": "-0500", "MST": "-0700",
    "MDT": "-0600", "PST": "-0800", "PDT": "-0700", "AKST": "-0900", "AKDT": "-0800",
    "HST": "-1000",
}
# a place that keeps each of them: what to write where a place is needed (alerts.timezone)
ZONE_PLACES = {
    "WET": "Europe/Lisbon", "WEST": "Europe/Lisbon", "BST": "Europe/London", "CET": "Europe/Paris",
    "CEST": "Europe/Paris", "MEZ": "Europe/Berlin", "MESZ": "Europe/Berlin", "EET": "Europe/Athens",
    "EEST": "Europe/Athens", "MSK": "Europe/Moscow", "JST": "Asia/Tokyo", "KST": "Asia/Seoul",
    "HKT": "Asia/Hong_Kong", "SGT": "Asia/Singapore", "AEST": "Australia/Sydney", "AEDT": "Australia/Sydney",
    "NZST": "Pacific/Auckland", "NZDT": "Pacific/Auckland", "EST": "America/New_York", "EDT": "America/New_York",
    "CDT": "America/Chicago", "MST": "America/Denver", "MDT": "America/Denver", "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles", "AKST": "America/Anchorage", "AKDT": "America/Anchorage",
    "HST": "Pacific/Honolulu",
}
# names with several meanings: (place, what it is) for each
_AMBIGUOUS_PLACES = {
    "IST": (("Asia/Kolkata", "India"), ("Europe/Dublin", "Ireland"), ("Asia/Jerusalem", "Israel")),
    "CST": (("America/Chicago", "US Central"), ("Asia/Shanghai", "China")),
    "AST": (("America/Halifax", "Atlantic"), ("Asia/Riyadh", "Arabia")),
    "ADT": (("America/Halifax", "Atlantic"), ("Asia/Riyadh", "Arabia")),
}
AMBIGUOUS_ZONES = {name: _or_list([what for _place, what in meanings])
                   for name, meanings in _AMBIGUOUS_PLACES.items()}  # 'IST': 'India, Ireland or Israel'
_RFC_ZONES = {"UT", "UTC", "GMT", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT", "AST",
              "ADT"}  # email.utils knows these: collectors' dates keep reading them as it does
# an offset as people write it after a time: GMT+1, UTC-5, +01, +05:30, GMT+01:00 (email.utils
# reads only +HHMM: +1 would be one minute, +05:30 dropped and taken as UTC)
_WRITTEN_OFFSET = re.compile(r"(?<![\w:+-])(?:GMT|UTC|UT)?([+-])(\d{1,2})(?::?(\d\d))?(?![\w:])")
_ZONE_NAME = re.compile(r"(?<![\w+-])([A-Z]{2,5})(?![\w])")
# a time written with the name of UTC after it ('2026-03-05 14:02:00 UTC', as database exports write
# it): the name says what a time without a zone means anyway, so it is read without it
_UTC_NAME_AT_END = re.compile(r"(?<=\S)\s+(?:UTC|GMT|UT)$", re.IGNORECASE)
_NOT_ZONES = {"AM", "PM", "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
              "NOV", "DEC", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"}
# JavaScript's Date.toString(): Thu Mar 05 2026 14:02:00 GMT+0100 (Central European Standard Time)
_JAVASCRIPT_FORM = re.compile(r"(\w{3} \w{3} \d\d \d{4} \d\d:\d\d:\d\d) GMT([+-]\d{4})(?: \(.*\))?")
# 05/03/2026, 3/5/26 2:02 PM, 05-03-2026 14:02:33, 05.03.2026 14:02 (dots: always day first)
_NUMERIC_DATE = re.compile(
    r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d\d)"
    r"(?:[ T]+(\d{1,2}):(\d\d)(?::(\d\d)(?:\.\d+)?)?(?:\s*([AaPp])\.?[Mm]\.?)?)?")
# the half of the day in Chinese (上午, 下午) and Japanese (午前, 午後), before or after the time
_CJK_HALF_DAY = "(上午|下午|午前|午後|午后|早上|凌晨|中午|晚上)"
_AFTERNOON = ("下午", "午後", "午后", "晚上")  # 晚上8点 is 20:00; 中午1点 is 13:00 (see _year_first_date)
# the hours each half of the day is written with (others: 0-12); 早上 is the morning, 晚上 the evening
_HOURS_WITH = {"早上": range(4, 12), "中午": (11, 12, 1, 2), "晚上": range(6, 12)}
# year first: 2015/2/17, 2015/02/17 10:00, 2015.02.17 (Chinese and Japanese spreadsheets write dates
# so); and 2015年2月17日 10:00, 2015年2月17日(火) 14時05分, 14时05分30秒, 10点05分, 下午3点, 下午3点半,
# 晚上8:00, 凌晨2:00, 午後2時05分, 2:05 午後, 午前0:30.
# Year, month, day: nobody writes year, day, month
_YEAR_FIRST_DATE = re.compile(
    r"(\d{4})(?:([/.])(\d{1,2})\2(\d{1,2})|年(\d{1,2})月(\d{1,2})日)(?:\s*[(（][^)）]{1,3}[)）])?"
    rf"(?:[ T]*{_CJK_HALF_DAY}?\s*(\d{{1,2}})(?:[:：](\d\d)(?:[:：](\d\d)(?:\.\d+)?)?|[時时点點](?:(\d{{1,2}})分(?:(\d{{1,2}})秒)?|(半))?)"
    rf"\s*{_CJK_HALF_DAY}?(?:\s*([+-]\d{{4}}))?)?")
# Excel stores a date as days since 1899-12-30: 32874 is 1990-01-01, 73051 is 2100-01-01
_EXCEL_DAYS = (32874, 73051)


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
    return _parse(value, strict=False, date_order=None)


def parse_file_timestamp(value: object, date_order: str | None = None, zone: dt.tzinfo | None = None) -> str:
    """Like parse_timestamp, for a column of an imported file, guessing nothing: a zone name
    must have one meaning ('CET', never 'IST'), a numeric date like 03/05/2026 needs
    `date_order` ('dmy' or 'mdy') unless only one order makes a date, and a number that
    looks like an Excel date (46086.58) is refused with a hint. No zone means `zone` (None: UTC)."""
    return _parse(value, strict=True, date_order=date_order, zone=zone)


def parse_given_time(value: object) -> str:
    """A time typed on the command line (--since, --before, --at): read as parse_timestamp reads
    it, except that a numeric date is never guessed: 25/03/2026 is read (one order alone makes a
    date), 03/05/2026 is refused, as `import` refuses it without --date-order; so are a two-digit
    year (24-03-01 may be year first) and such a date followed by anything but a time (or UTC).
    A zone may follow the time: a place (2026-12-01 09:00 America/New_York, daylight saving
    followed) or an abbreviation with one meaning (PST is UTC-8 as written; CST is refused)."""
    if not isinstance(value, str):
        return parse_timestamp(value)  # a datetime or Unix seconds: one moment, nothing to guess
    text = _UTC_NAME_AT_END.sub("", value.strip())
    zoned = _ZONE_AT_END.fullmatch(text)
    if zoned and "/" in zoned["zone"]:
        return _given_in_zone(zoned["time"], zoned["zone"], text)
    if zoned and (zoned["zone"].upper() in ZONE_OFFSETS or zoned["zone"].upper() in AMBIGUOUS_ZONES):
        try:  # an e-mail date ('Tue, 17 Feb 2015 10:00:00 CST') keeps RFC 2822's reading of its zone
            return _given_without_zone(text)
        except ValueError:
            return _given_in_zone(zoned["time"], zoned["zone"], text)
    return _given_without_zone(text)


def _given_without_zone(text: str) -> str:
    numeric = _NUMERIC_DATE.match(text)
    if numeric is None:
        return parse_timestamp(text)
    if len(numeric[4]) != 4:
        raise ValueError(f"{text[:40]!r}: write the year in full, or the date as YYYY-MM-DD")
    if numeric.end() != len(text):
        raise ValueError(f"{text[:40]!r} is not read: write it as YYYY-MM-DD HH:MM (UTC), or with an "
                         "offset, such as 2026-03-05T14:02:00+01:00")
    return to_iso(_numeric_date(numeric, None, text, ambiguous_hint="write the date as YYYY-MM-DD"))


# a time typed with a zone after it: '2026-12-01 09:00 America/New_York', '2026-12-01 09:00 PST'
_ZONE_AT_END = re.compile(r"(?P<time>.*?\d.*?)\s+(?P<zone>[A-Za-z][A-Za-z_]*(?:/[A-Za-z0-9_+-]+)*)")
_OFFSET_AT_END = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$", re.IGNORECASE)


def _given_in_zone(time_text: str, zone_name: str, shown: str) -> str:
    """A wall-clock time in a named zone: a place (America/New_York, its summer time followed) or an
    abbreviation with one meaning (PST: UTC-8, as written)."""
    if carries_zone(time_text):
        raise ValueError(f"{shown[:60]!r} has two time zones or offsets: give one of them")
    if is_compact_date(time_text):  # 20150222 America/New_York: that day's midnight there
        time_text = _compact_date(float(time_text.strip()))[:10]
    elif time_text.strip().lstrip("-").replace(".", "", 1).isdigit():
        raise ValueError(f"{shown[:60]!r}: Unix seconds are the same moment in every zone: leave out the zone")
    if zone_name.upper() in AMBIGUOUS_ZONES:
        raise ValueError(f"time zone {zone_name!r} is ambiguous ({AMBIGUOUS_ZONES[zone_name.upper()]}): "
                         f"write the place, e.g. {ambiguous_zone_places(zone_name)}")
    wall_clock = dt.datetime.fromisoformat(_given_without_zone(time_text)[:-1])  # as if UTC: no zone yet
    if zone_name.upper() in ZONE_OFFSETS:
        offset = ZONE_OFFSETS[zone_name.upper()]
        zone = dt.timezone(int(offset[0] + "1") * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:])))
        return to_iso(wall_clock.replace(tzinfo=zone))
    return to_iso(_one_moment(wall_clock, _place(zone_name), shown))


def carries_zone(time_text: str) -> bool:
    """Whether a time already ends with a zone or an offset ('10:00 PST', '10:00+01:00', '10:00Z')."""
    words = time_text.split()
    last = words[-1].upper() if words else ""
    if last in ZONE_OFFSETS or last in AMBIGUOUS_ZONES or last in _RFC_ZONES or _OFFSET_AT_END.search(last):
        return True
    if _DATE_WITH_OFFSET.fullmatch(last):  # '2026-03-05+10': midnight at that offset
        return True
    return bool(re.search(r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z|(?:GMT|UTC|UT)?[+-]\d{1,2}(?::?\d\d)?)$",
                          time_text.strip(), re.IGNORECASE))


def _one_moment(wall_clock: dt.datetime, zone: dt.tzinfo, shown: str) -> dt.datetime:
    """The moment a wall-clock time names in `zone`: refused when the clocks skipped it (spring)
    or passed it twice (autumn), naming what to write instead."""
    first, second = wall_clock.replace(tzinfo=zone, fold=0), wall_clock.replace(tzinfo=zone, fold=1)
    back_on_the_wall = first.astimezone(dt.timezone.utc).astimezone(zone).replace(tzinfo=None)
    if back_on_the_wall != wall_clock:
        raise ValueError(f"{shown[:60]!r} did not happen: the clocks skipped it (daylight saving); "
                         "give an hour later, or an offset")
    if first.utcoffset() != second.utcoffset():
        readings = " or ".join(f"{to_iso(moment)} ({moment.tzname()})" for moment in (first, second))
        raise ValueError(f"{shown[:60]!r} happened twice, as the clocks went back: {readings}; "
                         f"give the offset, e.g. {first.isoformat()}")
    return first


def _place(name: str) -> dt.tzinfo:
    """The IANA zone of that name, whatever its case; a one-line error naming a close one."""
    import difflib
    import zoneinfo

    zones = _zones_by_folded_name()
    found = zones.get(name.casefold())
    if found is None:
        close = difflib.get_close_matches(name.casefold(), list(zones), n=1)
        hint = f" (did you mean {zones[close[0]]!r}?)" if close else ": write a place such as Europe/Paris"
        raise ValueError(f"unknown time zone {name!r}{hint}")
    return zoneinfo.ZoneInfo(found)


@functools.cache
def _zones_by_folded_name() -> dict[str, str]:
    import zoneinfo

    return {zone.casefold(): zone for zone in zoneinfo.available_timezones()}  # a walk of the zone files: once


def _parse(value: object, strict: bool, date_order: str | None, zone: dt.tzinfo | None = None) -> str:
    if isinstance(value, str) and _STORED_FORM.fullmatch(value):
        dt.datetime.fromisoformat(value[:-1])  # still rejects impossible dates such as 2024-02-30
        return value
    if isinstance(value, dt.datetime):
        return to_iso(value)
    if isinstance(value, bool) or value is None:
        raise ValueError("missing timestamp")
    if isinstance(value, (int, float)):
        return _from_number(float(value), strict, zone=zone)
    text = str(value).strip()
    if not text:
        raise ValueError("empty timestamp")
    if zone is not None and _written_with_zone(text):  # its own zone or offset: no other applies
        zone = None
    written, text = text, _UTC_NAME_AT_END.sub("", _FULL_WIDTH_COLON.sub(":", text))
    text = _SPACE_BEFORE_OFFSET.sub(r"\1\2", _ZONE_AFTER_OFFSET.sub(r"\1", text))
    if text.lstrip("-").replace(".", "", 1).isdigit():
        return _from_number(float(text), strict, text, zone)
    try:
        return _from_text(text, strict, date_order, zone=zone)
    except _OffsetOutOfRange:  # '10:00 -1900' is no place's time: a mistyped offset, or a year
        raise ValueError(f"a UTC offset is at most 14 hours either way, in {written[:40]!r}") from None


_FULL_WIDTH_COLON = re.compile(r"(?<=\d)：(?=\d)")  # '10：00', as Chinese and Japanese input methods type it
# Java's and Ruby's '2015-02-24 11:35:52.000 -0800': a fraction of a second, a space, the offset
_SPACE_BEFORE_OFFSET = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\.\d+)\s+([+-]\d\d:?\d\d)$")
# Java's ZonedDateTime '2015-02-24T10:00:00+01:00[Europe/Paris]': the offset says when it was
_ZONE_AFTER_OFFSET = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d))"
                                r"\[[A-Za-z][A-Za-z0-9_/+-]*\]$", re.IGNORECASE)


class _OffsetOutOfRange(ValueError):
    """A time read with an offset beyond ±14:00, which no time zone has."""


_LARGEST_OFFSET = dt.timedelta(hours=14)


_ZONE_NAMES = frozenset({*ZONE_OFFSETS, *AMBIGUOUS_ZONES, *_RFC_ZONES})
_DATE_WITH_OFFSET = re.compile(r"(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}(?::?\d{2})?)", re.IGNORECASE)
_OFFSET_IN_TEXT = re.compile(
    r"\dZ\b"  # 2026-03-05T10:00Z, 2026-03-05Z
    r"|(?:^|\s)[+-]\d{4}\b"  # RFC 2822 and Twitter: ... 11:35:52 -0800 2015, -0000
    r"|(?:\d{4}-\d{2}-\d{2}|\d:\d\d(?::\d\d(?:\.\d+)?)?)\s*[+-]\d{1,2}(?::?\d{2})?\b",  # 10:00+01:00, 2026-03-05+01:00
    re.IGNORECASE)


def _offset_with_colon(offset: str) -> str:
    """'Z', '+01', '+0100' or '+01:00' as fromisoformat reads them all: '+00:00', '+01', '+01:00'."""
    offset = offset.upper().replace("Z", "+00:00")
    return offset if ":" in offset or len(offset) == 3 else f"{offset[:3]}:{offset[3:]}"


def _written_with_zone(text: str) -> bool:
    """Whether a time names its zone or offset anywhere (`--timezone` is for the times that do
    not): an offset, a Z, or a zone name (GMT-0000, CET, '(CET)')."""
    if _OFFSET_IN_TEXT.search(text):
        return True
    return any(word.strip("()[],").upper() in _ZONE_NAMES for word in re.split(r"[\s+-]+", text))


def _stored_in(zone: dt.tzinfo | None, moment: dt.datetime) -> str:
    """`moment` as stored text; one without a zone is a wall-clock time in `zone` (None: UTC). A
    time the clocks skipped or passed twice is read with the offset before the change (fold 0)."""
    if moment.tzinfo is None and zone is not None:
        moment = moment.replace(tzinfo=zone)
    offset = moment.utcoffset()
    if offset is not None and abs(offset) > _LARGEST_OFFSET:
        raise _OffsetOutOfRange()
    return to_iso(moment)


def _from_text(text: str, strict: bool, date_order: str | None, shown: str | None = None,
               zone: dt.tzinfo | None = None) -> str:
    """`shown`: the text as written, when `text` is it with its zone name made an offset; `zone`:
    where a time written without a zone or offset is (None: UTC)."""
    _refuse_offset_minutes_over_59(text, shown or text)
    dated = _DATE_WITH_OFFSET.fullmatch(text)
    if dated:  # Python 3.11 reads '2026-03-05+01:00' as 01:00 without a zone
        shown = shown or text  # an error names the time as written
        text = f"{dated[1]}T00:00:00{_offset_with_colon(dated[2])}"
    try:
        iso = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        iso = None
    if iso is not None:
        return _stored_in(zone, iso)  # a ValueError here says out of range, not unrecognised
    year_first = _YEAR_FIRST_DATE.fullmatch(text)
    if year_first:
        return _stored_in(zone, _year_first_date(year_first, shown or text))
    javascript = _JAVASCRIPT_FORM.fullmatch(text)
    if javascript:
        return _stored_in(zone, dt.datetime.strptime(f"{javascript[1]} {javascript[2]}", "%a %b %d %Y %H:%M:%S %z"))
    if shown is None and not (strict and _NUMERIC_DATE.fullmatch(text)):
        # read word by word: 2:02 PM as 14:02 (email.utils would drop the PM); in a file's dates
        # also 'cet' as 'CET'
        written = _twenty_four_hour(text, text)
        written = _upper_zone_names(written) if strict else written
        if written != text:
            return _from_text(_zone_name_as_offset(_offsets_as_hhmm(written), strict), strict,
                              date_order, shown=text, zone=zone)
    if shown is None:
        with_offset = _zone_name_as_offset(_offsets_as_hhmm(text), strict)
        if with_offset != text:
            return _from_text(with_offset, strict, date_order, shown=text, zone=zone)
    numeric = _NUMERIC_DATE.fullmatch(text) if strict else None
    if numeric:
        return _stored_in(zone, _numeric_date(numeric, date_order, shown or text))
    for fmt in _EXTRA_FORMATS if strict else (*_EXTRA_FORMATS, _DAY_FIRST_FORMAT):
        try:
            moment = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return _stored_in(zone, moment)
    if strict and any(character.isdigit() for character in text):  # a date with a word it cannot read
        _refuse_unread_words(text, shown or text)
    # email.utils would take an offset ('24 Feb 2015 +05:30') or a year for a time of day
    if not _TIME_OF_DAY.search(text) and (strict or re.search(r"\d:\d\d", text)):
        raise ValueError(f"unrecognised timestamp {(shown or text)[:40]!r}")
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"unrecognised timestamp {(shown or text)[:40]!r}") from None
    return _stored_in(zone, moment)


# hh:mm not part of an offset ('+05:30' is none: email.utils read '24 Feb 2015 +05:30' as 05:30)
_TIME_OF_DAY = re.compile(r"(?<![+-])(?<![+-]\d)\d:\d\d")
# an offset whose minutes are 60 or more (fromisoformat reads +01:60 as +02:00)
_OFFSET_MINUTES_OVER_59 = re.compile(r"(?:\d|T|Z|\s)[+-]\d{2}:?[6-9]\d(?!\d)", re.IGNORECASE)


def _refuse_offset_minutes_over_59(text: str, shown: str) -> None:
    if _OFFSET_MINUTES_OVER_59.search(text):
        raise ValueError(f"a UTC offset's minutes go up to 59, in {shown[:40]!r}")


_HALF_DAY_TIME = re.compile(r"\b(\d{1,2}):(\d\d)(?::(\d\d))?\s*([AaPp])\.?[Mm]\.?(?![A-Za-z])")
_WORD = re.compile(r"[A-Za-z]+(?:/[A-Za-z_]+)*")
# words a date may hold besides a zone name: months and days, in full or cut short
_DATE_WORDS = {"JAN", "JANUARY", "FEB", "FEBRUARY", "MAR", "MARCH", "APR", "APRIL", "MAY", "JUN", "JUNE",
               "JUL", "JULY", "AUG", "AUGUST", "SEP", "SEPT", "SEPTEMBER", "OCT", "OCTOBER", "NOV",
               "NOVEMBER", "DEC", "DECEMBER", "MON", "MONDAY", "TUE", "TUES", "TUESDAY", "WED",
               "WEDNESDAY", "THU", "THUR", "THURS", "THURSDAY", "FRI", "FRIDAY", "SAT", "SATURDAY",
               "SUN", "SUNDAY", "T", "Z", "GMT", "UTC", "UT"}


def _offsets_as_hhmm(text: str) -> str:
    """'GMT+1' -> '+0100', '+05:30' -> '+0530': offsets after a time, in the form email.utils reads.
    Only after a time of day (hh:mm), so that a date's own dashes are never taken for one."""
    time_of_day = re.search(r"\d:\d\d", text)
    if not time_of_day:
        return text
    head, tail = text[:time_of_day.end()], text[time_of_day.end():]
    return head + _WRITTEN_OFFSET.sub(
        lambda match: f"{match[1]}{int(match[2]):02d}{match[3] or '00'}", tail)


def _twenty_four_hour(text: str, shown: str) -> str:
    """'2:02 PM' -> '14:02:00' (email.utils and strptime would drop the PM, 12 hours off)."""
    def replaced(match: re.Match) -> str:
        hour = _hour_of_day(int(match[1]), match[4], shown)
        return f"{hour:02d}:{match[2]}:{match[3] or '00'}"
    return _HALF_DAY_TIME.sub(replaced, text)


def _upper_zone_names(text: str) -> str:
    """'cet' or 'Cet' -> 'CET', so a zone name is read whatever its case."""
    known = ZONE_OFFSETS.keys() | AMBIGUOUS_ZONES.keys()
    return _WORD.sub(lambda match: match[0].upper() if match[0].upper() in known else match[0], text)


def _refuse_unread_words(text: str, shown: str) -> None:
    """A word the date's formats do not read ('Europe/Berlin', a zone name nobody knows) would be
    dropped, and the time taken as UTC: refused instead."""
    for word in _WORD.findall(text):
        if word.upper() not in _DATE_WORDS:
            raise ValueError(f"unknown time zone or word {word!r} in {shown[:40]!r}: give a UTC offset "
                             "such as +0100")


def _zone_name_as_offset(text: str, strict: bool) -> str:
    """`text` with its zone name ('CET') written as an offset ('+0100'). Collectors' dates keep
    what email.utils makes of RFC 2822's names and of unknown ones; a file's (strict) must
    name a zone with one meaning."""
    match = next((found for found in _ZONE_NAME.finditer(text)
                  if found[1] not in _NOT_ZONES and found[1] not in _DATE_WORDS), None)
    if not match:
        return text
    name = match[1]
    if not strict and (name in _RFC_ZONES or name not in ZONE_OFFSETS):
        return text
    if name in AMBIGUOUS_ZONES:
        raise ValueError(f"time zone {name!r} is ambiguous ({AMBIGUOUS_ZONES[name]}): "
                         "give a UTC offset such as +0100")
    if name not in ZONE_OFFSETS:
        raise ValueError(f"unknown time zone {name!r}: give a UTC offset such as +0100")
    # a file's '2026-03-05+10 EST' names two zones; an e-mail's '+1000 (EST)' names its offset and
    # a comment (older Australian mailers wrote EST for their eastern time): the offset counts
    comment = text[match.start() - 1:match.start()] == "(" and text[match.end():match.end() + 1] == ")"
    written = _written_offset_minutes(text) if strict and not comment else None
    if written is not None and written != _written_offset_minutes(f"00:00 {ZONE_OFFSETS[name]}"):
        raise ValueError(f"{text[:40]!r} has two time zones or offsets ({name} is {ZONE_OFFSETS[name]}): "
                         "give one of them")
    return f"{text[:match.start()]}{ZONE_OFFSETS[name]}{text[match.end():]}"


def _written_offset_minutes(text: str) -> int | None:
    """The UTC offset written in `text` ('2026-03-05+10', '10:00 +0100', '10:00Z'), in minutes; None
    without one."""
    found = _OFFSET_IN_TEXT.search(text)
    if not found:
        return None
    offset = re.search(r"([+-])(\d{1,2})(?::?(\d{2}))?$", found[0].strip())
    if not offset:  # a Z
        return 0
    minutes = int(offset[2]) * 60 + int(offset[3] or 0)
    return -minutes if offset[1] == "-" else minutes


def _numeric_date(match: re.Match, date_order: str | None, text: str,
                  ambiguous_hint: str = "give --date-order dmy or mdy") -> dt.datetime:
    """03/05/2026 14:02, 3/5/26 2:02 PM: day and month in `date_order`; with none given, only a
    date that one order alone can read (25/03/2026). Dots are always day first (05.03.2026)."""
    first, separator, second, year, hour, minute, second_, half = match.groups()
    if separator == ".":
        date_order = "dmy"
    orders = [date_order] if date_order else [
        order for order in DATE_ORDERS if _valid_day_month(first, second, order)]
    if len(orders) > 1 and int(first) == int(second):  # 01/01/2026: either order, the same date
        orders = orders[:1]
    if len(orders) > 1:
        raise ValueError(f"{text[:40]!r} may be day/month or month/day: {ambiguous_hint}")
    if not date_order and len(year) == 2 and _valid_day_month(year, second, "dmy"):
        # 24-03-01 reads as 24 March 2001, and as 2024-03-01 written year first
        raise ValueError(f"{text[:40]!r} may also be year/month/day: give --date-order dmy or mdy, or write "
                         "the year in full")
    order = orders[0] if orders else date_order or "dmy"
    day, month = (first, second) if order == "dmy" else (second, first)
    hours = _hour_of_day(int(hour or 0), half, text)
    try:
        return dt.datetime(_full_year(year), int(month), int(day), hours, int(minute or 0),
                           int(second_ or 0))
    except ValueError:
        layout = "day/month/year" if order == "dmy" else "month/day/year"
        raise ValueError(f"{text[:40]!r} is not a date read as {layout}") from None


def _year_first_date(match: re.Match, text: str) -> dt.datetime:
    (year, _separator, month, day, cjk_month, cjk_day, half_before, hour, minute, second, cjk_minute,
     cjk_second, half_past, half_after, offset) = match.groups()
    zone = dt.datetime.strptime(offset, "%z").tzinfo if offset else None
    hour_of_day = int(hour or 0)
    half = half_before or half_after
    if half and hour_of_day not in _HOURS_WITH.get(half, range(13)):
        # 午前0:30 is how phones write half past midnight; 晚上12点 or 晚上1点 may be either night
        raise ValueError(f"{text[:40]!r}: hour {hour_of_day} with {half}")
    if half == "中午":  # around noon: 中午12点 is 12:00, 中午1点 13:00
        hour_of_day += 12 if hour_of_day <= 2 else 0
    elif half:
        hour_of_day = hour_of_day % 12 + (12 if half in _AFTERNOON else 0)
    minute_of_hour = 30 if half_past else int(minute or cjk_minute or 0)  # 3点半: half past three
    try:
        return dt.datetime(int(year), int(month or cjk_month), int(day or cjk_day), hour_of_day,
                           minute_of_hour, int(second or cjk_second or 0), tzinfo=zone)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a date read as year/month/day") from None


def _valid_day_month(first: str, second: str, order: str) -> bool:
    day, month = (int(first), int(second)) if order == "dmy" else (int(second), int(first))
    return 1 <= month <= 12 and 1 <= day <= 31


def _hour_of_day(hour: int, half: str | None, text: str) -> int:
    if not half:
        return hour
    if not 1 <= hour <= 12:
        raise ValueError(f"{text[:40]!r}: hour {hour} with AM/PM")
    return hour % 12 + (12 if half in "Pp" else 0)


def _full_year(year: str) -> int:
    """2026 for '26': a two-digit year is in this century (dates before 1990 are refused anyway)."""
    return int(year) + 2000 if len(year) == 2 else int(year)


def _from_number(seconds: float, strict: bool = False, text: str | None = None,
                 zone: dt.tzinfo | None = None) -> str:
    compact = _compact_date(seconds, zone)
    if compact is not None:
        return compact
    if strict and _EXCEL_DAYS[0] <= seconds <= _EXCEL_DAYS[1]:
        raise ValueError(f"{text or seconds} looks like an Excel date number: format the column as "
                         "a date (or give Unix seconds)")
    return _from_epoch(seconds)


_COMPACT_DATES = (19900101, 21001231)  # eight digits read as a date (YYYYMMDD), not as Unix seconds


def is_compact_date(text: str) -> bool:
    """Whether `text` is read as a date without dashes (20150222): eight digits from 19900101 to
    21001231, as the time parsers read them (20151340 too, which they then refuse as no date)."""
    text = text.strip()
    return len(text) == 8 and text.isdigit() and _COMPACT_DATES[0] <= int(text) <= _COMPACT_DATES[1]


def _compact_date(number: float, zone: dt.tzinfo | None = None) -> str | None:
    """20261201 as 2026-12-01 (its midnight in `zone`, None: UTC): eight digits that make a date
    from 1990 on. As Unix seconds they would be a time in 1970-1973, before any mention this tool
    stores (storage.mentions.EARLIEST_CREATED_AT)."""
    if not (_COMPACT_DATES[0] <= number <= _COMPACT_DATES[1]) or number != int(number):
        return None
    try:
        return _stored_in(zone, dt.datetime.strptime(str(int(number)), "%Y%m%d"))
    except ValueError:
        raise ValueError(f"{int(number)} is no date: read as YYYYMMDD, its month or day is out of range") from None


def _from_epoch(seconds: float) -> str:
    if seconds > 1e11:  # milliseconds
        seconds /= 1000.0
    try:
        return to_iso(dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc))
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"timestamp {seconds!r} out of range") from None


def from_iso(text: str) -> dt.datetime:
    """Parse stored text back into an aware UTC datetime."""
    if len(text) == 20 and text[10] == "T" and text[19] == "Z":  # the stored form: read 50x faster
        try:  # than strptime, which detection pays for each of a watch's mentions
            return dt.datetime.fromisoformat(text)
        except ValueError:
            pass  # strptime's error, below
    return dt.datetime.strptime(text, ISO_FORMAT).replace(tzinfo=dt.timezone.utc)
