"""Erasing stored mentions on request: one post, every post of an author, or everything older
than a date (`mentionwatch forget`).

A person may ask to have their posts removed (GDPR's right to erasure), a platform's terms may
require deleting posts that were deleted there, and a team may keep only a year of history. An
erasure removes the mentions and everything attached to them (scores, watch links, triage marks,
the alert links, the alerts' quoted top posts and the words of theirs an alert lists as standing
out) in one transaction; the alerts themselves stay, with their counts, and their timelines say
how many of their posts were erased.

Erased posts and authors can be remembered, so that the next crawl or import does not store them
again. What is remembered is a SHA-256 hash of (source, post id) or (source, author name), never
the name, the text or the id itself. A hash hides a name from sight, not from someone who guesses
it: whoever holds the database can check whether a given name was erased. The erasure log
(`erasures`) says what kind of erasure it was and how many mentions it removed, without naming
anyone. New mentions get ids above every erased id, so an id quoted in an old export or alert never
comes to mean another post.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import unicodedata
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

from storage.db import utc_now_iso
from storage.timeutil import to_iso

log = logging.getLogger(__name__)

ANY_SOURCE = "*"  # an author forgotten on every source
MIN_AGE_KEPT_OUT = dt.timedelta(days=14)  # history kept out by date must be at least this old
_CHUNK = 500  # ids per statement, under SQLite's limit on parameters


def post_key(source: str, external_id: str) -> str:
    return _hash("post", source, external_id)


def author_key(source: str, author: str) -> str:
    """One person's name however it is written (see `author_form`)."""
    return _hash("author", source, author_form(author))


def author_form(author: str | None) -> str | None:
    """An author name as compared: Unicode-folded (NFKC: full-width 'Ｊａｎｅ' is 'Jane'), without
    case, invisible characters, surrounding spaces or a leading '@' ('@Jane_Doe' is 'jane_doe')."""
    if author is None:
        return None
    folded = unicodedata.normalize("NFKC", author).casefold()
    visible = "".join(char for char in folded if unicodedata.category(char) != "Cf")
    return visible.strip().lstrip("@").strip()


def url_form(url: str | None) -> str | None:
    """An address as compared: scheme and host without case or 'www.', no trailing '/', no
    fragment and no utm_* tracking parameters; http and https are one address."""
    if not url:
        return url
    parts = urllib.parse.urlsplit(url.strip())
    host = (parts.hostname or "").removeprefix("www.")
    query = [(key, value) for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
             if not key.lower().startswith("utm_")]
    return f"{host}{parts.path.rstrip('/')}?{urllib.parse.urlencode(query)}"


def _hash(kind: str, source: str, value: str) -> str:
    return hashlib.sha256("\x1f".join((kind, source, value)).encode("utf-8")).hexdigest()


@dataclass
class Selection:
    """Which stored mentions to erase: any of these criteria (they add up)."""

    mention_ids: tuple[int, ...] = ()
    author: str | None = None
    source: str | None = None  # narrows `author` and `url` to one source
    url: str | None = None
    before: str | None = None  # stored-time text: mentions created before it

    def is_empty(self) -> bool:
        return not (self.mention_ids or self.author or self.url or self.before)


@dataclass
class Plan:
    """What an erasure would remove, worked out before anything is deleted."""

    mention_ids: list[int]
    per_source: Counter = field(default_factory=Counter)
    scores: int = 0
    triage_marks: int = 0
    alerts: Counter = field(default_factory=Counter)  # alert id: how many of its posts are erased
    missing_ids: list[int] = field(default_factory=list)  # asked-for ids that are not stored


def plan_erasure(db, selection: Selection) -> Plan:
    """The mentions the selection finds, and what hangs on them."""
    _register_functions(db)
    conditions, params = [], []
    if selection.mention_ids:
        conditions.append("id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(selection.mention_ids)))
    narrowed = " AND source = ?" if selection.source else ""
    if selection.author:
        conditions.append(f"(mw_author_form(author) = ?{narrowed})")
        params += [author_form(selection.author)] + ([selection.source] if selection.source else [])
    if selection.url:
        conditions.append(f"(mw_url_form(url) = ?{narrowed})")
        params += [url_form(selection.url)] + ([selection.source] if selection.source else [])
    if selection.before:
        conditions.append("created_at < ?")
        params.append(selection.before)
    if not conditions:
        return Plan(mention_ids=[])
    rows = db.execute(f"SELECT id, source FROM mentions WHERE {' OR '.join(conditions)} ORDER BY id",
                      params).fetchall()
    plan = Plan(mention_ids=[row[0] for row in rows], per_source=Counter(row[1] for row in rows))
    found = set(plan.mention_ids)
    plan.missing_ids = [i for i in selection.mention_ids if i not in found]
    for chunk in _chunks(plan.mention_ids):
        marks = ",".join("?" * len(chunk))
        plan.scores += db.execute(f"SELECT count(*) FROM scores WHERE mention_id IN ({marks})", chunk).fetchone()[0]
        plan.triage_marks += db.execute(
            f"SELECT count(*) FROM triage WHERE mention_id IN ({marks})", chunk).fetchone()[0]
        for alert_id, linked in db.execute(
                f"SELECT alert_id, count(*) FROM alert_mentions WHERE mention_id IN ({marks}) "
                f"GROUP BY alert_id", chunk):
            plan.alerts[alert_id] += linked
    return plan


def _register_functions(db) -> None:
    """SQLite's lower() changes ASCII letters only: names and addresses are compared as Python
    folds them."""
    db.conn.create_function("mw_author_form", 1, author_form, deterministic=True)
    db.conn.create_function("mw_url_form", 1, url_form, deterministic=True)


@dataclass
class Erasure:
    """What `erase` did."""

    erasure_id: int
    plan: Plan
    file_clean: bool  # False: another program was reading, erased text may stay in the file a while


def erase(db, selection: Selection, *, what: str, actor: str | None, remember_posts: bool = False,
          remember_authors: list[tuple[str, str]] = ()) -> Erasure:
    """Delete the selected mentions and everything attached to them, in one transaction (the
    selection is worked out again under the write lock, so a mention stored since a preview is not
    missed).

    `remember_posts` keeps the erased posts from being stored again (with `before`: any post
    created before it, so a crawl does not bring back old pages); `remember_authors` lists
    (source or ANY_SOURCE, author name) whose posts are not stored again. `what` describes the
    erasure for the log and must not name anyone."""
    now = utc_now_iso()
    db.execute("PRAGMA secure_delete = ON")  # freed pages are zeroed, not left with the erased text
    try:
        erasure_id, plan = _erase(db, selection, now, what, actor, remember_posts, remember_authors)
    finally:
        db.execute("PRAGMA secure_delete = OFF")
    return Erasure(erasure_id, plan, file_clean=wipe_log(db))


def wipe_log(db) -> bool:
    """Copy the write-ahead log into the database file and empty it, so that no older copy of an
    erased page stays in either. False when another program is reading an older state of the file:
    then only part could be copied, and the rest goes at a later checkpoint (the service makes one
    at its next heartbeat after an erasure)."""
    busy, log_frames, copied = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return not busy and log_frames == copied


def _erase(db, selection, now, what, actor, remember_posts, remember_authors) -> tuple[int, Plan]:
    with db.atomic():
        plan = plan_erasure(db, selection)
        # history erased by age is kept out by its date (below), not post by post
        posts = _stored_posts(db, plan.mention_ids) if remember_posts and not selection.before else []
        kept_out_before = selection.before if remember_posts else None
        erasure_id = db.execute(
            "INSERT INTO erasures (at, actor, what, mentions, highest_mention_id, created_before) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [now, actor, what, len(plan.mention_ids), lowest_new_mention_id(db.conn), kept_out_before]
        ).lastrowid
        _scrub_alerts(db, plan, now, actor, what)
        for chunk in _chunks(plan.mention_ids):
            marks = ",".join("?" * len(chunk))
            for table in ("scores", "triage", "alert_mentions", "mention_watches"):
                db.execute(f"DELETE FROM {table} WHERE mention_id IN ({marks})", chunk)
            db.execute(f"DELETE FROM mentions WHERE id IN ({marks})", chunk)  # the FTS trigger follows
        keys = [(post_key(source, external_id), "post") for source, external_id in posts]
        keys += [(author_key(source, author), "author") for source, author in remember_authors]
        db.conn.executemany("INSERT OR IGNORE INTO forgotten (key, kind, erasure_id) VALUES (?, ?, ?)",
                            [(key, kind, erasure_id) for key, kind in keys])
        if plan.mention_ids:
            # A deleted row's words stay in the full-text index's older segments until they are
            # merged; merging them all now takes the erased words out of the file.
            db.execute("INSERT INTO mentions_fts (mentions_fts) VALUES ('optimize')")
    return erasure_id, plan


def erase_old_mentions(db, keep_seconds: float, now: dt.datetime | None = None) -> int:
    """Retention (`service.keep_mentions`): erase mentions created more than `keep_seconds` ago,
    and keep that history out of later crawls; return how many went."""
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = to_iso(now - dt.timedelta(seconds=keep_seconds))
    selection = Selection(before=cutoff)
    if not db.execute("SELECT 1 FROM mentions WHERE created_at < ? LIMIT 1", [cutoff]).fetchone():
        return 0
    done = erase(db, selection, what=f"mentions created before {cutoff} (service.keep_mentions)",
                 actor="service", remember_posts=True)
    log.info("retention: erased %d mentions created before %s (service.keep_mentions)",
             len(done.plan.mention_ids), cutoff)
    return len(done.plan.mention_ids)


def kept_out_before(db) -> str | None:
    """The date before which no mention is stored (history erased by age), or None."""
    return db.execute("SELECT max(created_before) FROM erasures").fetchone()[0]


def lift_cutoff(db) -> str | None:
    """Let history erased by age be stored again; returns the date that applied, if any."""
    with db.atomic():
        cutoff = kept_out_before(db)
        db.execute("UPDATE erasures SET created_before = NULL WHERE created_before IS NOT NULL")
    return cutoff


def _stored_posts(db, mention_ids: list[int]) -> list[tuple[str, str]]:
    posts = []
    for chunk in _chunks(mention_ids):
        marks = ",".join("?" * len(chunk))
        posts.extend(db.execute(f"SELECT source, external_id FROM mentions WHERE id IN ({marks})", chunk))
    return posts


def _scrub_alerts(db, plan: Plan, now: str, actor: str | None, what: str) -> None:
    """Take the erased posts out of the alerts' stored explanations (their quotes, and their words
    among the terms standing out, in the summary and the timeline), and say so in the timelines."""
    from alerts.explain import without_erased_words

    erased = set(plan.mention_ids)
    for alert_id, linked in sorted(plan.alerts.items()):
        erased_texts = _erased_texts(db, alert_id, plan.mention_ids)
        row = db.execute("SELECT explanation FROM alerts WHERE id = ?", [alert_id]).fetchone()
        explanation = json.loads(row[0]) if row and row[0] else {}
        if "top_mentions" in explanation:
            explanation["top_mentions"] = [m for m in explanation["top_mentions"]
                                           if m.get("mention_id") not in erased]
        explanation, rewrite = without_erased_words(explanation, erased_texts)
        db.execute("UPDATE alerts SET explanation = ? WHERE id = ?", [json.dumps(explanation), alert_id])
        for event_id, detail in db.execute("SELECT id, detail FROM alert_events WHERE alert_id = ? "
                                           "AND detail IS NOT NULL", [alert_id]).fetchall():
            if rewrite(detail) != detail:
                db.execute("UPDATE alert_events SET detail = ? WHERE id = ?", [rewrite(detail), event_id])
        db.execute("INSERT INTO alert_events (alert_id, at, actor, kind, detail) VALUES (?, ?, ?, ?, ?)",
                   [alert_id, now, actor, "erased",
                    f"{_posts(linked)} behind this alert erased ({what})"])


def _erased_texts(db, alert_id: int, mention_ids: list[int]) -> list[str]:
    texts = []
    for chunk in _chunks(mention_ids):
        marks = ",".join("?" * len(chunk))
        texts.extend(f"{title or ''}\n{text}" for title, text in db.execute(
            f"SELECT m.title, m.text FROM alert_mentions am JOIN mentions m ON m.id = am.mention_id "
            f"WHERE am.alert_id = ? AND am.mention_id IN ({marks})", [alert_id, *chunk]))
    return texts


def _posts(count: int) -> str:
    return "1 post" if count == 1 else f"{count} posts"


def _chunks(ids: list[int]):
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start:start + _CHUNK])


def lowest_new_mention_id(conn) -> int:
    """New mentions must get ids above this one (the highest stored or ever erased)."""
    return conn.execute(
        "SELECT max(coalesce((SELECT max(id) FROM mentions), 0), "
        "coalesce((SELECT max(highest_mention_id) FROM erasures), 0))").fetchone()[0]


def forgotten_positions(conn, rows: list[tuple]) -> set[int]:
    """Which of these stored-form rows (source, external_id, url, author, ... created_at) are of a
    forgotten post or author, or older than erased history; cheap when nothing was ever kept out."""
    found: set[int] = set()
    before = conn.execute("SELECT max(created_before) FROM erasures").fetchone()[0]
    if before:
        found.update(position for position, row in enumerate(rows) if row[9] < before)
    if conn.execute("SELECT 1 FROM forgotten LIMIT 1").fetchone() is None:
        return found
    keys_of: dict[str, list[int]] = {}
    for position, row in enumerate(rows):
        source, external_id, author = row[0], row[1], row[3]
        keys = [post_key(source, external_id)]
        if author:
            keys += [author_key(source, author), author_key(ANY_SOURCE, author)]
        for key in keys:
            keys_of.setdefault(key, []).append(position)
    all_keys = list(keys_of)
    for start in range(0, len(all_keys), _CHUNK):
        chunk = all_keys[start:start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for (key,) in conn.execute(f"SELECT key FROM forgotten WHERE key IN ({marks})", chunk):
            found.update(keys_of[key])
    return found
