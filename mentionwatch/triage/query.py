"""Selecting mentions for export, reports and search: filters, the sentiment model to read, time limits.

`export_rows(db, filters, model_id)` runs one SQL query and yields one dict per mention straight
from the cursor, so a million rows never sit in memory at once. `search_rows` is `search`'s.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace

from mentionwatch.triage import fulltext, query_syntax
from storage.mentions import EARLIEST_CREATED_AT
from storage.timeutil import from_iso, parse_given_time, to_iso

TRIAGE_STATES = ("flagged", "handled", "ignored")
_RELATIVE_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$")
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
SEARCH_ORDERS = {"newest": "newest first", "oldest": "oldest first", "relevance": "best match first"}
_SEARCH_COLUMNS = "m.id, m.source, m.external_id, m.created_at, m.author, m.url, m.title, m.text"

# Column order of every export; the names are what a spreadsheet user sees in the header.
EXPORT_COLUMNS = (
    "mention_id", "created_at", "source", "watches", "author", "author_reach", "url", "title",
    "text", "lang", "sentiment", "p_negative", "p_neutral", "p_positive", "alert_ids", "triage_state",
    "triage_by", "triage_at", "triage_note",
)
# the columns of exports written before `lang` was one: their formula guards are taken off too
EARLIER_EXPORT_COLUMNS = (tuple(name for name in EXPORT_COLUMNS if name != "lang"),)


class FilterError(ValueError):
    """A filter value the user typed cannot be used; the message is the one line shown."""


@dataclass
class MentionFilters:
    """Which mentions to select; every field left empty means 'no limit'."""

    watches: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    sentiments: tuple[str, ...] = ()  # labels, or 'unscored'
    alert_ids: tuple[int, ...] = ()
    since: str | None = None  # stored-form UTC text, inclusive
    until: str | None = None  # stored-form UTC text, exclusive
    min_reach: int | None = None
    query: str | None = None  # SQLite FTS5 syntax; CJK words found as text (fulltext.py)
    unhandled: bool = False  # neither handled nor ignored
    states: tuple[str, ...] = ()  # triage states, or 'none'
    limit: int | None = None


def parse_time_limit(text: str | None, now: dt.datetime | None = None) -> str | None:
    """'7d' / '12h' (that long before now) or any timestamp -> stored-form UTC text.

    Stored times are whole seconds, so a limit with a fraction of a second is rounded up to the
    next whole one: as --since it leaves out a mention at the second before it, as --until (not
    included) it keeps one.
    """
    if text is None or not str(text).strip():
        return None
    match = _RELATIVE_TIME.match(str(text))
    if match:
        now = now or dt.datetime.now(dt.timezone.utc)
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        try:
            moment = now - dt.timedelta(seconds=seconds)
            return _next_second(to_iso(moment)) if moment.microsecond else to_iso(moment)
        except OverflowError:  # timedelta or the date itself out of range: before year 1
            raise FilterError(f"{text.strip()[:40]!r} reaches back before year 1 (use a date such as "
                              "2015-02-20, or a shorter span such as 30d)") from None
    try:
        stored = parse_given_time(text)
    except (ValueError, OverflowError) as exc:
        raise FilterError(f"{text!r} is not a time: {exc} (use e.g. 2015-02-20, "
                          "2015-02-20T08:00:00Z, 2015-02-20 08:00 America/New_York or 7d)") from None
    if _is_number(_ZONE_WORD_AT_END.sub("", str(text).strip())) and stored < EARLIEST_CREATED_AT:
        # a year (2015) or a date without dashes (20150220) would be Unix seconds in 1970:
        # a period of no mention at all, or of every one, without a word
        raise FilterError(f"{text.strip()!r} is read as Unix seconds, {stored}, before any "
                          "mention can be dated: write a date such as 2015-02-20 (or 7d)")
    return _next_second(stored) if _has_fraction(str(text)) else stored


def _is_number(text: str) -> bool:
    """Whether a timestamp is a plain number (Unix seconds or milliseconds, as parse_timestamp
    reads it)."""
    return text.strip().lstrip("-").replace(".", "", 1).isdigit()


_ZONE_WORD_AT_END = re.compile(r"(?<=\d)\s+[A-Za-z][A-Za-z_]*(?:/[A-Za-z0-9_+-]+)*$")


def _has_fraction(text: str) -> bool:
    """Whether a timestamp names a moment inside a second (ISO 8601 or Unix seconds with a
    fraction), which parse_timestamp cuts down to the whole second."""
    text = _ZONE_WORD_AT_END.sub("", text.strip())  # '10:00:00.5 Europe/Paris': the fraction is the time's
    if _is_number(text):  # Unix seconds, or milliseconds as it reads them
        seconds = float(text)
        seconds = seconds / 1000.0 if seconds > 1e11 else seconds
        return seconds != int(seconds)
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).microsecond != 0
    except ValueError:
        return False


def _next_second(stored: str) -> str:
    """The stored time one second later; the last second of year 9999 stays as it is."""
    try:
        return to_iso(from_iso(stored) + dt.timedelta(seconds=1))
    except OverflowError:
        return stored


# The model with the most scores; on a tie the one that scored last, then the first by name. Counts
# come from a scan of an index, and each model's latest time from one look-up in
# idx_scores_model_time (migration m015): 0.10 s for a million scores, where max(scored_at) over
# every row took 0.54 s.
MOST_USED_MODEL_SQL = """
    SELECT per_model.model_id
    FROM (SELECT model_id, count(*) AS scored FROM scores GROUP BY model_id) AS per_model
    ORDER BY per_model.scored DESC,
             (SELECT max(s.scored_at) FROM scores s WHERE s.model_id = per_model.model_id) DESC,
             per_model.model_id
    LIMIT 1"""


def choose_model_id(db, sentiment_cfg=None) -> str | None:
    """The sentiment model whose scores are read: the configured one when it has scores,
    otherwise the model with the most stored scores (None when nothing is scored)."""
    from sentiment.scorer import configured_model_id

    # a missing model file must not stop an export: then the most used model's scores are read
    preferred = configured_model_id(sentiment_cfg) if sentiment_cfg is not None else None
    if preferred and db.execute("SELECT 1 FROM scores WHERE model_id = ? LIMIT 1",
                                [preferred]).fetchone():
        return preferred
    row = db.execute(MOST_USED_MODEL_SQL).fetchone()
    return row[0] if row else preferred


def fts_query(db, text: str) -> str:
    """The query to run: as typed when it is valid FTS5, else with stray punctuation read as word
    separators (query_syntax.py).

    Raises FilterError when nothing is left to search for (a blank query, or one of only
    punctuation such as '*', '()' or '-'): FTS5 would fail with a bare 'syntax error', or quietly
    find nothing; when its structure is broken (an unclosed bracket or quote, a dangling OR);
    and when it uses Chinese, Japanese or Korean words with syntax that cannot be followed for them
    (see fulltext.py).
    """
    if not text.strip():
        raise FilterError("the search query is empty")
    if not has_searchable_word(text):
        raise FilterError(f"the search query {text!r} has no words to search for "
                          "(punctuation and symbols are not indexed)")
    query = text if _fts_error(db, text) is None else _repaired(db, text)
    try:
        fulltext.parse(query)
    except fulltext.UnsupportedQuery as exc:
        raise FilterError(f"the search query {text!r}: {exc}") from None
    return query


def _repaired(db, text: str) -> str:
    """`text`, which FTS5 refused, with its stray punctuation as word separators."""
    try:
        query = query_syntax.repaired_query(text)
    except query_syntax.UnreadableQuery as exc:
        raise FilterError(f"the search query {text!r}: {exc}") from None
    error = _fts_error(db, query)
    if error is not None:  # never searched as something else: an empty answer would look real
        raise FilterError(f"the search query {text!r} cannot be read ({error})")
    return query


def _fts_error(db, query: str) -> str | None:
    """FTS5's complaint about `query`, None when it is valid."""
    try:
        db.execute("SELECT 1 FROM mentions_fts WHERE mentions_fts MATCH ? LIMIT 1", [query]).fetchall()
    except sqlite3.OperationalError as exc:
        return str(exc)
    return None


def query_condition(db, text: str, params: dict) -> str:
    """SQL over `m` (mentions) for the full-text query `text`, its parameters added to `params`.

    Words go through the index; Chinese, Japanese and Korean words are found as text (fulltext.py).
    """
    try:
        return fulltext.search_condition(fts_query(db, text), params)
    except fulltext.UnsupportedQuery as exc:
        raise FilterError(f"the search query {text!r}: {exc}") from None


def has_searchable_word(text: str) -> bool:
    """Whether `text` has a word of a script written without spaces, or an emoji (both found as
    text, see fulltext.py), or one FTS5's tokenizer finds.

    SQLite's own tokenizer decides rather than a Python guess: its Unicode tables differ from
    Python's. It runs on a throw-away in-memory table with SQLite's tokenizer (unicode61), without
    the separators mentions_fts adds, which would cost each search some hundredths of a second.
    """
    if fulltext.has_no_space_script(text):  # a Chinese word or an emoji: found as text
        return True
    # past that test the text holds none of the characters mentions_fts also splits at (every
    # one of FTS_SEPARATOR_RANGES is in fulltext.NO_SPACE_RANGES), so the plain tokenizer reads it
    # as mentions_fts would
    with contextlib.closing(sqlite3.connect(":memory:")) as probe:
        probe.execute("CREATE VIRTUAL TABLE probe USING fts5 (text)")
        probe.execute("CREATE VIRTUAL TABLE probe_words USING fts5vocab (probe, 'instance')")
        probe.execute("INSERT INTO probe (text) VALUES (?)", [text])
        return probe.execute("SELECT 1 FROM probe_words LIMIT 1").fetchone() is not None


def where_clause(db, filters: MentionFilters) -> tuple[str, dict]:
    """SQL conditions over `m` (mentions), `s` (scores) and `t` (triage), with their parameters."""
    conditions: list[str] = []
    params: dict = {}

    def in_list(column: str, name: str, values) -> str:
        keys = []
        for index, value in enumerate(values):
            params[f"{name}{index}"] = value
            keys.append(f":{name}{index}")
        return f"{column} IN ({', '.join(keys)})"

    def in_list_or_null(column: str, name: str, values, null_word: str) -> str:
        """`column` in the values, or NULL when `null_word` (unscored, none) is among them."""
        listed = [value for value in values if value != null_word]
        parts = [in_list(column, name, listed)] if listed else []
        if null_word in values:
            parts.append(f"{column} IS NULL")
        return "(" + " OR ".join(parts) + ")"

    if filters.watches:
        conditions.append("EXISTS (SELECT 1 FROM mention_watches w WHERE w.mention_id = m.id AND "
                          + in_list("w.watch", "watch", filters.watches) + ")")
    if filters.sources:
        conditions.append(in_list("m.source", "source", filters.sources))
    if filters.sentiments:
        conditions.append(in_list_or_null("s.label", "label", filters.sentiments, "unscored"))
    if filters.alert_ids:
        conditions.append("EXISTS (SELECT 1 FROM alert_mentions am WHERE am.mention_id = m.id AND "
                          + in_list("am.alert_id", "alert", filters.alert_ids) + ")")
    if filters.since:
        conditions.append("m.created_at >= :since")
        params["since"] = filters.since
    if filters.until:
        conditions.append("m.created_at < :until")
        params["until"] = filters.until
    if filters.min_reach:  # 0 asks for no floor: authors of unknown reach stay in
        conditions.append("m.author_reach >= :min_reach")
        params["min_reach"] = filters.min_reach
    if filters.query:
        conditions.append(query_condition(db, filters.query, params))
    if filters.unhandled:
        conditions.append("(t.state IS NULL OR t.state = 'flagged')")
    if filters.states:
        conditions.append(in_list_or_null("t.state", "state", filters.states, "none"))
    return (" AND ".join(conditions) or "1"), params


def export_sql(db, filters: MentionFilters, model_id: str | None) -> tuple[str, dict]:
    where, params = where_clause(db, filters)
    params["model_id"] = model_id
    sql = f"""
        SELECT m.id AS mention_id, m.created_at, m.source,
               (SELECT group_concat(w.watch, ';') FROM mention_watches w
                 WHERE w.mention_id = m.id) AS watches,
               m.author, m.author_reach, m.url, m.title, m.text, m.lang,
               s.label AS sentiment, s.p_negative, s.p_neutral, s.p_positive,
               (SELECT group_concat(am.alert_id, ';') FROM alert_mentions am
                 WHERE am.mention_id = m.id) AS alert_ids,
               t.state AS triage_state, t.actor AS triage_by, t.at AS triage_at,
               t.note AS triage_note
        FROM mentions m
        LEFT JOIN scores s ON s.mention_id = m.id AND s.model_id = :model_id
        LEFT JOIN triage t ON t.mention_id = m.id
        WHERE {where}"""
    if filters.limit:  # the newest N (a triage export wants the latest posts), still written in time order
        return (f"SELECT * FROM ({sql} ORDER BY m.created_at DESC, m.id DESC LIMIT {int(filters.limit)}) "
                "ORDER BY created_at, mention_id"), params
    return sql + " ORDER BY m.created_at, m.id", params


def export_rows(db, filters: MentionFilters, model_id: str | None) -> Iterator[dict]:
    """One dict per selected mention (keys: EXPORT_COLUMNS), read lazily from the cursor."""
    sql, params = export_sql(db, filters, model_id)
    cursor = db.conn.execute(sql, params)
    names = [description[0] for description in cursor.description]
    for row in cursor:
        yield dict(zip(names, row))


def search_rows(db, filters: MentionFilters, order: str) -> list[dict]:
    """The mentions `filters.query` finds, in `order` (a key of SEARCH_ORDERS), at most filters.limit."""
    filters = replace(filters, query=fts_query(db, filters.query or ""))  # blank: a mistake, not all
    if order == "relevance":
        return _ranked_search_rows(db, filters)
    where, params = where_clause(db, filters)
    in_order = "m.created_at {0}, m.id {0}".format("DESC" if order == "newest" else "ASC")
    # ids first, then their rows: sorting ids alone is 1.5x quicker when a word is in every
    # other post (measured on a million); sorting whole rows would carry every text along
    sql = (f"SELECT {_SEARCH_COLUMNS} FROM mentions m WHERE m.id IN (SELECT m.id FROM mentions m "
           f"WHERE {where} ORDER BY {in_order} LIMIT {int(filters.limit or -1)}) ORDER BY {in_order}")
    return list(db.query(sql, params))


def _ranked_search_rows(db, filters: MentionFilters) -> list[dict]:
    """Best match first: FTS5's bm25 rank, which only words looked up in the index have."""
    query = filters.query
    if fulltext.has_no_space_script(query):
        raise FilterError("--sort relevance cannot rank Chinese, Japanese or Korean words (or emoji): they "
                          "are found as text, not through the index (use --sort newest or oldest)")
    where, params = where_clause(db, replace(filters, query=None))
    params["fts"] = query
    sql = (f"SELECT {_SEARCH_COLUMNS} FROM mentions_fts JOIN mentions m ON m.id = mentions_fts.rowid "
           f"WHERE mentions_fts MATCH :fts AND {where} ORDER BY rank LIMIT {int(filters.limit or -1)}")
    return list(db.query(sql, params))
