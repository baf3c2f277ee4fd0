"""Fixes of the session of 2026-12-07 (twenty-sixth): each test fails without its fix."""
from __future__ import annotations

import pytest

from storage.timeutil import parse_file_timestamp, parse_given_time, parse_timestamp


@pytest.mark.parametrize("written", ["2026-03-05T10:00-1900", "2026-03-05 10:00 +1500", "2026-03-05+15",
                                     "2026-03-05T10:00+23:59", "Thu, 05 Mar 2026 10:00:00 -1900",
                                     "2026-03-05 10:00 GMT+15"])
@pytest.mark.parametrize("parse", [parse_given_time, parse_file_timestamp, parse_timestamp])
def test_an_offset_beyond_fourteen_hours_is_refused_not_read_as_a_moment_a_day_away(parse, written):
    with pytest.raises(ValueError, match=r"at most 14 hours either way, in '"):
        parse(written)


@pytest.mark.parametrize(("written", "stored"), [("2026-03-05T10:00+14:00", "2026-03-04T20:00:00Z"),
                                                 ("2026-03-05T10:00-12:00", "2026-03-05T22:00:00Z"),
                                                 ("Sun, 01 Mar 2015 12:00:00 +1400", "2015-02-28T22:00:00Z")])
def test_the_widest_offsets_in_use_are_still_read(written, stored):
    assert parse_given_time(written) == stored
