"""Time-bucketed series of a watch's mentions, read from the database.

For one watch (and optionally one source) it counts, per bucket, the mentions whose stored score
from one sentiment model is negative, all scored mentions, and the negative share. Buckets are
aligned on multiples of the bucket size since the Unix epoch, so hourly buckets start on the hour.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from storage.timeutil import from_iso


@dataclass
class Series:
    """Counts per bucket; bucket i covers [start + i*bucket, start + (i+1)*bucket)."""

    watch: str
    source: str | None
    start: dt.datetime
    bucket_seconds: float
    negative: np.ndarray
    total: np.ndarray
    ends_at: dt.datetime | None = None  # where the data ends (the run's time); None: the last bucket's end
    # the watch has older mentions than `start` that were left out: the series starts mid-history,
    # so a bucket may be judged only once its whole baseline lies inside it (see alerts.detect)
    history_cut: bool = False

    @property
    def negative_share(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.total > 0, self.negative / np.maximum(self.total, 1), 0.0)

    def bucket_start(self, index: int) -> dt.datetime:
        return self.start + dt.timedelta(seconds=index * self.bucket_seconds)

    def bucket_end(self, index: int) -> dt.datetime:
        return self.bucket_start(index + 1)

    def known_at(self, index: int) -> dt.datetime:
        """When a run first sees the bucket: its end, or the run's time while the bucket is still filling."""
        end = self.bucket_end(index)
        return min(end, self.ends_at) if self.ends_at else end

    def __len__(self) -> int:
        return len(self.negative)


def floor_to_bucket(moment: dt.datetime, bucket_seconds: float, zone_offset: float = 0.0) -> dt.datetime:
    """The start of the bucket holding `moment`. Buckets are laid out from midnight at `zone_offset`
    seconds east of UTC, so that with a time zone a day bucket is a local day (see zone_offset)."""
    local = moment.timestamp() + zone_offset
    return dt.datetime.fromtimestamp(local - local % bucket_seconds - zone_offset, tz=dt.timezone.utc)


def zone_offset(time_zone: str) -> float:
    """The zone's standard offset from UTC in seconds (the smaller of its January and July offsets
    this year, daylight saving left out): one fixed layout of buckets all year, so that an alert's
    window does not move when the clocks change. A day bucket in America/New_York runs from 05:00 UTC, midnight
    in winter and 01:00 in summer; in UTC, or with a one-hour bucket in a zone a whole number of
    hours from UTC, nothing changes."""
    if time_zone == "UTC":
        return 0.0
    zone = ZoneInfo(time_zone)
    year = dt.date.today().year  # the zone's rules of today: some zones moved since (Istanbul, 2016)
    return min(dt.datetime(year, month, 1, tzinfo=zone).utcoffset().total_seconds() for month in (1, 7))


def scored_rows(db, watch: str, model_id: str, since: str | None = None, until: str | None = None,
                source: str | None = None) -> list[tuple[str, str, str]]:
    """(created_at, source, label) of the watch's mentions scored by `model_id`, oldest first."""
    # `+s.model_id`: no index on it, so SQLite starts from the watch's links. With one model stored,
    # starting from the scores index walked every score of every watch, each detect (24 s on 2.2M)
    sql = ["SELECT m.created_at, m.source, s.label FROM mention_watches w",
           "JOIN mentions m ON m.id = w.mention_id",
           "JOIN scores s ON s.mention_id = m.id AND +s.model_id = ?",
           "WHERE w.watch = ?"]
    params: list = [model_id, watch]
    for clause, value in (("m.created_at >= ?", since), ("m.created_at < ?", until), ("m.source = ?", source)):
        if value is not None:
            sql.append("AND " + clause)
            params.append(value)
    sql.append("ORDER BY m.created_at")
    return db.execute(" ".join(sql), params).fetchall()


def build_series(rows: list[tuple[str, str, str]], watch: str, bucket_seconds: float,
                 until: dt.datetime, source: str | None = None, start: dt.datetime | None = None,
                 time_zone: str = "UTC") -> Series:
    """Count rows (created_at, source, label) into buckets from the first row (or `start`) to `until`,
    buckets laid out in `time_zone` (see zone_offset)."""
    if source is not None:
        rows = [row for row in rows if row[1] == source]
    first = start or (from_iso(rows[0][0]) if rows else until)
    start_bucket = floor_to_bucket(first, bucket_seconds, zone_offset(time_zone))
    length = max(1, int((until - start_bucket).total_seconds() // bucket_seconds) + 1)
    negative = np.zeros(length)
    total = np.zeros(length)
    origin = start_bucket.timestamp()
    for created_at, _source, label in rows:
        index = int((from_iso(created_at).timestamp() - origin) // bucket_seconds)
        if 0 <= index < length:
            total[index] += 1
            if label == "negative":
                negative[index] += 1
    return Series(watch, source, start_bucket, bucket_seconds, negative, total)
