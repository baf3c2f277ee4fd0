"""Erasures made after a backup was taken, carried into the copy of it that `restore` puts back.

A backup still holds the posts of every erasure (`mentionwatch forget`) made after it: restored as
it is, it would bring back posts that someone asked to have erased. The database it replaces knows
what was erased since: its erasure log goes on past the backup's, and each erasure left behind
what it keeps out of later crawls (hashes of the post or the author, or a date before which no
post is stored). `find` reads that from the two files, read-only; `carry_into` copies the log
entries and what they keep out into the copy, before it takes the database's place, and erases
the posts of the copy that are now kept out: the restored database holds nothing it keeps out.

Posts are found by what the carried erasures keep out (not by the backup's own keep-out list, nor
by their absence from the replaced database, which may lack a post for other reasons: it was
itself restored from an older backup). An erasure made with `--allow-again` keeps nothing out, so
its posts cannot be found: `restore` says so. When
the replaced database cannot be read (a damaged one, the usual reason to restore), or its log does
not go on from the backup's, nothing is carried, and `restore` says so too.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from storage.erasure import ALLOWED_AGAIN_WHAT, Selection, erase, incoming_author_keys, post_key

_ERASURE_COLUMNS = ("at", "actor", "what", "mentions", "highest_mention_id", "created_before")
RESTORE_WHAT = "mentionwatch restore:"  # the log entry of a restore's own erasing: not a request


@dataclass
class LaterErasures:
    """What the replaced database erased, or stopped keeping out, after the backup was taken."""

    log: list[dict] = field(default_factory=list)  # its erasure log entries beyond the backup's
    finished: dict | None = None  # the backup's last entry as it ended (an erasure the backup caught midway)
    kept_out: list[tuple[str, str, int]] = field(default_factory=list)  # (key, kind, erasure id) of those
    cutoff_lifted: bool = False  # `forget --lift-cutoff` since: history before a date may be stored again
    mention_ids: list[int] = field(default_factory=list)  # the backup's posts they keep out
    unreadable: str | None = None  # why the replaced database could not be read: nothing is known
    unrelated: str | None = None  # why it does not look like the backup's later state: nothing is carried

    @property
    def carried(self) -> bool:
        return bool(self.log or self.finished or self.cutoff_lifted) and not (self.unreadable or self.unrelated)

    @property
    def requests(self) -> list[dict]:
        """The later log entries that were erasures asked for (not a restore's own erasing again)."""
        return [entry for entry in self.log if not (entry["what"] or "").startswith(RESTORE_WHAT)]

    @property
    def keeping_nothing_out(self) -> int:
        """Erasures made with --allow-again since the backup (or under way when it was taken): their
        posts cannot be found in it."""
        entries = self.requests + ([self.finished] if self.finished else [])
        return sum(1 for entry in entries if _allowed_again(entry))

    @property
    def keeping_out(self) -> int:
        """Erasures asked for since the backup that keep something out."""
        return sum(1 for entry in self.requests if not _allowed_again(entry))

    @property
    def cutoff(self) -> str | None:
        """The latest date before which the carried erasures keep history out."""
        entries = self.log + ([self.finished] if self.finished else [])
        return max((entry["created_before"] for entry in entries if entry["created_before"]), default=None)


def _allowed_again(entry: dict) -> bool:
    return (entry["what"] or "").startswith(ALLOWED_AGAIN_WHAT)


def find(backup: Path, replaced: Path, count_posts: bool = True) -> LaterErasures:
    """The erasures `replaced` records beyond `backup`'s, and (`count_posts`) the backup's posts they
    keep out: for a preview, or to say how many come back; a restore finds them in its copy."""
    try:
        old, new = _read_only(backup), _read_only(replaced)
    except sqlite3.Error as exc:
        return LaterErasures(unreadable=str(exc))
    try:
        later = _compared(old, new)
        if later.carried and count_posts:
            later.mention_ids = _kept_out_ids(old, later)
        return later
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
    last = _has_table(backup, "erasures") and backup.execute(
        "SELECT * FROM erasures ORDER BY id DESC LIMIT 1").fetchone()
    after = last["id"] if last else 0
    later = LaterErasures()
    if last:
        same = replaced.execute("SELECT * FROM erasures WHERE id = ?", [after]).fetchone()
        if same is None or (same["at"], same["what"]) != (last["at"], last["what"]) or _keys_differ(backup, replaced, after):
            return LaterErasures(unrelated="its erasure log does not go on from the backup's")
        if (same["mentions"], same["highest_mention_id"]) != (last["mentions"], last["highest_mention_id"]):
            later.finished = dict(same)  # the backup was taken while this erasure went on
        lifted_since = replaced.execute("SELECT count(*) FROM erasures WHERE id <= ? AND created_before IS NOT NULL",
                                        [after]).fetchone()[0] == 0
        later.cutoff_lifted = lifted_since and backup.execute(
            "SELECT count(*) FROM erasures WHERE created_before IS NOT NULL").fetchone()[0] > 0
    later.log = [dict(row) for row in replaced.execute("SELECT * FROM erasures WHERE id > ? ORDER BY id", [after])]
    first_carried = after if later.finished else after + 1  # an erasure under way: its later keys too
    later.kept_out = [tuple(row) for row in replaced.execute(
        "SELECT key, kind, erasure_id FROM forgotten WHERE erasure_id >= ?", [first_carried])]
    return later


def _keys_differ(backup: sqlite3.Connection, replaced: sqlite3.Connection, erasure_id: int) -> bool:
    """Whether the backup keeps out something under its last erasure that the replaced database does
    not (an erasure goes on adding keys, never takes one away): then they are two different
    erasures, logged under the same id within the same second."""
    keys = backup.execute("SELECT key FROM forgotten WHERE erasure_id = ?", [erasure_id])
    return any(replaced.execute("SELECT 1 FROM forgotten WHERE key = ? AND erasure_id = ?", [key, erasure_id]).fetchone()
               is None for (key,) in keys)


def _has_table(connection: sqlite3.Connection, table: str) -> bool:
    return connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                              [table]).fetchone() is not None


def _kept_out_ids(connection, later: LaterErasures) -> list[int]:
    """Ids of the posts held by `connection` (the backup, or its copy) that the carried erasures keep
    out, by their keys or their cutoff date, as storing them again would be refused (save_mentions)."""
    carried, before = {key for key, _kind, _erasure in later.kept_out}, later.cutoff
    found = []
    for mention_id, source, external_id, author, created_at in connection.execute(
            "SELECT id, source, external_id, author, created_at FROM mentions ORDER BY id"):
        keys = [post_key(source, external_id)] + (incoming_author_keys(source, author) if author else [])
        if (before and created_at < before) or carried.intersection(keys):
            found.append(mention_id)
    return found


def carry_into(db, later: LaterErasures, actor: str | None) -> int:
    """In the restored copy `db`: the later log entries and what they keep out, then the copy's posts
    that it now keeps out erased (one more log entry, and a line on each alert they were behind).
    Returns how many posts were erased again."""
    if not later.carried:
        return 0
    with db.atomic():
        new_id_of = {}
        if later.finished:
            new_id_of[later.finished["id"]] = later.finished["id"]
            db.execute("UPDATE erasures SET mentions = ?, highest_mention_id = ? WHERE id = ?",
                       [later.finished["mentions"], later.finished["highest_mention_id"], later.finished["id"]])
        if later.cutoff_lifted:
            db.execute("UPDATE erasures SET created_before = NULL WHERE created_before IS NOT NULL")
        for entry in later.log:
            new_id_of[entry["id"]] = db.execute(
                f"INSERT INTO erasures ({', '.join(_ERASURE_COLUMNS)}) VALUES ({', '.join('?' * len(_ERASURE_COLUMNS))})",
                [entry[column] for column in _ERASURE_COLUMNS]).lastrowid
        db.conn.executemany("INSERT OR IGNORE INTO forgotten (key, kind, erasure_id) VALUES (?, ?, ?)",
                            [(key, kind, new_id_of.get(erasure_id, erasure_id))
                             for key, kind, erasure_id in later.kept_out])
        ids = _kept_out_ids(db.conn, later)
    if not ids:
        return 0
    what = f"{RESTORE_WHAT} posts kept out by erasures made after the backup, erased again"
    return len(erase(db, Selection(mention_ids=tuple(ids)), what=what, actor=actor).plan.mention_ids)
