"""Mention records and the one function that stores them.

Collectors, spiders and imports all yield `Mention` objects; `save_mentions` validates them, writes
them in batches (each batch one transaction), never duplicates a (source, external_id) pair, and
links each stored mention to every watch it matched.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlite_utils import Database

from storage.db import utc_now_iso
from storage.timeutil import parse_timestamp

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 100_000
DEFAULT_BATCH_SIZE = 5_000

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

    def normalized(self) -> "Mention":
        """A copy with every field checked and in stored form; ValueError names the bad field."""
        if self.checked:
            return self
        (source, external_id, url, author, author_reach, title, text, lang, rating,
         created_at) = self.stored_row()
        return Mention(source, external_id, text, created_at, url, author, author_reach, title,
                       lang, rating, self.stored_watches(), checked=True)

    def stored_row(self) -> tuple:
        """The row as stored, in _COLUMNS order, after checking every field (ValueError if bad)."""
        if self.checked:
            return (self.source, self.external_id, self.url, self.author, self.author_reach,
                    self.title, self.text, self.lang, self.rating, self.created_at)
        title = _optional_text(self.title, "title", 2_000)
        text = self.text
        if not isinstance(text, str) or not (title or text.strip()):
            raise ValueError("text: empty")
        try:
            created_at = parse_timestamp(self.created_at)
        except ValueError as exc:
            raise ValueError(f"created_at: {exc}") from None
        return (
            _required_text(self.source, "source", 100),
            _required_text(self.external_id, "external_id", 500),
            _optional_text(self.url, "url", 4_000),
            _optional_text(self.author, "author", 500),
            _optional_number(self.author_reach, "author_reach", int),
            title,
            text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS],
            _optional_text(self.lang, "lang", 20),
            _optional_number(self.rating, "rating", float),
            created_at,
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
    rejects: list[tuple[str, str]] = field(default_factory=list)  # (external id or position, reason)

    def add(self, other: "SaveResult") -> None:
        self.inserted += other.inserted
        self.present += other.present
        self.rejected += other.rejected
        self.rejects.extend(other.rejects)


def save_mentions(
    db: Database,
    mentions: Iterable[Mention],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch=None,
) -> SaveResult:
    """Validate and store mentions; a malformed one is logged and skipped, the rest are kept.

    Each batch is committed on its own, so a failure or a killed process loses at most the batch
    in flight, never a row committed before it. `on_batch(result_so_far)` runs after each commit.
    """
    total = SaveResult()
    for batch in _batches(mentions, batch_size):
        total.add(_save_batch(db, batch))
        if on_batch is not None:
            on_batch(total)
    return total


def existing_external_ids(db: Database, source: str, external_ids: Iterable[str]) -> set[str]:
    """Which of these ids of one source are already stored (collectors stop paging at them)."""
    ids = [str(i) for i in external_ids]
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            f"SELECT external_id FROM mentions WHERE source = ? AND external_id IN ({marks})",
            [source, *chunk],
        ).fetchall()
        found.update(row[0] for row in rows)
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


def _save_batch(db: Database, batch: list[Mention]) -> SaveResult:
    result = SaveResult()
    rows, watches_of = [], {}
    for position, mention in enumerate(batch):
        try:
            row = mention.stored_row()
            watches = mention.stored_watches()
        except (ValueError, TypeError, AttributeError) as exc:
            key = _describe(mention, position)
            log.warning("rejected mention %s: %s", key, exc)
            result.rejected += 1
            result.rejects.append((key, str(exc)))
            continue
        rows.append(row)
        if watches:
            key = (row[0], row[1])  # (source, external_id)
            watches_of[key] = watches_of.get(key, ()) + watches
    if not rows:
        return result
    now = utc_now_iso()
    conn = db.conn
    with db.atomic():
        # New rows get ids above the current maximum: that is how the FTS index and the watch
        # links find them without a lookup per row.
        last_id = conn.execute("SELECT coalesce(max(id), 0) FROM mentions").fetchone()[0]
        conn.executemany(_INSERT_MENTION, [(*row, now) for row in rows])
        conn.execute(
            "INSERT INTO mentions_fts (rowid, title, text) "
            "SELECT id, title, text FROM mentions WHERE id > ?", [last_id])
        new_ids = conn.execute(
            "SELECT source, external_id, id FROM mentions WHERE id > ?", [last_id]).fetchall()
        result.inserted = len(new_ids)
        if watches_of:
            _link_watches(conn, watches_of, new_ids, now)
    result.present = len(rows) - result.inserted
    return result


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


_INSERT_MENTION = (
    f"INSERT OR IGNORE INTO mentions ({', '.join(_COLUMNS)}, fetched_at) "
    f"VALUES ({', '.join('?' * (len(_COLUMNS) + 1))})"
)


def _describe(mention: object, position: int) -> str:
    external_id = getattr(mention, "external_id", None)
    return f"id {external_id}" if external_id not in (None, "") else f"item {position + 1}"


def _required_text(value: object, name: str, limit: int) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: missing")
    if len(value) > limit:
        raise ValueError(f"{name}: longer than {limit} characters")
    return value.strip()


def _optional_text(value: object, name: str, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected text, got {type(value).__name__}")
    return value[:limit]


def _optional_number(value: object, name: str, kind: type):
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not a number: {str(value)[:30]!r}") from None
