"""Moving a renamed watch's stored history to its new name (`mentionwatch rename OLD NEW`).

A watch is known in the database by its name: renaming it in the watchlist makes a new watch with
no history, while the old name keeps its mentions, alerts and cursors. `plan_rename` counts what is
stored under the old name; `apply_rename` moves all of it, in one transaction:

* the links of its mentions, whoever made them (a collector, `import --watch`, `rematch`), with the
  time each was made: the renamed watch's baseline is the old one, with no warm-up to wait out;
* its alerts, resolved ones too, with their timelines and notifications: a wave that was resolved
  under the old name does not open a new alert under the new one, and an open alert goes on;
* its crawl runs, and the cursors of its sources: collection goes on where it stopped (a cursor
  the new name already has, from a poll made after the rename, is kept and the old one dropped).

The explanation of an alert keeps the words it was written with (its summary names the old name).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RenamePlan:
    """What is stored under `old` (and what `new` already has), before anything moves."""

    old: str
    new: str
    mentions: int = 0  # linked to the old name
    already_linked: int = 0  # of those, linked to the new name too
    alerts: int = 0
    live_alerts: int = 0  # open or acknowledged
    crawl_runs: int = 0
    cursors: int = 0
    new_live_alerts: int = 0  # open or acknowledged alerts the new name raised since the rename

    @property
    def empty(self) -> bool:
        return not (self.mentions or self.alerts or self.crawl_runs or self.cursors)


def plan_rename(db, old: str, new: str) -> RenamePlan:
    """Count what `apply_rename` would move; change nothing."""
    def count(sql: str, *params) -> int:
        return db.execute(sql, params).fetchone()[0]

    return RenamePlan(
        old, new,
        mentions=count("SELECT count(*) FROM mention_watches WHERE watch = ?", old),
        already_linked=count("SELECT count(*) FROM mention_watches o JOIN mention_watches n "
                             "ON n.mention_id = o.mention_id AND n.watch = ? WHERE o.watch = ?", new, old),
        alerts=count("SELECT count(*) FROM alerts WHERE watch = ?", old),
        live_alerts=count("SELECT count(*) FROM alerts WHERE watch = ? AND status != 'resolved'", old),
        crawl_runs=count("SELECT count(*) FROM crawl_runs WHERE watch = ?", old),
        cursors=count("SELECT count(*) FROM cursors WHERE watch = ?", old),
        new_live_alerts=count("SELECT count(*) FROM alerts WHERE watch = ? AND status != 'resolved'", new))


def apply_rename(db, plan: RenamePlan) -> None:
    """Move everything stored under the old name to the new one, in one transaction."""
    old, new = plan.old, plan.new
    with db.atomic():
        db.execute("INSERT OR IGNORE INTO mention_watches (watch, mention_id, matched_at, linked_by) "
                   "SELECT ?, mention_id, matched_at, linked_by FROM mention_watches WHERE watch = ?", [new, old])
        db.execute("DELETE FROM mention_watches WHERE watch = ?", [old])
        for table in ("alerts", "crawl_runs"):
            db.execute(f"UPDATE {table} SET watch = ? WHERE watch = ?", [new, old])
        _move_cursors(db, old, new)


def _move_cursors(db, old: str, new: str) -> None:
    """The old name's cursors become the new name's, but for one the new name already has (a poll
    made since the rename read from the top and saved its own place)."""
    db.execute("UPDATE OR IGNORE cursors SET watch = ? WHERE watch = ?", [new, old])
    db.execute("DELETE FROM cursors WHERE watch = ?", [old])


def names_differing_only_in_case(db, new: str, old: str) -> list[str]:
    """Names stored in the database, other than `old`, that are `new` in other capitals: the
    report's chart files of the two would overwrite each other on a Mac or Windows disk."""
    stored = {name for (name,) in db.execute(
        "SELECT DISTINCT watch FROM mention_watches UNION SELECT DISTINCT watch FROM alerts")}
    return sorted(name for name in stored if name != new and name != old and name.lower() == new.lower())
