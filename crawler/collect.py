"""One collection pass: poll a watch's sources once, store what is new, record a crawl run each.

`collect_source` never raises for a source's network or payload problems: they end up in the run's
`errors` and `status` ('ok', 'partial' when some pages were stored before the failure, 'failed').
Mentions go through `storage.save_mentions` (the only writer); a page's cursors are saved only after
its mentions are committed. An `unfinished` cursor marks a pass of a paging poller from before its
first page is stored until it ends, so a pass that stops part-way is resumed next time instead of
being cut short at what it stored (see crawler.pollers.base). Scrapy-based sources (`reviews`,
`sitemap`) run in their own OS process through `crawler.runner.run_spider_from_config`.

A source that sends the watch's query as a remote search (and has no `options.query`) is polled once
per search of `Query.searches()`: most search APIs have no OR, so one search string would miss
posts matching only the other terms. Each search has its own cursors (its `options.query` is part of
the cursor key), so a term added to the query gets a first poll of its own; the crawl run still has
one row per watch and source, with the counts of all its searches (see `search_polls`).

A source that rate-limits us for longer than the fetcher waits says when the limit ends
(`FetchError.retry_at`); the run keeps the latest such end in `retry_at`, and the service polls the
source again no earlier than that (see scheduler.Service._update_backoff).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import httpx
from sqlite_utils import Database

from crawler.cursors import cursor_key, load_source_cursors, save_cursors
from crawler.matching import wanted
from crawler.pollers import SCRAPY_TYPES, SOURCES
from crawler.pollers.base import UNFINISHED, Fetcher, FetchError, Page, make_client
from crawler.runner import run_spider_from_config
from crawler.source_types import settings_key, source_label
from mentionwatch.config import Config, SourceConfig, Watch
from mentionwatch.logging_setup import redact_data
from storage import save_mentions, utc_now_iso
from storage.crawl_processes import close_runs_of_gone_processes, this_process
from storage.mentions import stored_for_watch

log = logging.getLogger(__name__)


@dataclass
class CrawlRunResult:
    """What one poll of one source for one watch did (also stored as a crawl_runs row)."""

    run_id: int
    watch: str
    source: str
    status: str = "ok"  # 'ok' | 'partial' | 'failed'
    fetched: int = 0
    new: int = 0
    duplicates: int = 0  # already stored (the poll stops at the first of them)
    rejected: int = 0  # malformed items, skipped
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    filtered: int = 0  # fetched but not matching the watch's query locally
    pages: int = 0  # pages (or feeds) stored before the run ended
    # when the source's rate limit ends (UTC), if one of its errors said so: the latest such end
    retry_at: dt.datetime | None = None
    held: bool = False  # nothing was asked: the site is in a pause it asked for (see Fetcher.held)

    def as_dict(self) -> dict:
        data = asdict(self)
        if self.retry_at is not None:
            data["retry_at"] = self.retry_at.isoformat()
        return data

    def note_retry_at(self, error: FetchError) -> None:
        """Keep the end of the rate limit `error` announced, if it is later than the one kept."""
        self.note_pause_until(error.retry_at)

    def note_pause_until(self, moment: dt.datetime | None) -> None:
        """Keep `moment` as the end of the source's rate limit, if it is later than the one kept."""
        if moment is not None and (self.retry_at is None or moment > self.retry_at):
            self.retry_at = moment


def collect_all(db: Database, config: Config, watch_name: str | None = None,
                source_type: str | None = None, progress: Callable | None = None, *,
                transport: httpx.BaseTransport | None = None,
                sleep: Callable[[float], None] = time.sleep) -> list[CrawlRunResult]:
    """Poll every enabled source of every watch (or only the named watch / source) once.

    `source_type` is a type (`rss`: every rss source) or one source's label as `crawl` and
    `status` show it (`rss#3f9a21c0`, see `source_chosen`). `progress(watch, source_cfg, result)`
    is called after each source when given.
    """
    close_runs_of_gone_processes(db)  # a crawl killed before left its runs 'running'
    results = []
    for watch in config.watches:
        if watch_name is not None and watch.name != watch_name:
            continue
        for index, source_cfg in enumerate(watch.sources):
            if not source_cfg.enabled or not source_chosen(source_cfg, source_type):
                continue
            result = collect_source(db, config, watch, source_cfg, transport=transport, sleep=sleep,
                                    source_index=index)
            results.append(result)
            if progress is not None:
                progress(watch, source_cfg, result)
    return results


def source_chosen(source_cfg: SourceConfig, wanted: str | None) -> bool:
    """Whether `wanted` (None: everything) names this source: its type, or its type and settings
    key (`hackernews#c6ef8eb9`, the label of one of several sources of a type)."""
    if wanted is None or wanted == source_cfg.type:
        return True
    return wanted == f"{source_cfg.type}#{settings_key(source_cfg)}"


def collect_source(db: Database, config: Config, watch: Watch, source_cfg: SourceConfig, *,
                   transport: httpx.BaseTransport | None = None,
                   sleep: Callable[[float], None] = time.sleep,
                   source_index: int | None = None) -> CrawlRunResult:
    """Poll one source for one watch, store its new matching mentions, record the crawl run."""
    started = time.monotonic()
    label = source_label(watch, source_cfg)
    _record_runs_left_unrecorded(db)
    result = CrawlRunResult(run_id=_start_run(db, watch.name, label), watch=watch.name, source=label)
    try:
        if source_cfg.type in SCRAPY_TYPES:
            _run_spider(db, config, watch, source_cfg, result, source_index)
        else:  # the watchlist admits only known types (SourceConfig._known_type)
            _poll_searches(db, watch, source_cfg, result, transport, sleep)
    except FetchError as exc:
        result.errors.append(str(exc))
        result.note_retry_at(exc)
    except sqlite3.DatabaseError as exc:
        # the database's problem (locked, disk full), not the source's: the caller reports it
        _record_database_failure(db, result, exc)
        raise
    except Exception as exc:  # a bug in one source must not stop the others
        log.debug("collector crashed", exc_info=True)
        result.errors.append(f"{source_cfg.type}: internal error: {type(exc).__name__}: {str(exc)[:200]}")
    except KeyboardInterrupt:  # Ctrl-C: the run is closed, not left 'running' until the service starts
        # a spider stores as it goes, and its counts stay in its own process: what it stored is kept
        result.errors.append("interrupted (Ctrl-C); what it stored before is kept")
        _close_interrupted_run(db, result, started)
        raise
    if result.errors:
        result.status = "partial" if result.pages or result.new else "failed"
        for line in result.errors:  # INFO: callers (CLI, service) report the errors themselves
            log.info("%s/%s: %s", watch.name, label, line)
    result.seconds = round(time.monotonic() - started, 3)
    try:
        _finish_run(db, result)
    except sqlite3.DatabaseError:
        _keep_unrecorded(db, result)
        raise
    return result


def _close_interrupted_run(db: Database, result: CrawlRunResult, started: float) -> None:
    """Record a run stopped part-way: partial when it stored something, else failed."""
    result.status = "partial" if result.new else "failed"
    result.seconds = round(time.monotonic() - started, 3)
    try:
        if db.conn.in_transaction:
            db.conn.rollback()
        _finish_run(db, result)
    except sqlite3.DatabaseError:
        log.debug("could not record the interrupted crawl run %s", result.run_id)


def search_polls(watch: Watch, source_cfg: SourceConfig) -> list[SourceConfig]:
    """The polls of one source: one per search of the watch's query when the source searches
    remotely without its own `options.query`, else the source itself (listing modes, feeds)."""
    options = source_cfg.options
    if options.get("query") or not _searches_remotely(source_cfg):
        return [source_cfg]
    polls = [_with_options(source_cfg, query=search) for search in watch.query.searches()]
    if source_cfg.type == "rss":  # the feeds in `urls` are read once, by a poll of their own
        polls = [_with_options(poll, urls=[]) for poll in polls]
        if options.get("urls"):
            polls.insert(0, _with_options(source_cfg, google_news=False))
    return polls


def _searches_remotely(source_cfg: SourceConfig) -> bool:
    if source_cfg.type == "rss":  # only its Google News feed is a search
        return bool(source_cfg.options.get("google_news"))
    return SOURCES[source_cfg.type].poller.searches_remotely(source_cfg.options)


def _with_options(source_cfg: SourceConfig, **options) -> SourceConfig:
    """The source polling one of its searches: `options` over its own, in the options as written too
    (its key hashes those: each search keeps a cursor of its own)."""
    copy = source_cfg.model_copy(update={"options": {**source_cfg.options, **options}})
    if source_cfg._written_options is not None:
        copy._written_options = {**source_cfg._written_options, **options}
    return copy


def _poll_searches(db: Database, watch: Watch, source_cfg: SourceConfig, result: CrawlRunResult,
                   transport, sleep) -> None:
    """Poll a source once per search (see search_polls), adding up what each stored in `result`."""
    poller_class = SOURCES[source_cfg.type].poller
    min_interval = _min_interval(source_cfg, poller_class.min_interval)
    match_terms = _match_terms(source_cfg)
    polls = search_polls(watch, source_cfg)
    with make_client(transport, headers=poller_class.extra_headers) as client:
        fetcher = Fetcher(client, min_interval=min_interval, sleep=sleep)  # one pause for all searches
        try:
            _poll_each(db, watch, polls, fetcher, result, match_terms)
        finally:
            result.note_pause_until(fetcher.hold_until)  # a long pause asked for: the next poll waits too
            result.held = fetcher.held and not fetcher.asked  # it waited for the site, asking nothing


def _poll_each(db: Database, watch: Watch, polls: list[SourceConfig], fetcher: Fetcher,
               result: CrawlRunResult, match_terms) -> None:
    """Poll each search of a source in turn, with one fetcher (see _poll_searches)."""
    if len(polls) == 1:
        _poll(db, watch, polls[0], fetcher, result, match_terms)
        return
    seen_by_earlier: set[str] = set()
    failures: list[tuple[str, str]] = []  # (search, error)
    for number, poll_cfg in enumerate(polls):
        try:
            _poll(db, watch, poll_cfg, fetcher, result, match_terms, seen_by_earlier=seen_by_earlier)
        except FetchError as exc:
            failures.append((_search_label(poll_cfg), str(exc)))
            result.note_retry_at(exc)
            left = len(polls) - number - 1
            if exc.whole_source and left:  # unreachable, refused, rate-limited: the rest would fail too
                result.errors.extend(_search_errors(failures, len(polls) - left))
                result.errors[-1] += f"; {left} more search(es) not tried"
                return
    result.errors.extend(_search_errors(failures, len(polls)))


def _search_errors(failures: list[tuple[str, str]], tried: int) -> list[str]:
    """One line per failed search, naming it; a single line when every search tried failed alike."""
    if len(failures) == tried and len({error for _, error in failures}) == 1:
        return [failures[0][1]]
    return [f"{search}: {error}" for search, error in failures]


def _search_label(poll_cfg: SourceConfig) -> str:
    """'search acme' for a search; 'feeds' for the poll of an rss source's own feeds."""
    query = poll_cfg.options.get("query")
    return f"search {query}" if query else "feeds"


def _poll(db: Database, watch: Watch, poll_cfg: SourceConfig, fetcher: Fetcher, result: CrawlRunResult,
          match_terms: bool, *, seen_by_earlier: set[str] | None = None) -> None:
    """Run a poller's pages through matching, storage and cursors.

    `seen_by_earlier` is given when the source is polled with several searches: the ids the earlier
    searches of this crawl handled, which do not stop this search (nothing says this search saw what
    is older than them), and to which this search adds its own.
    """
    poller_class = SOURCES[poll_cfg.type].poller
    key = cursor_key(poll_cfg)
    cursors = load_source_cursors(db, watch.name, poll_cfg)
    several = seen_by_earlier is not None
    never_polled = poller_class.resumable and not cursors
    if never_polled:
        # a source or search never polled (a new term, a second source of the type): other sources
        # or searches of the watch stored some of its posts, so it must read back its first
        # `max_pages` instead of stopping at them
        cursors[UNFINISHED] = "1"

    def known(ids: list[str]) -> set[str]:
        stored = stored_for_watch(db, watch.name, poller_class.source, ids)
        return stored - seen_by_earlier if several else stored

    poller = poller_class(watch, poll_cfg, fetcher, cursors, known=known)
    if (several or never_polled) and poller.resumable:
        # marked before the first request: a search that fails at once must not stop, next time, at
        # posts the other sources or searches store meanwhile
        save_cursors(db, watch.name, key, {UNFINISHED: "1"})
    pages, seen = 0, set()
    try:
        for page in poller.pages():
            if poller.resumable and not pages and not poller.resuming:
                # before anything of the pass is stored: if it stops part-way, the next pass pages on
                # past the stored items instead of stopping at them (see crawler.pollers.base)
                save_cursors(db, watch.name, key, {UNFINISHED: "1"})
            _store_page(db, watch, page, result, match_terms=match_terms)
            save_cursors(db, watch.name, key, page.cursors)  # after the page's mentions committed
            seen.update(m.external_id for m in page.mentions)
            pages += 1
            result.pages += 1
    except FetchError as exc:
        raise poller.explain_refusal(exc) from None
    finally:
        if several:
            seen_by_earlier.update(seen)
    if poller.resumable and (pages or poller.resuming or several):
        save_cursors(db, watch.name, key, {UNFINISHED: None})  # the pass reached its last page


def _min_interval(source_cfg: SourceConfig, default: float) -> float:
    value = source_cfg.options.get("min_interval", default)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds < 0:
        raise FetchError(f"{source_cfg.type}: options.min_interval: expected seconds (0 or more), "
                         f"got {value!r}")
    return seconds


def _match_terms(source_cfg: SourceConfig) -> bool:
    """`options.match_query: false` keeps every item (e.g. all reviews of your own app)."""
    value = source_cfg.options.get("match_query", True)
    if not isinstance(value, bool):
        raise FetchError(f"{source_cfg.type}: options.match_query: expected true or false, got {value!r}")
    return value


def _store_page(db: Database, watch: Watch, page: Page, result: CrawlRunResult, *,
                match_terms: bool = True) -> None:
    matching = []
    for mention in page.mentions:
        if wanted(watch.query, mention.text, lang=mention.lang, title=mention.own_title,
                  match_terms=match_terms):
            mention.watches = (*mention.watches, watch.name)
            matching.append(mention)
    saved = save_mentions(db, matching)
    result.fetched += page.fetched
    result.filtered += len(page.mentions) - len(matching) + page.left_out
    result.new += saved.inserted
    result.duplicates += saved.present + saved.forgotten + page.already_stored
    result.rejected += page.rejected + saved.rejected
    result.errors.extend(page.errors)


def _run_spider(db: Database, config: Config, watch: Watch, source_cfg: SourceConfig,
                result: CrawlRunResult, source_index: int | None) -> None:
    """Scrapy-based sources: one OS process per crawl, through the Scrapy half's runner."""
    if source_index is None:
        source_index = watch.sources.index(source_cfg)
    outcome = run_spider_from_config(_database_path(db), config, watch.name, source_index)
    result.fetched = int(outcome.get("fetched", 0))
    result.new = int(outcome.get("new", 0))
    result.duplicates = int(outcome.get("duplicates", 0))
    result.rejected = int(outcome.get("rejected", 0))
    result.filtered = int(outcome.get("filtered", 0))
    result.pages = int(outcome.get("pages", 1 if result.fetched else 0))
    result.errors.extend(str(e) for e in outcome.get("errors", []))


def _database_path(db: Database) -> str:
    row = db.execute("PRAGMA database_list").fetchone()
    return row[2]


def _start_run(db: Database, watch: str, source: str) -> int:
    with db.atomic():
        cursor = db.conn.execute(
            "INSERT INTO crawl_runs (watch, source, started_at, status, process) VALUES (?, ?, ?, 'running', ?)",
            [watch, source, utc_now_iso(), this_process()])
    return cursor.lastrowid


def _record_database_failure(db: Database, result: CrawlRunResult, exc: sqlite3.DatabaseError) -> None:
    """Close the crawl run as failed if the database still takes a write (it may not)."""
    result.status = "failed"
    result.errors.append(f"database: {exc}")
    try:
        db.conn.rollback()
        _finish_run(db, result)
    except sqlite3.DatabaseError:
        log.debug("could not record the failed crawl run %s", result.run_id)
        _keep_unrecorded(db, result)


# crawl runs whose outcome could not be written (disk full), with the time they ended, by database
# file and run id: written by the next collection of this process, or they would stay 'running'
# until the service restarts. A few at most: a full disk stops every source alike
_unrecorded: dict[tuple[str, int], tuple[CrawlRunResult, str]] = {}
_unrecorded_lock = threading.Lock()
_MOST_KEPT = 1000


def _keep_unrecorded(db: Database, result: CrawlRunResult) -> None:
    try:
        database = _database_path(db)
    except sqlite3.DatabaseError:
        return  # the next start closes it (service_state.close_interrupted_runs)
    if not database:  # ':memory:' (each such database has the same empty name): nothing outlives it
        return
    with _unrecorded_lock:
        if len(_unrecorded) < _MOST_KEPT:
            _unrecorded[(database, result.run_id)] = (result, utc_now_iso())


def _record_runs_left_unrecorded(db: Database) -> None:
    """Write the outcome of this database's crawl runs that could not be written before."""
    with _unrecorded_lock:
        if not _unrecorded:
            return
        database = _database_path(db)
        for key in [key for key in _unrecorded if key[0] == database]:
            result, finished_at = _unrecorded[key]
            try:
                _finish_run(db, result, finished_at)
            except sqlite3.DatabaseError:
                db.conn.rollback()
                return  # still full: the next collection tries again
            del _unrecorded[key]


def _finish_run(db: Database, result: CrawlRunResult, finished_at: str | None = None) -> None:
    """Store the run; its error lines are redacted first, so callers print what was stored."""
    result.errors = redact_data(result.errors)
    with db.atomic():
        db.conn.execute(
            "UPDATE crawl_runs SET finished_at = ?, status = ?, fetched = ?, new = ?, duplicates = ?, "
            "rejected = ?, errors = ?, seconds = ? WHERE id = ?",
            [finished_at or utc_now_iso(), result.status, result.fetched, result.new, result.duplicates,
             result.rejected, json.dumps(result.errors) if result.errors else None, result.seconds,
             result.run_id])
