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

import datetime as dt
from dataclasses import dataclass

from storage.timeutil import to_iso

# a crawl run still 'running' after this long was cut off (a killed process), not still going: a
# crawl stops at its time limit, one hour
RUNNING_AT_MOST = 2 * 3600


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
    cursors: int = 0  # that move: the new name has none of the same source and name
    cursors_dropped: int = 0  # the new name has its own (a poll since the rename): the old one goes
    new_live_alerts: int = 0  # open or acknowledged alerts the new name raised since the rename
    running_crawls: int = 0  # under the old name: a crawl started before the rename
    running_crawl: tuple[str, str, str | None] | None = None  # the latest of them: (source, started_at, process)

    @property
    def empty(self) -> bool:
        return not (self.mentions or self.alerts or self.crawl_runs or self.cursors or self.cursors_dropped)


def plan_rename(db, old: str, new: str) -> RenamePlan:
    """Count what `apply_rename` would move; change nothing."""
    now = dt.datetime.now(dt.timezone.utc)
    def count(sql: str, *params) -> int:
        return db.execute(sql, params).fetchone()[0]

    running_since = to_iso(now - dt.timedelta(seconds=RUNNING_AT_MOST))
    return RenamePlan(
        old, new,
        mentions=count("SELECT count(*) FROM mention_watches WHERE watch = ?", old),
        already_linked=count("SELECT count(*) FROM mention_watches o JOIN mention_watches n "
                             "ON n.mention_id = o.mention_id AND n.watch = ? WHERE o.watch = ?", new, old),
        alerts=count("SELECT count(*) FROM alerts WHERE watch = ?", old),
        live_alerts=count("SELECT count(*) FROM alerts WHERE watch = ? AND status != 'resolved'", old),
        crawl_runs=count("SELECT count(*) FROM crawl_runs WHERE watch = ?", old),
        cursors=count("SELECT count(*) FROM cursors o WHERE o.watch = ? AND NOT EXISTS (SELECT 1 FROM cursors n "
                      "WHERE n.watch = ? AND n.source = o.source AND n.name = o.name)", old, new),
        cursors_dropped=count("SELECT count(*) FROM cursors o JOIN cursors n ON n.source = o.source "
                              "AND n.name = o.name AND n.watch = ? WHERE o.watch = ?", new, old),
        new_live_alerts=count("SELECT count(*) FROM alerts WHERE watch = ? AND status != 'resolved'", new),
        running_crawls=count("SELECT count(*) FROM crawl_runs WHERE watch = ? AND status = 'running' "
                             "AND started_at > ?", old, running_since),
        running_crawl=db.execute("SELECT source, started_at, process FROM crawl_runs WHERE watch = ? "
                                 "AND status = 'running' AND started_at > ? ORDER BY started_at DESC LIMIT 1",
                                 [old, running_since]).fetchone())


def apply_rename(db, plan: RenamePlan) -> None:
    """Move everything stored under the old name to the new one, in one transaction."""
    old, new = plan.old, plan.new
    with db.atomic():
        db.execute("INSERT OR IGNORE INTO mention_watches (watch, mention_id, matched_at, linked_by) "
                   "SELECT ?, mention_id, matched_at, linked_by FROM mention_watches WHERE watch = ?", [new, old])
        # a post the new name already has by a query (a rematch made before the rename) stays an
        # import when the old name had it so: rematch leaves imported links alone
        db.execute("UPDATE mention_watches SET linked_by = 'import' WHERE watch = ? AND linked_by IS NOT 'import' "
                   "AND mention_id IN (SELECT mention_id FROM mention_watches WHERE watch = ? AND linked_by = 'import')",
                   [new, old])
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
    return sorted(name for name in stored_watch_names(db)
                  if name != new and name != old and name.lower() == new.lower())


def stored_watch_names(db) -> set[str]:
    """Every watch name the database holds mentions or alerts under."""
    return {name for (name,) in db.execute(
        "SELECT DISTINCT watch FROM mention_watches UNION SELECT DISTINCT watch FROM alerts")}
