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

import contextlib
import datetime as dt
import functools
import hashlib
import json
import logging
import re
import unicodedata
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

from storage.db import utc_now_iso
from storage.timeutil import to_iso

log = logging.getLogger(__name__)

ANY_SOURCE = "*"  # an author forgotten on every source
ALLOWED_AGAIN_WHAT = "mentionwatch forget --allow-again:"  # the log entry of an erasure that keeps nothing out
MIN_AGE_KEPT_OUT = dt.timedelta(days=14)  # history kept out by date must be at least this old
ERASE_BATCH = 10_000  # mentions per transaction of a big erasure
_CHUNK = 500  # ids per statement, under SQLite's limit on parameters


def post_key(source: str, external_id: str) -> str:
    return _hash("post", source, external_id)


# An author forgotten on every source is kept under two keys: as compared on the sources where case
# does not count, and as written for those where it does, so that `forget --author Dang` keeps out
# Hacker News' Dang, not dang. (Erasures before these two kept one key, ANY_SOURCE's, with the case
# folded: still matched on every source, as they were.)
EVERY_SOURCE_FOLDED, EVERY_SOURCE_AS_WRITTEN = "*any", "*any-cased"
CASE_SENSITIVE_NAMES = frozenset({"hackernews", EVERY_SOURCE_AS_WRITTEN})  # 'Dang' and 'dang' are two accounts there


def author_key(source: str, author: str) -> str:
    """One person's name however it is written (see `author_form`)."""
    return _hash("author", source, author_form(author, source))


def kept_out_author_keys(source: str, author: str) -> list[str]:
    """The keys that keep an author out: of one source, or of every source (ANY_SOURCE)."""
    if source != ANY_SOURCE:
        return [author_key(source, author)]
    return [author_key(EVERY_SOURCE_FOLDED, author), author_key(EVERY_SOURCE_AS_WRITTEN, author)]


def incoming_author_keys(source: str, author: str) -> list[str]:
    """The keys an incoming post's author is looked up under: its source's, every source's as that
    source compares names, and the single every-source key of older erasures."""
    every = EVERY_SOURCE_AS_WRITTEN if source in CASE_SENSITIVE_NAMES else EVERY_SOURCE_FOLDED
    return [author_key(source, author), author_key(every, author), author_key(ANY_SOURCE, author)]


def author_form(author: str | None, source: str | None = None) -> str | None:
    """An author name as compared: Unicode-folded (NFKC: full-width 'Ｊａｎｅ' is 'Jane'), without
    invisible characters, surrounding spaces or a leading '@', and without case ('@Jane_Doe' is
    'jane_doe') except on sources whose names differ by case (CASE_SENSITIVE_NAMES)."""
    if author is None:
        return None
    return _folded_name(author, source in CASE_SENSITIVE_NAMES)


@functools.lru_cache(maxsize=65_536)  # an erasure by author folds every stored name: most recur
def _folded_name(author: str, keep_case: bool) -> str:
    if author.isascii():  # NFKC leaves ASCII as it is, casefold is lower, no character is invisible
        return (author if keep_case else author.lower()).strip().lstrip("@").strip()
    folded = unicodedata.normalize("NFKC", author)
    if not keep_case:
        folded = folded.casefold()
    visible = "".join(char for char in folded if unicodedata.category(char) != "Cf")
    return visible.strip().lstrip("@").strip()


def url_form(url: str | None) -> str | None:
    """An address as compared: host without case or 'www.', no trailing '/' and no utm_* tracking
    parameters; http and https are one address. The port and the #fragment count: a review without
    an address of its own is stored as its page's address plus '#N', and each is another post."""
    if not url:
        return url
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # an address Python cannot read is compared as written
        return url.strip()
    host = (parts.hostname or "").removeprefix("www.")
    query = [(key, value) for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
             if not key.lower().startswith("utm_")]
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{host}{port}{parts.path.rstrip('/')}?{urllib.parse.urlencode(query)}{fragment}"


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
    outside = not db.conn.in_transaction
    plan = _counted(db, _selected_ids(db, selection))
    if outside:
        db.conn.commit()  # the temp table's rows opened a transaction: a preview leaves none open
    found = set(plan.mention_ids)
    plan.missing_ids = [i for i in selection.mention_ids if i not in found]
    return plan


def _selected_ids(db, selection: Selection, above_id: int = 0) -> list[int]:
    """The ids of the mentions the selection finds (with an id above `above_id`: stored since a
    pass that read up to it, which the write-locked last pass of `erase` reads alone, instead of
    the whole table: a name compared in Python on every row held collectors up for seconds)."""
    _register_functions(db)
    conditions, params = [], []
    if selection.mention_ids:
        conditions.append("id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(selection.mention_ids)))
    narrowed = " AND source = ?" if selection.source else ""
    if selection.author:
        # the name's two forms worked out once (with and without case), not once per stored row
        keeping_case = ", ".join("?" * len(CASE_SENSITIVE_NAMES))
        conditions.append(f"(author IS NOT NULL AND mw_author_form(author, source) = CASE WHEN source IN "
                          f"({keeping_case}) THEN ? ELSE ? END{narrowed})")
        params += [*sorted(CASE_SENSITIVE_NAMES), _folded_name(selection.author, keep_case=True),
                   _folded_name(selection.author, keep_case=False)] + ([selection.source] if selection.source else [])
    if selection.url:
        # instr() on the address's most telling part first (the last path part, or the longest
        # query value: item?id=123): the Python comparison then reads a few rows, not every one
        conditions.append(f"(instr(url, ?) AND mw_url_form(url) = ?{narrowed})")
        params += [_telling_part(selection.url), url_form(selection.url)] + (
            [selection.source] if selection.source else [])
    if selection.before:
        conditions.append("created_at < ?")
        params.append(selection.before)
    if not conditions:
        return []
    return [row[0] for row in db.execute(
        f"SELECT id FROM mentions WHERE id > ? AND ({' OR '.join(conditions)}) ORDER BY id", [above_id, *params])]


def _telling_part(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError:
        return ""
    candidates = [parts.path.rstrip("/").rsplit("/", 1)[-1]]
    candidates += [value for key, value in urllib.parse.parse_qsl(parts.query) if not key.lower().startswith("utm_")]
    # a query value is read decoded ('Acme+Anvil' as 'Acme Anvil', '%3A' as ':'), while the stored
    # address may be written either way: only a run of characters that are never escaped is looked for
    runs = [run for candidate in candidates for run in re.findall(r"[A-Za-z0-9._~-]+", candidate)]
    return max(runs, key=len, default="")


def _counted(db, mention_ids: list[int]) -> Plan:
    """A plan for these mention ids: what hangs on them (read through the temp table `erasing`)."""
    _fill_erasing(db, mention_ids)
    plan = Plan(mention_ids=mention_ids)
    plan.per_source = Counter(dict(db.execute(
        "SELECT source, count(*) FROM mentions WHERE id IN (SELECT id FROM temp.erasing) GROUP BY source")))
    plan.scores = db.execute(
        "SELECT count(*) FROM scores WHERE mention_id IN (SELECT id FROM temp.erasing)").fetchone()[0]
    plan.triage_marks = db.execute(
        "SELECT count(*) FROM triage WHERE mention_id IN (SELECT id FROM temp.erasing)").fetchone()[0]
    plan.alerts = Counter(dict(db.execute(
        "SELECT alert_id, count(*) FROM alert_mentions WHERE mention_id IN (SELECT id FROM temp.erasing) "
        "GROUP BY alert_id")))
    return plan


def _fill_erasing(db, mention_ids: list[int]) -> None:
    db.execute("CREATE TEMP TABLE IF NOT EXISTS erasing (id INTEGER PRIMARY KEY)")
    db.execute("DELETE FROM temp.erasing")
    db.conn.executemany("INSERT OR IGNORE INTO temp.erasing (id) VALUES (?)", [(i,) for i in mention_ids])


def _register_functions(db) -> None:
    """SQLite's lower() changes ASCII letters only: names and addresses are compared as Python
    folds them."""
    db.conn.create_function("mw_author_form", 2, author_form, deterministic=True)
    db.conn.create_function("mw_url_form", 1, url_form, deterministic=True)


@dataclass
class Erasure:
    """What `erase` did."""

    erasure_id: int
    plan: Plan
    file_clean: bool  # False: another program was reading, erased text may stay in the file a while


def erase(db, selection: Selection, *, what: str, actor: str | None, remember_posts: bool = False,
          remember_authors: list[tuple[str, str]] = ()) -> Erasure:
    """Delete the selected mentions and everything attached to them.

    Big erasures (a year of history) go in batches of ERASE_BATCH mentions, one transaction each, so
    that collectors writing at the same time wait seconds, not minutes; each batch records what it
    erased and keeps out (see _Step). The last transaction, under the write lock, also selects from
    the mentions stored since the first pass read the table, so one stored meanwhile is not missed;
    it reads only those, not every row again, which held collectors up for seconds on a big
    database. (A mention stored before, whose author `import --update` changes meanwhile, is not seen.)
    Then the full-text index is merged, to take the erased words out of it, and the write-ahead log
    emptied (see `wipe_log`).

    `remember_posts` keeps the erased posts from being stored again (with `before`: any post
    created before it, so a crawl does not bring back old pages); `remember_authors` lists
    (source or ANY_SOURCE, author name) whose posts are not stored again. `what` describes the
    erasure for the log and must not name anyone."""
    step = _Step(db, utc_now_iso(), what, actor, kept_out_before=selection.before if remember_posts else None,
                 authors=list(remember_authors))
    each_post = remember_posts and not selection.before  # history erased by age is kept out by its date
    with _freed_pages_zeroed(db):
        highest_read = db.execute("SELECT coalesce(max(id), 0) FROM mentions").fetchone()[0]
        ids = _selected_ids(db, selection)
        batches = [ids[start:start + ERASE_BATCH] for start in range(0, len(ids), ERASE_BATCH)] or [[]]
        for batch in batches[:-1]:
            with db.atomic():
                step.erase_batch(batch, each_post)
        with db.atomic():  # the last batch, and what was stored since the first pass read the table
            # (a mention stored between reading the highest id and the first pass is in both)
            since = _selected_ids(db, selection, above_id=highest_read)
            step.erase_batch(sorted(set(batches[-1] + since)), each_post)
        # A deleted row's words stay in the full-text index's older segments until they are merged;
        # merging them all takes the erased words out of the file. Merged even when nothing was
        # erased now: an erasure stopped during its merge (Ctrl-C) is finished by running it again,
        # and an index already merged is merged again in no time.
        _merge_full_text_index(db)
    return Erasure(step.erasure_id, step.plan, file_clean=wipe_log(db))


@contextlib.contextmanager
def _freed_pages_zeroed(db):
    """Freed pages are zeroed while it lasts, not left with the erased text; then secure_delete is
    as open_db set it."""
    secure_delete = db.execute("PRAGMA secure_delete").fetchone()[0]
    db.execute("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        db.execute(f"PRAGMA secure_delete = {int(secure_delete)}")


def _merge_full_text_index(db) -> None:
    with db.atomic():
        db.execute(f"INSERT INTO mentions_fts (mentions_fts) VALUES ('{_full_text_cleanup(db)}')")  # one of two words


def finish_earlier_erasures(db) -> bool:
    """What an erasure stopped during its merge (Ctrl-C) left undone: the erased words taken out of
    the full-text index and the write-ahead log emptied. For a `forget` run again whose posts are
    all gone already. Returns whether the file is clean (see `wipe_log`)."""
    with _freed_pages_zeroed(db):
        _merge_full_text_index(db)
    return wipe_log(db)


def erased_before(db, mention_ids: list[int]) -> list[int]:
    """Those of `mention_ids` (none stored now) that were given to a mention once: erased, since
    ids are never reused; the others were never used."""
    highest = lowest_new_mention_id(db)
    return [one for one in mention_ids if 0 < one <= highest]


# FTS5's 'optimize' (SQLite 3.40 here) puts the merged index one level above the highest: with
# mentions stored between erasures, the levels grow by one or two per erasure, and at about 1,100
# erasures the index reads as "database disk image is malformed" (search and storing mentions fail).
# 'rebuild' reads the index again from the mentions, on one level (15 s on 2.2M mentions, under the
# write lock): done instead of the merge when the levels reach this, every few hundred erasures.
FULL_TEXT_LEVELS_BEFORE_REBUILD = 200
_FTS5_STRUCTURE_ROWID = 10  # the row of mentions_fts_data holding the index's structure record
_FTS5_STRUCTURE_V2 = b"\xff\x00\x00\x01"  # a marker newer SQLite versions write after the cookie


def full_text_levels(db) -> int | None:
    """How many levels the full-text index's structure record holds (None where it cannot be read):
    its 4-byte cookie, a marker in newer versions, then the number of levels as an SQLite varint."""
    row = db.execute("SELECT block FROM mentions_fts_data WHERE id = ?", [_FTS5_STRUCTURE_ROWID]).fetchone()
    blob = bytes(row[0]) if row and row[0] is not None else b""
    start = 8 if blob[4:8] == _FTS5_STRUCTURE_V2 else 4
    value = 0
    for position in range(start, min(start + 9, len(blob))):
        byte = blob[position]
        if position == start + 8:
            return (value << 8) | byte
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value
    return None


def _full_text_cleanup(db) -> str:
    """The FTS5 command that takes erased words out of the index: 'optimize' (merge), or 'rebuild'
    once the levels have piled up; a rebuild leaves no erased word either, so the merge is skipped
    then (2.7 s of the write lock on 2.2M mentions, for nothing)."""
    return "rebuild" if (full_text_levels(db) or 0) >= FULL_TEXT_LEVELS_BEFORE_REBUILD else "optimize"


class _Step:
    """One erasure, batch by batch. Each batch's transaction leaves a true record (the log entry's
    count, the timelines, what is kept out), so an erasure stopped between batches (a killed
    process) keeps out what it erased and says how many it did; running it again erases the rest."""

    def __init__(self, db, now: str, what: str, actor: str | None, kept_out_before: str | None,
                 authors: list[tuple[str, str]]):
        self.db, self.now, self.what, self.actor = db, now, what, actor
        self.kept_out_before, self.authors = kept_out_before, authors
        self.erasure_id: int | None = None
        self.plan = Plan(mention_ids=[])
        self.event_of: dict[int, int] = {}  # alert id -> its 'erased' timeline entry

    def erase_batch(self, mention_ids: list[int], remember_posts: bool) -> None:
        """Inside a transaction: delete these mentions and what hangs on them, and record it."""
        db = self.db
        if self.erasure_id is None:
            self._start()
        # new mentions get ids above the erased ones, also above one stored since the first batch
        db.execute("UPDATE erasures SET highest_mention_id = max(highest_mention_id, ?) WHERE id = ?",
                   [lowest_new_mention_id(db.conn), self.erasure_id])
        batch = _counted(db, mention_ids)
        # another erasure may have taken some meanwhile: the log counts what this one erased
        erased_now = [row[0] for row in db.execute("SELECT id FROM mentions WHERE id IN (SELECT id FROM temp.erasing)")]
        if remember_posts:
            posts = db.execute(
                "SELECT source, external_id FROM mentions WHERE id IN (SELECT id FROM temp.erasing)").fetchall()
            self._keep_out([(post_key(source, external_id), "post") for source, external_id in posts])
        _scrub_alerts(db, batch)
        for table in ("scores", "triage", "alert_mentions", "mention_watches"):
            db.execute(f"DELETE FROM {table} WHERE mention_id IN (SELECT id FROM temp.erasing)")
        db.execute("DELETE FROM mentions WHERE id IN (SELECT id FROM temp.erasing)")  # the FTS trigger follows
        self.plan.mention_ids += erased_now
        self.plan.per_source.update(batch.per_source)
        self.plan.scores += batch.scores
        self.plan.triage_marks += batch.triage_marks
        self.plan.alerts.update(batch.alerts)
        db.execute("UPDATE erasures SET mentions = ? WHERE id = ?", [len(self.plan.mention_ids), self.erasure_id])
        self._tell_alerts(batch)

    def _start(self) -> None:
        """The log entry, and from the first batch on: the author and the history kept out."""
        self.erasure_id = self.db.execute(
            "INSERT INTO erasures (at, actor, what, mentions, highest_mention_id, created_before) "
            "VALUES (?, ?, ?, 0, 0, ?)", [self.now, self.actor, self.what, self.kept_out_before]).lastrowid
        self._keep_out([(key, "author") for source, author in self.authors
                        for key in kept_out_author_keys(source, author)])

    def _keep_out(self, keys: list[tuple[str, str]]) -> None:
        self.db.conn.executemany("INSERT OR IGNORE INTO forgotten (key, kind, erasure_id) VALUES (?, ?, ?)",
                                 [(key, kind, self.erasure_id) for key, kind in keys])

    def _tell_alerts(self, batch: Plan) -> None:
        """One timeline line per alert and erasure, its count kept up to date batch by batch."""
        for alert_id in sorted(batch.alerts):
            detail = f"{_posts(self.plan.alerts[alert_id])} behind this alert erased ({self.what})"
            if alert_id in self.event_of:
                self.db.execute("UPDATE alert_events SET detail = ? WHERE id = ?", [detail, self.event_of[alert_id]])
            else:
                self.event_of[alert_id] = self.db.execute(
                    "INSERT INTO alert_events (alert_id, at, actor, kind, detail) VALUES (?, ?, ?, 'erased', ?)",
                    [alert_id, self.now, self.actor, detail]).lastrowid


def wipe_log(db) -> bool:
    """Copy the write-ahead log into the database file and empty it, so that no older copy of an
    erased page stays in either. False when another program is reading an older state of the file:
    then only part could be copied, and the rest goes at a later checkpoint (the service makes one
    at its next heartbeat after an erasure). It never waits for others: a checkpoint that waited
    would hold up every writer meanwhile."""
    timeout = db.execute("PRAGMA busy_timeout").fetchone()[0]
    db.execute("PRAGMA busy_timeout = 0")
    try:
        busy, log_frames, copied = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        db.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    return not busy and log_frames == copied


def erase_old_mentions(db, keep_seconds: float, now: dt.datetime | None = None) -> int:
    """Retention (`service.keep_mentions`): erase mentions created more than `keep_seconds` ago,
    and keep that history out of later crawls; return how many went."""
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = to_iso(now - dt.timedelta(seconds=keep_seconds))
    selection = Selection(before=cutoff)
    if not db.execute("SELECT 1 FROM mentions WHERE created_at < ? LIMIT 1", [cutoff]).fetchone():
        return 0
    done = erase(db, selection, what=f"service.keep_mentions: mentions created before {cutoff}",
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


def _scrub_alerts(db, batch: Plan) -> None:
    """Take the batch's posts out of the alerts' stored explanations (their quotes, and their words
    among the terms standing out, in the summary and the timeline)."""
    from alerts.explain import without_erased_words

    erased = set(batch.mention_ids)
    texts_of: dict[int, list[str]] = {}
    for alert_id, title, text in db.execute(
            "SELECT am.alert_id, m.title, m.text FROM alert_mentions am JOIN mentions m ON m.id = am.mention_id "
            "WHERE am.mention_id IN (SELECT id FROM temp.erasing)"):
        texts_of.setdefault(alert_id, []).append(f"{title or ''}\n{text}")
    for alert_id in sorted(batch.alerts):
        row = db.execute("SELECT explanation FROM alerts WHERE id = ?", [alert_id]).fetchone()
        explanation = json.loads(row[0]) if row and row[0] else {}
        if "top_mentions" in explanation:
            top = explanation["top_mentions"]
            kept = [m for m in top if m.get("mention_id") not in erased]
            # the next ranked posts behind the alert take the erased ones' places
            explanation["top_mentions"] = kept if len(kept) == len(top) else _next_ranked(db, alert_id, len(top))
        explanation, rewrite = without_erased_words(explanation, texts_of.get(alert_id, []))
        db.execute("UPDATE alerts SET explanation = ? WHERE id = ?", [json.dumps(explanation), alert_id])
        for event_id, detail in db.execute("SELECT id, detail FROM alert_events WHERE alert_id = ? "
                                           "AND detail IS NOT NULL", [alert_id]).fetchall():
            if rewrite(detail) != detail:
                db.execute("UPDATE alert_events SET detail = ? WHERE id = ?", [rewrite(detail), event_id])


def _next_ranked(db, alert_id: int, count: int) -> list[dict]:
    """The alert's `count` best ranked posts that are not being erased, as its explanation's top
    mentions (alerts.explain.top_entry), scored by the alert's model."""
    from alerts.explain import top_entry

    cursor = db.execute(
        "SELECT m.id AS mention_id, m.source, m.author, m.author_reach, m.url, m.created_at, m.title, m.text, "
        "s.p_negative FROM alert_mentions am JOIN mentions m ON m.id = am.mention_id "
        "JOIN alerts a ON a.id = am.alert_id "
        "LEFT JOIN scores s ON s.mention_id = m.id AND s.model_id = a.model_id "
        "WHERE am.alert_id = ? AND am.rank IS NOT NULL AND m.id NOT IN (SELECT id FROM temp.erasing) "
        "ORDER BY am.rank LIMIT ?", [alert_id, count])
    names = [d[0] for d in cursor.description]
    return [top_entry(dict(zip(names, row))) for row in cursor.fetchall()]


def _posts(count: int) -> str:
    return "1 post" if count == 1 else f"{count} posts"


def lowest_new_mention_id(conn) -> int:
    """New mentions must get ids above this one (the highest stored or ever erased)."""
    return conn.execute(
        "SELECT max(coalesce((SELECT max(id) FROM mentions), 0), "
        "coalesce((SELECT max(highest_mention_id) FROM erasures), 0))").fetchone()[0]


def forgotten_positions(conn, rows: list[tuple], earlier_ids: dict[int, str] | None = None) -> set[int]:
    """Which of these stored-form rows (source, external_id, url, author, ... created_at) are of a
    forgotten post or author, or older than erased history; cheap when nothing was ever kept out.
    `earlier_ids` (row position -> id) names the id a row's post had before its source's ids
    changed: a post erased under that id stays out too."""
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
        if earlier_ids and position in earlier_ids:
            keys.append(post_key(source, earlier_ids[position]))
        if author:
            keys += incoming_author_keys(source, author)
        for key in keys:
            keys_of.setdefault(key, []).append(position)
    all_keys = list(keys_of)
    for start in range(0, len(all_keys), _CHUNK):
        chunk = all_keys[start:start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for (key,) in conn.execute(f"SELECT key FROM forgotten WHERE key IN ({marks})", chunk):
            found.update(keys_of[key])
    return found
