"""Times typed on the command line with a time zone after them (--since, --until, --before, --at):
a place, with its daylight saving, or an abbreviation that has one meaning (walkthrough 8: a team
in New York had to work out the UTC time of its own morning)."""
from __future__ import annotations

import pytest

from storage.timeutil import parse_given_time


@pytest.mark.parametrize("written, stored", [
    ("2026-12-01 09:00 America/New_York", "2026-12-01T14:00:00Z"),  # winter: UTC-5
    ("2026-07-01 09:00 America/New_York", "2026-07-01T13:00:00Z"),  # summer: UTC-4
    ("2026-12-01 09:00 america/new_york", "2026-12-01T14:00:00Z"),  # any case
    ("2026-12-01 America/New_York", "2026-12-01T05:00:00Z"),  # a date: its local midnight
    ("2026-12-01 9:00 PM Asia/Tokyo", "2026-12-01T12:00:00Z"),
    ("25/03/2026 Europe/Paris", "2026-03-24T23:00:00Z"),
    ("2026-12-01 09:00 PST", "2026-12-01T17:00:00Z"),  # an abbreviation is the offset it names
    ("2026-07-01 09:00 pdt", "2026-07-01T16:00:00Z"),
    ("2026-12-01 09:00 UTC", "2026-12-01T09:00:00Z"),
    ("2026-12-01T09:00:00-05:00", "2026-12-01T14:00:00Z"),  # as before: an offset
])
def test_a_time_in_a_named_zone_is_stored_in_utc(written, stored):
    assert parse_given_time(written) == stored


@pytest.mark.parametrize("written, says", [
    ("2026-12-01 09:00 CST", "'CST' is ambiguous (US Central or China): write the place, e.g. America/Chicago"),
    ("2026-12-01 09:00 America/NewYork", "unknown time zone 'America/NewYork' (did you mean 'America/New_York'?)"),
    ("2026-12-01T09:00+01:00 Europe/Paris", "has two time zones or offsets"),
    ("1424419200 Europe/Paris", "Unix seconds are the same moment in every zone"),
])
def test_a_zone_that_cannot_be_read_is_named(written, says):
    with pytest.raises(ValueError) as refused:
        parse_given_time(written)
    assert says in str(refused.value)


def test_search_since_takes_a_place(cli, tmp_path):
    from storage import Mention, open_db, save_mentions

    db = open_db(tmp_path / "z.db")
    save_mentions(db, [Mention("reddit", "early", "acme at dawn", "2026-12-01T13:30:00Z"),
                       Mention("reddit", "late", "acme after nine in New York", "2026-12-01T14:30:00Z")])
    db.close()
    result = cli("--db", tmp_path / "z.db", "search", "acme", "--since", "2026-12-01 09:00 America/New_York")
    assert result.exit_code == 0, result.output
    assert "after nine" in result.stdout and "dawn" not in result.stdout
    refused = cli("--db", tmp_path / "z.db", "search", "acme", "--since", "2026-12-01 09:00 IST")
    assert refused.exit_code == 2
    assert "write the place, e.g. Asia/Kolkata, Europe/Dublin or Asia/Jerusalem" in refused.stderr
    assert "Traceback" not in refused.output


def test_the_whole_day_hint_keeps_the_zone_the_date_was_given_in(cli, tmp_path):
    from storage import open_db

    open_db(tmp_path / "z.db").close()
    since = "2024-03-02 09:00 America/New_York"
    refused = cli("--db", tmp_path / "z.db", "export", "--since", since, "--until", "2024-03-02 America/New_York",
                  "--out", tmp_path / "d.csv")
    assert refused.exit_code == 2
    assert refused.stderr.strip().endswith(
        "use --until '2024-03-03 America/New_York' for the whole of 2024-03-02)"), refused.stderr
    # the next day's midnight in New York (05:00Z) is past --since (14:00Z): that is the whole day
    whole_day = cli("--db", tmp_path / "z.db", "export", "--since", since, "--until", "2024-03-03 America/New_York",
                    "--out", tmp_path / "d.csv")
    assert whole_day.exit_code == 0, whole_day.output


@pytest.mark.parametrize("written", ["2015-02-17 10:00 EST EST", "2015-02-17 10:00 PST Europe/Paris",
                                     "2015-02-17 10:00 GMT+1 Europe/Paris", "2015-02-17 10:00 UTC PST",
                                     "2015-02-17T10:00:00Z Europe/Paris"])
def test_two_zones_are_refused_not_added_up(written):
    """Review: the time before the zone was read with its own zone, and the two shifts added up."""
    with pytest.raises(ValueError, match="two time zones or offsets"):
        parse_given_time(written)


@pytest.mark.parametrize("written, stored", [
    ("Tue, 17 Feb 2015 10:00:00 CST", "2015-02-17T16:00:00Z"),  # RFC 2822: CST is US Central
    ("Tue, 17 Feb 2015 10:00:00 -0500 EST", "2015-02-17T15:00:00Z"),
])
def test_e_mail_dates_keep_their_reading(written, stored):
    assert parse_given_time(written) == stored


def test_a_time_the_clocks_skipped_or_passed_twice_is_refused_with_the_readings():
    with pytest.raises(ValueError, match="did not happen: the clocks skipped it"):
        parse_given_time("2026-03-08 02:30 America/New_York")
    with pytest.raises(ValueError) as twice:
        parse_given_time("2026-11-01 01:30 America/New_York")
    assert "2026-11-01T05:30:00Z (EDT) or 2026-11-01T06:30:00Z (EST)" in str(twice.value)
    assert "e.g. 2026-11-01T01:30:00-04:00" in str(twice.value)


def test_a_fraction_of_a_second_is_rounded_up_with_a_zone_too():
    from mentionwatch.triage.query import parse_time_limit

    assert parse_time_limit("2015-02-17 10:00:00.5 Europe/Paris") == "2015-02-17T09:00:01Z"


def test_each_abbreviation_s_place_keeps_its_offset_in_winter_or_summer():
    """The place `alerts.timezone` is pointed to for an abbreviation is one where it is the time."""
    import datetime as dt
    import zoneinfo

    from storage.timeutil import ZONE_OFFSETS, ZONE_PLACES

    for name, place in ZONE_PLACES.items():
        offsets = {dt.datetime(2026, month, 15, 12, tzinfo=zoneinfo.ZoneInfo(place)).strftime("%z")
                   for month in (1, 7)}
        assert ZONE_OFFSETS[name] in offsets, (name, place, offsets)
    assert set(ZONE_PLACES) == set(ZONE_OFFSETS) - {"UT", "UTC", "GMT"}

