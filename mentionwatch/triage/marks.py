"""Triage marks: a mention is flagged (needs follow-up), handled or ignored, by whom and when.

One current state per mention (the `triage` table); marking again replaces it.
"""
from __future__ import annotations

from collections.abc import Iterable

from mentionwatch.cli_types import fits_sqlite
from storage import utc_now_iso
from mentionwatch.triage.query import TRIAGE_STATES


class UnknownMentions(ValueError):
    """Some mention ids are not in the database; nothing was marked."""

    def __init__(self, missing: list[int]):
        self.missing = missing
        shown = ", ".join(str(i) for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
        super().__init__(f"no mention with id {shown}")


def mark_mentions(db, mention_ids: Iterable[int], state: str, actor: str | None = None,
                  note: str | None = None) -> int:
    """Set the triage state of these mentions (all or none); returns how many were marked."""
    if state not in TRIAGE_STATES:
        raise ValueError(f"state must be one of {', '.join(TRIAGE_STATES)}, not {state!r}")
    ids = sorted(set(int(i) for i in mention_ids))
    now = utc_now_iso()
    with db.atomic():  # checked under the write lock: a mention a `forget` is erasing is gone or not
        missing = [i for i in ids if not fits_sqlite(i)  # SQLite cannot even take such an id
                   or not db.execute("SELECT 1 FROM mentions WHERE id = ?", [i]).fetchone()]
        if missing:
            raise UnknownMentions(missing)
        db.conn.executemany(
            "INSERT INTO triage (mention_id, state, actor, at, note) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (mention_id) DO UPDATE SET state = excluded.state, "
            "actor = excluded.actor, at = excluded.at, note = excluded.note",
            [(i, state, actor, now, note) for i in ids])
    return len(ids)


def triage_counts(db, watch: str | None = None) -> dict[str, int]:
    """How many mentions (of a watch) are in each triage state."""
    sql = "SELECT t.state, count(*) FROM triage t"
    params: list = []
    if watch:
        sql += " JOIN mention_watches w ON w.mention_id = t.mention_id AND w.watch = ?"
        params.append(watch)
    return dict(db.execute(sql + " GROUP BY t.state", params).fetchall())
