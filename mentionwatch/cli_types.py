"""Click parameter types shared by commands that pass numbers on to SQLite.

SQLite stores integers in 64 bits: a bigger Python int makes the driver raise OverflowError.
Counts and limits are bounded here, so click rejects them with its usual one-line range error.
Row ids are not bounded (a huge id is just an id that does not exist): `fits_sqlite` lets a
command say "no alert with id ..." without ever sending the number to SQLite.
"""
from __future__ import annotations

import click

SQLITE_MAX_INT = 2**63 - 1
SQLITE_MIN_INT = -(2**63)


def count_at_least(minimum: int) -> click.IntRange:
    """A count, limit or threshold from `minimum` up to the largest integer SQLite can store."""
    return click.IntRange(minimum, SQLITE_MAX_INT)


def fits_sqlite(value: int) -> bool:
    """Whether SQLite can take this integer as a parameter."""
    return SQLITE_MIN_INT <= value <= SQLITE_MAX_INT


class RowIdType(click.ParamType):
    """An alert's or a mention's id, also as the tool writes an alert's ('#5'): copied from a
    notification or a list."""

    name = "integer"

    def __init__(self, kind: str):
        self.kind = kind

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().removeprefix("#")
        try:
            return int(text)
        except ValueError:
            self.fail(f"{value!r} is not {self.kind} id (a number such as 5 or #5)", param, ctx)


ALERT_ID = RowIdType("an alert")
MENTION_ID = RowIdType("a mention")


class StoredIdRange(click.IntRange):
    """A mention id from 1 to SQLite's largest integer, also written '#5' as RowIdType takes it (for
    an erasure, where an id out of range is a mistake, not 'no such mention')."""

    name = "integer"  # click's 'not a valid integer range' suggested that '1-3' works

    def __init__(self):
        super().__init__(1, SQLITE_MAX_INT)

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            value = value.strip().removeprefix("#")
        return super().convert(value, param, ctx)


class GivenPath(click.Path):
    """click's Path, refusing an empty value: Path('') is '.', the current folder, so `--db "$DB"`
    with DB unset would be read as a folder ('.: is a folder'), and `backup ''` as one that exists."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("empty (a file or folder name is needed)", param, ctx)
        return super().convert(value, param, ctx)
