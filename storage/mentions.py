"""Mention records and the one function that stores them.

Collectors, spiders and imports all yield `Mention` objects; `save_mentions` validates them, writes
them in batches (each batch one transaction), never duplicates a (source, external_id) pair, and
links each stored mention to every watch it matched. A link records how it was made
(`mention_watches.linked_by`): 'query' when a collector matched the watch's query (the column's
default, so the collectors' insert does not name it), 'import' when `mentionwatch import --watch`
linked a row of a file (`Mention.linked_by`); `mentionwatch rematch` re-applies queries to the first
kind only.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlite_utils import Database

from storage.db import utc_now_iso
from storage.erasure import forgotten_positions, lowest_new_mention_id, url_form
from storage.timeutil import parse_timestamp, to_iso

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 100_000
DEFAULT_BATCH_SIZE = 5_000
MAX_SQLITE_INTEGER = 2**63 - 1  # SQLite INTEGER is a signed 64-bit number
# Mentions dated outside these bounds are bad data (a year 0001 or 9999 placeholder, a wrong epoch
# unit): they would stretch every chart and report over centuries, so they are rejected.
EARLIEST_CREATED_AT = "1990-01-01T00:00:00Z"
FUTURE_ALLOWANCE = dt.timedelta(days=1)  # clocks and time zones of sources differ a little
LINKED_BY_QUERY = "query"  # how a watch link was made (mention_watches.linked_by)
LINKED_BY_IMPORT = "import"

_COLUMNS = (
    "source", "external_id", "url", "author", "author_reach",
    "title", "text", "lang", "rating", "created_at",
)


@dataclass
class Mention:
    """One public post or review that mentions a watched customer, brand or topic."""

    source: str
    external_id: str
    text: str
    created_at: object  # anything parse_timestamp understands; stored as UTC ISO text
    url: str | None = None
    author: str | None = None
    author_reach: int | None = None  # followers, karma, ... when the source tells
    title: str | None = None
    lang: str | None = None
    rating: float | None = None  # review stars, when the source has them
    watches: tuple[str, ...] = field(default_factory=tuple)
    checked: bool = field(default=False, repr=False, compare=False)  # already normalized
    cut: bool = field(default=False, repr=False, compare=False)  # normalizing cut its text to MAX_TEXT_CHARS
    linked_by: str = field(default=LINKED_BY_QUERY, repr=False, compare=False)  # or LINKED_BY_IMPORT
    # the id an earlier version of its collector gave this post: stored under it with the same url
    # and title, it stays there, and erased under it, it stays out (see _save_batch)
    earlier_id: str | None = field(default=None, repr=False, compare=False)
    # the title is the thread's a comment was written in: shown with it, never matched on (m019)
    title_is_thread: bool = field(default=False, repr=False, compare=False)

    def normalized(self) -> "Mention":
        """A copy with every field checked and in stored form; ValueError names the bad field."""
        if self.checked:
            return self
        (source, external_id, url, author, author_reach, title, text, lang, rating,
         created_at) = self.stored_row()
        return Mention(source, external_id, text, created_at, url, author, author_reach, title,
                       lang, rating, self.stored_watches(), checked=True, cut=len(text) < len(self.text),
                       linked_by=self.linked_by, earlier_id=self.earlier_id,
                       title_is_thread=self.title_is_thread)

    @property
    def own_title(self) -> str | None:
        """The title a watch's query is matched on: none for a comment under its thread's title."""
        return None if self.title_is_thread else self.title

    def stored_row(self, latest_created_at: str | None = None) -> tuple:
        """The row as stored, in _COLUMNS order, after checking every field (ValueError if bad).

        `latest_created_at` is the latest time allowed (default: now plus FUTURE_ALLOWANCE).
        """
        if self.checked:
            return (self.source, self.external_id, self.url, self.author, self.author_reach,
                    self.title, self.text, self.lang, self.rating, self.created_at)
        title = _optional_text(self.title, "title", 2_000)
        text = self.text
        if not isinstance(text, str) or not (title or text.strip()):
            raise ValueError("text: empty")
        _check_encodable(text, "text")
        return (
            _required_text(self.source, "source", 100),
            _required_text(self.external_id, "external_id", 500),
            _optional_text(self.url, "url", 4_000),
            _optional_text(self.author, "author", 500),
            _optional_count(self.author_reach, "author_reach"),
            title,
            text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS],
            _optional_text(self.lang, "lang", 20),
            _optional_rating(self.rating),
            _created_at(self.created_at, latest_created_at or latest_allowed_created_at()),
        )

    def stored_watches(self) -> tuple[str, ...]:
        watches = self.watches
        if type(watches) is tuple and all(type(w) is str for w in watches):
            return watches
        return tuple(str(w) for w in watches)


@dataclass
class SaveResult:
    """What one `save_mentions` call did."""

    inserted: int = 0
    present: int = 0  # already stored (also counts repeats inside the same call)
    rejected: int = 0
    forgotten: int = 0  # posts or authors erased on request (`mentionwatch forget`): not stored again
    cut: int = 0  # texts longer than MAX_TEXT_CHARS, stored cut to that length
    texts_replaced: int = 0  # of those updated, how many took another text
    updated_ids: list[int] = field(default_factory=list)  # of those present, the ones given new values (`update_up_to_id`)
    recounted_ids: list[int] = field(default_factory=list)  # of those, the ones whose time, text or title changed
    # ids of stored mentions whose row in this batch an erasure keeps out (left as they are)
    kept_out_stored: list[int] = field(default_factory=list)
    rejects: list[tuple[str, str]] = field(default_factory=list)  # (external id or position, reason)
    # watch -> mentions found stored that an import linked to that watch (they were not in it)
    linked_stored: dict[str, int] = field(default_factory=dict)

    @property
    def updated(self) -> int:
        return len(self.updated_ids)

    def add(self, other: "SaveResult") -> None:
        self.inserted += other.inserted
        self.present += other.present
        self.rejected += other.rejected
        self.forgotten += other.forgotten
        self.cut += other.cut
        self.texts_replaced += other.texts_replaced
        self.updated_ids.extend(other.updated_ids)
        self.recounted_ids.extend(other.recounted_ids)
        self.kept_out_stored.extend(other.kept_out_stored)
        self.rejects.extend(other.rejects)
        for watch, count in other.linked_stored.items():
            self.linked_stored[watch] = self.linked_stored.get(watch, 0) + count


def save_mentions(
    db: Database,
    mentions: Iterable[Mention],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch=None,
    update_up_to_id: int | None = None,
) -> SaveResult:
    """Validate and store mentions; a malformed one is logged and skipped, the rest are kept.

    Each batch is committed on its own, so a failure or a killed process loses at most the batch
    in flight, never a row committed before it. `on_batch(result_so_far)` runs after each commit.
    With `update_up_to_id`, a mention already stored with an id up to it takes the new values
    (`import --update`: see `_update_stored`).
    """
    total = SaveResult()
    for batch in _batches(mentions, batch_size):
        total.add(_save_batch(db, batch, update_up_to_id))
        if on_batch is not None:
            on_batch(total)
    return total


def existing_external_ids(db: Database, source: str, external_ids: Iterable[str]) -> set[str]:
    """Which of these ids of one source are already stored, for any watch."""
    return _ids_found(db, "SELECT m.external_id FROM mentions m WHERE m.source = ?", [source],
                      external_ids)


def stored_for_watch(db: Database, watch: str, source: str, external_ids: Iterable[str]) -> set[str]:
    """Which of these ids of one source are stored *and linked to this watch*: where this watch's
    collector (poller or spider) may stop paging, or skip a page.

    A post stored for another watch does not count: this watch must still see it (and be linked
    to it when it matches), and must not stop paging early because of it.
    """
    return _ids_found(
        db, "SELECT m.external_id FROM mentions m JOIN mention_watches w ON w.mention_id = m.id "
            "WHERE w.watch = ? AND m.source = ?", [watch, source], external_ids)


def _ids_found(db: Database, select: str, params: list, external_ids: Iterable[str]) -> set[str]:
    """Which of these ids `select` finds (it reads `mentions m`, selects the id first and ends in a
    WHERE clause)."""
    return {row[0] for row in _rows_found(db, select, params, external_ids)}


def _rows_found(db: Database, select: str, params: list, external_ids: Iterable[str]) -> set[tuple]:
    """The rows `select` gives for these ids (it reads `mentions m` and ends in a WHERE clause),
    asked in chunks that stay under SQLite's limit on query parameters."""
    ids = [str(i) for i in external_ids]
    found: set[tuple] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(db.execute(f"{select} AND m.external_id IN ({marks})", [*params, *chunk]).fetchall())
    return found


def _batches(items: Iterable[Mention], size: int) -> Iterator[list[Mention]]:
    batch: list[Mention] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def latest_allowed_created_at() -> str:
    """The latest `created_at` a mention may have now, as stored text. Importers and pollers check
    every mention against it, so it is worked out once a minute (a day's allowance needs no more)."""
    return _latest_allowed_in_minute(int(time.time() // 60))


@functools.lru_cache(maxsize=1)
def _latest_allowed_in_minute(minute: int) -> str:
    return to_iso(dt.datetime.fromtimestamp(minute * 60, dt.timezone.utc) + FUTURE_ALLOWANCE)


def _save_batch(db: Database, batch: list[Mention], update_up_to_id: int | None = None) -> SaveResult:
    result = SaveResult()
    rows, watches_of, imported_of = [], {}, {}  # (source, external_id) -> watches, by how linked
    earlier_ids: dict[int, str] = {}  # row position -> the earlier id of a post not stored under it
    stored_earlier = _stored_earlier_ids(db, batch)
    thread_titled: set[tuple] = set()  # (source, external_id) of comments stored with their thread's title
    latest = latest_allowed_created_at()
    for position, mention in enumerate(batch):
        if mention.earlier_id and _same_post_key(mention.source, mention.earlier_id, mention.url,
                                                 mention.title) in stored_earlier:
            # stored before its collector's ids changed: it keeps its id, and is found as stored
            mention = dataclasses.replace(mention, external_id=mention.earlier_id, checked=False)
        try:
            row = mention.stored_row(latest)
            watches = mention.stored_watches()
        except (ValueError, TypeError, AttributeError) as exc:
            key = _describe(mention, position)
            log.warning("rejected mention %s: %s", key, exc)
            result.rejected += 1
            result.rejects.append((key, str(exc)))
            continue
        if mention.earlier_id and mention.earlier_id != row[1]:
            earlier_ids[len(rows)] = mention.earlier_id
        rows.append(row)
        if mention.cut or len(row[6]) < len(mention.text):
            result.cut += 1
        if row[5] is not None and (mention.title_is_thread or _is_reddit_comment(row[0], row[1])):
            thread_titled.add((row[0], row[1]))
        if watches:
            key = (row[0], row[1])  # (source, external_id)
            links = watches_of if mention.linked_by == LINKED_BY_QUERY else imported_of
            links[key] = links.get(key, ()) + watches
    if not rows:
        return result
    now = utc_now_iso()
    conn = db.conn
    with db.atomic():
        forgotten = forgotten_positions(conn, rows, earlier_ids)
        if forgotten:
            result.forgotten = len(forgotten)
            # a stored mention with the id of a row kept out is left as it is, update or not: said so
            result.kept_out_stored = _stored_ids(conn, [rows[position] for position in forgotten],
                                                 MAX_SQLITE_INTEGER if update_up_to_id is None else update_up_to_id)
            rows = [row for position, row in enumerate(rows) if position not in forgotten]
        # New rows get ids above the current maximum: that is how the FTS index and the watch
        # links find them without a lookup per row. Above erased ids too, which SQLite would reuse.
        highest_id = conn.execute("SELECT coalesce(max(id), 0) FROM mentions").fetchone()[0]
        last_id = lowest_new_mention_id(conn)
        if last_id == highest_id:
            conn.executemany(_INSERT_MENTION, [(*row, now) for row in rows])
        else:
            conn.executemany(_INSERT_MENTION_WITH_ID,
                             [(last_id + n, *row, now) for n, row in enumerate(rows, start=1)])
        conn.execute(
            "INSERT INTO mentions_fts (rowid, title, text) "
            "SELECT id, title, text FROM mentions WHERE id > ?", [last_id])
        new_ids = conn.execute(
            "SELECT source, external_id, id FROM mentions WHERE id > ?", [last_id]).fetchall()
        result.inserted = len(new_ids)
        if watches_of:
            _link_watches(conn, watches_of, new_ids, now)
        if imported_of:
            result.linked_stored = _link_imported(conn, imported_of, new_ids, now)
        if update_up_to_id is not None:
            result.updated_ids, result.recounted_ids, result.texts_replaced = _update_stored(conn, rows,
                                                                                            update_up_to_id)
        # new ones, and stored ones given their thread's title now (import --update)
        conn.executemany("UPDATE mentions SET title_is_thread = 1 WHERE source = ? AND external_id = ? "
                         "AND title IS NOT NULL AND title_is_thread = 0", sorted(thread_titled))
    result.present = len(rows) - result.inserted
    if result.forgotten:
        log.info("%d mentions not stored: erased on request before (mentionwatch forget)", result.forgotten)
    return result


def _is_reddit_comment(source: str, external_id: str) -> bool:
    """A Reddit comment ('t1_…'), however it came in (collected, or imported from a file with its
    thread's title): its title is its thread's, as m019 marks those stored before."""
    return source == "reddit" and external_id.startswith("t1_")


def _stored_ids(conn, rows: list[tuple], up_to_id: int) -> list[int]:
    """Ids of the mentions stored (up to `up_to_id`) under these rows' (source, external_id)."""
    found: list[int] = []
    for source in {row[0] for row in rows}:
        ids = [row[1] for row in rows if row[0] == source]
        found += [mention_id for (mention_id,) in _rows_found(
            conn, "SELECT m.id FROM mentions m WHERE m.source = ? AND m.id <= ?", [source, up_to_id], ids)]
    return sorted(found)


_UPDATED_COLUMNS = ("created_at", "text", "title", "url", "author", "author_reach", "lang", "rating")
_KEPT_WHEN_MISSING = frozenset(_UPDATED_COLUMNS) - {"created_at", "text"}  # a file without the column


def _update_stored(conn, rows: list[tuple], up_to_id: int) -> tuple[list[int], list[int], int]:
    """Give the mentions stored before (id up to `up_to_id`) with these rows' (source, external_id)
    the rows' values; (the ids of those that changed, of those whose time, text or title changed:
    what alerts count, how many took another text). A value the row lacks
    (an author a file has no column for) keeps the stored one. A changed text or title loses its
    scores: the next scoring run scores the new words."""
    at = {column: _COLUMNS.index(column) for column in _UPDATED_COLUMNS}
    wanted = {(row[0], row[1]): row for row in rows}
    changed: list[tuple] = []
    rescore: list[tuple[int]] = []
    recounted: list[int] = []
    texts = 0
    for source in {key[0] for key in wanted}:
        ids = [external_id for (row_source, external_id) in wanted if row_source == source]
        stored = _rows_found(
            conn, f"SELECT m.external_id, m.id, {', '.join(_UPDATED_COLUMNS)} FROM mentions m "
                  "WHERE m.source = ? AND m.id <= ?", [source, up_to_id], ids)
        for external_id, mention_id, *old in stored:
            row = wanted[(source, external_id)]
            new = [row[at[column]] if row[at[column]] is not None or column not in _KEPT_WHEN_MISSING
                   else value for column, value in zip(_UPDATED_COLUMNS, old)]
            if new != old:
                changed.append((*new, mention_id))
                texts += new[1] != old[1]
                if new[:3] != old[:3]:  # created_at, text, title
                    recounted.append(mention_id)
                if new[1:3] != old[1:3]:  # text, title
                    rescore.append((mention_id,))
    conn.executemany(f"UPDATE mentions SET {', '.join(f'{c} = ?' for c in _UPDATED_COLUMNS)} WHERE id = ?",
                     changed)
    conn.executemany("DELETE FROM scores WHERE mention_id = ?", rescore)
    if rescore:  # a running service's score job has passed them: it reads them again (m018)
        conn.execute("INSERT INTO rescore_requests (id, lowest_mention_id) VALUES (1, ?) ON CONFLICT (id) "
                     "DO UPDATE SET lowest_mention_id = min(lowest_mention_id, excluded.lowest_mention_id)",
                     [min(mention_id for (mention_id,) in rescore)])
    return [values[-1] for values in changed], recounted, texts


def _stored_earlier_ids(db: Database, batch: list[Mention]) -> set[tuple]:
    """`_same_post_key`s of the posts stored under an earlier id of one of the batch's mentions.
    The address and title tell the same post from another one the earlier ids confused (item '1'
    of two blogs)."""
    wanted: dict[str, list[str]] = {}
    for mention in batch:
        if mention.earlier_id and isinstance(mention.source, str):
            wanted.setdefault(mention.source, []).append(mention.earlier_id)
    found: set[tuple] = set()
    for source, ids in wanted.items():
        rows = _rows_found(db, "SELECT m.external_id, m.source, m.url, m.title FROM mentions m "
                               "WHERE m.source = ?", [source], ids)
        found.update(_same_post_key(source, external_id, url, title) for external_id, source, url, title in rows)
    return found


def _same_post_key(source: str, external_id: str, url, title) -> tuple:
    """What must agree for a post to be the one stored under an earlier id: the id, the address as
    compared (scheme, 'www.' and tracking parameters aside) and the title."""
    return (source, external_id, url_form(url) if isinstance(url, str) else None,
            title.strip() if isinstance(title, str) else None)


def _link_watches(conn, watches_of: dict, new_ids: list, now: str) -> None:
    """Record which watches each mention matched; a stored mention may gain a new watch."""
    links = []
    for source, external_id, mention_id in new_ids:
        for watch in watches_of.pop((source, external_id), ()):
            links.append((watch, mention_id, now))
    conn.executemany(
        "INSERT OR IGNORE INTO mention_watches (watch, mention_id, matched_at) VALUES (?, ?, ?)",
        links)
    # what is left was already stored before this batch
    conn.executemany(
        "INSERT OR IGNORE INTO mention_watches (watch, mention_id, matched_at) "
        "SELECT ?, id, ? FROM mentions WHERE source = ? AND external_id = ?",
        [(watch, now, source, external_id)
         for (source, external_id), watches in watches_of.items() for watch in watches])


def _link_imported(conn, watches_of: dict, new_ids: list, now: str) -> dict[str, int]:
    """Like _link_watches, for links an import makes: recorded as 'import', also when the mention
    was already linked to the watch by a query (the file is what the analyst chose to bring in).
    Returns, per watch, how many mentions stored before this batch it was newly linked to."""
    links = [(watch, mention_id, now) for source, external_id, mention_id in new_ids
             for watch in watches_of.pop((source, external_id), ())]
    conn.executemany(_IMPORT_LINK + "VALUES (?, ?, ?, 'import')" + _AS_IMPORT, links)
    stored_links: dict[str, list[tuple]] = {}  # what is left was already stored before this batch
    for (source, external_id), watches in watches_of.items():
        for watch in watches:
            stored_links.setdefault(watch, []).append((watch, now, source, external_id))
    newly_linked = {}
    for watch, rows in stored_links.items():
        added = conn.executemany(_IMPORT_LINK.replace("INSERT", "INSERT OR IGNORE", 1) + _STORED_ONE, rows)
        newly_linked[watch] = max(added.rowcount, 0)
        # those linked by a query before are the import's now
        conn.executemany(_IMPORT_LINK + _STORED_ONE + _AS_IMPORT, rows)
    return newly_linked


_IMPORT_LINK = "INSERT INTO mention_watches (watch, mention_id, matched_at, linked_by) "
_STORED_ONE = "SELECT ?, id, ?, 'import' FROM mentions WHERE source = ? AND external_id = ?"
_AS_IMPORT = " ON CONFLICT (watch, mention_id) DO UPDATE SET linked_by = 'import'"

_INSERT_MENTION = (
    f"INSERT OR IGNORE INTO mentions ({', '.join(_COLUMNS)}, fetched_at) "
    f"VALUES ({', '.join('?' * (len(_COLUMNS) + 1))})"
)
_INSERT_MENTION_WITH_ID = (
    f"INSERT OR IGNORE INTO mentions (id, {', '.join(_COLUMNS)}, fetched_at) "
    f"VALUES ({', '.join('?' * (len(_COLUMNS) + 2))})"
)


def _describe(mention: object, position: int) -> str:
    external_id = getattr(mention, "external_id", None)
    return f"id {external_id}" if external_id not in (None, "") else f"item {position + 1}"


def _created_at(value: object, latest: str) -> str:
    try:
        created_at = parse_timestamp(value)
    except ValueError as exc:
        raise ValueError(f"created_at: {exc}") from None
    # stored text is fixed-width, so comparing the text compares the times
    if created_at < EARLIEST_CREATED_AT:
        raise ValueError(f"created_at: {created_at} is before {EARLIEST_CREATED_AT[:4]}")
    if created_at > latest:
        raise ValueError(f"created_at: {created_at} is in the future")
    return created_at


def _required_text(value: object, name: str, limit: int) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: missing")
    if len(value) > limit:
        raise ValueError(f"{name}: longer than {limit} characters")
    _check_encodable(value, name)
    return value.strip()


def _optional_text(value: object, name: str, limit: int) -> str | None:
    """None when empty; a number is kept as its text (an author named 42), other types refused
    (a collector's `parse_items` then keeps the mention without this field)."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**100:
        value = str(value)
    elif isinstance(value, float) and math.isfinite(value):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected text, got {type(value).__name__}")
    _check_encodable(value, name)
    return value[:limit]


def _check_encodable(value: str, name: str) -> None:
    """SQLite stores UTF-8: a lone surrogate (e.g. JSON "\\udc80") would fail the whole batch."""
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name}: not valid Unicode text (contains a lone surrogate)") from None


def _optional_count(value: object, name: str) -> int | None:
    """A whole number that fits SQLite's INTEGER (a larger one would fail the whole batch)."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float('inf'))
        raise ValueError(f"{name}: not a number: {str(value)[:30]!r}") from None
    if not 0 <= number <= MAX_SQLITE_INTEGER:
        raise ValueError(f"{name}: {str(value)[:30]} is out of range (0 to {MAX_SQLITE_INTEGER})")
    return number


def _optional_rating(value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: float(10**400)
        raise ValueError(f"rating: not a number: {str(value)[:30]!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"rating: {str(value)[:30]} is not a finite number")
    return number
