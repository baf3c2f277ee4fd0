"""Erasures made after a backup was taken, carried into the copy of it that `restore` puts back.

A backup still holds the posts of every erasure (`mentionwatch forget`) made after it: restored as
it is, it would bring back posts that someone asked to have erased. The database it replaces knows
what was erased since: its erasure log goes on past the backup's, and the backup's posts it no
longer holds are exactly the ones erased since (nothing else deletes a stored post). `find` works
that out from the two files, read-only; `carry_into` erases those posts again in the copy, before
it takes the database's place, and copies the log entries with what they keep out, so that the
next crawl or import does not store them again either.

When the replaced database cannot be read (a damaged one, the usual reason to restore), or does not
descend from the backup, nothing can be carried, and `restore` says so.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from storage.erasure import Selection, erase, lowest_new_mention_id

_ERASURE_COLUMNS = ("at", "actor", "what", "mentions", "highest_mention_id", "created_before")


@dataclass
class LaterErasures:
    """What the replaced database erased after the backup was taken."""

    log: list[dict] = field(default_factory=list)  # its erasure log entries beyond the backup's
    kept_out: list[tuple[str, str, int]] = field(default_factory=list)  # (key, kind, erasure id) of those
    mention_ids: list[int] = field(default_factory=list)  # the backup's posts it no longer holds
    unreadable: str | None = None  # why the replaced database could not be read: nothing is known
    unrelated: str | None = None  # why it does not look like the backup's later state: nothing is carried

    @property
    def carried(self) -> bool:
        return bool(self.log) and not (self.unreadable or self.unrelated)


def find(backup: Path, replaced: Path) -> LaterErasures:
    """The erasures `replaced` records beyond `backup`'s, and the backup's posts they erased."""
    try:
        old, new = _read_only(backup), _read_only(replaced)
    except sqlite3.Error as exc:
        return LaterErasures(unreadable=str(exc))
    try:
        return _compared(old, new)
    except sqlite3.DatabaseError as exc:
        return LaterErasures(unreadable=str(exc))
    finally:
        old.close()
        new.close()


def _read_only(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    return connection


def _compared(backup: sqlite3.Connection, replaced: sqlite3.Connection) -> LaterErasures:
    if not _has_table(replaced, "erasures"):
        return LaterErasures()
    backup_log = _has_table(backup, "erasures") and backup.execute(
        "SELECT id, at FROM erasures ORDER BY id DESC LIMIT 1").fetchone()
    if backup_log:
        same_entry = replaced.execute("SELECT at FROM erasures WHERE id = ?", [backup_log["id"]]).fetchone()
        if same_entry is None or same_entry["at"] != backup_log["at"]:
            return LaterErasures(unrelated="its erasure log does not go on from the backup's")
    after = backup_log["id"] if backup_log else 0
    log = [dict(row) for row in replaced.execute("SELECT * FROM erasures WHERE id > ? ORDER BY id", [after])]
    if not log:
        return LaterErasures()
    kept_out = [tuple(row) for row in replaced.execute(
        "SELECT key, kind, erasure_id FROM forgotten WHERE erasure_id > ?", [after])]
    later = LaterErasures(log=log, kept_out=kept_out)
    later.mention_ids, others = _gone_from(backup, replaced)
    if others:
        later.unrelated = f"it holds other posts than the backup's under {others} of their ids"
    elif len(later.mention_ids) > sum(entry["mentions"] for entry in log):
        later.unrelated = (f"{len(later.mention_ids)} of the backup's posts are missing from it, more than "
                           "its erasures since the backup removed")
    return later


def _gone_from(backup: sqlite3.Connection, replaced: sqlite3.Connection) -> tuple[list[int], int]:
    """The backup's mention ids that `replaced` no longer holds (of those it could have held), and
    under how many of the others it holds another post (a stored post's source and id never
    change). Both are read in id order, side by side, so memory grows with what is gone, not with
    the database."""
    highest = lowest_new_mention_id(replaced)
    ours = backup.execute("SELECT id, source, external_id FROM mentions WHERE id <= ? ORDER BY id", [highest])
    theirs = replaced.execute("SELECT id, source, external_id FROM mentions ORDER BY id")
    gone, others = [], 0
    their_row = theirs.fetchone()
    for row in ours:
        while their_row is not None and their_row[0] < row[0]:
            their_row = theirs.fetchone()
        if their_row is None or their_row[0] != row[0]:
            gone.append(row[0])
        elif tuple(their_row) != tuple(row):
            others += 1
    return gone, others


def _has_table(connection: sqlite3.Connection, table: str) -> bool:
    return connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                              [table]).fetchone() is not None


def carry_into(db, later: LaterErasures, actor: str | None) -> int:
    """In the restored copy `db`: the later erasure log entries and what they keep out, then their
    posts erased again (one more log entry, and a line on each alert they were behind). Returns how
    many posts were erased again."""
    if not later.carried:
        return 0
    with db.atomic():
        new_id_of = {}
        for entry in later.log:
            new_id_of[entry["id"]] = db.execute(
                f"INSERT INTO erasures ({', '.join(_ERASURE_COLUMNS)}) VALUES ({', '.join('?' * len(_ERASURE_COLUMNS))})",
                [entry[column] for column in _ERASURE_COLUMNS]).lastrowid
        db.conn.executemany("INSERT OR IGNORE INTO forgotten (key, kind, erasure_id) VALUES (?, ?, ?)",
                            [(key, kind, new_id_of[erasure_id]) for key, kind, erasure_id in later.kept_out])
    if not later.mention_ids:
        return 0
    count = len(later.log)
    what = f"mentionwatch restore: erased again ({count} erasure{'' if count == 1 else 's'} made after the backup)"
    return len(erase(db, Selection(mention_ids=tuple(later.mention_ids)), what=what, actor=actor).plan.mention_ids)
