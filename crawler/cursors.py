"""Per-watch, per-source cursors (newest id seen, ETag, ...) that make polls incremental.

A watch may poll two sources of one type (two feeds, two subreddits), so cursors are keyed by the
type plus a short hash of the source's settings; crawler.collect polls a searching source once per
search of the watch's query, with that search as `options.query`, so each search has its own. Callers save cursors only after the mentions they
cover are committed, so a cursor never points past unsaved data.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlite_utils import Database

from crawler.source_types import settings_key
from mentionwatch.config import SourceConfig
from storage import parse_timestamp, to_iso, utc_now_iso
from storage.timeutil import from_iso


# Options that say how often, how far or as whom a source is read, not what it reads. Changing them
# keeps the source's cursors, and so its gaps: raising max_pages to catch up after a burst (as the
# gap line advises) must not make the source start over and lose the posts not read yet.
PACING_OPTIONS = frozenset({"max_pages", "min_interval", "limit", "token_env", "send_oauth"})


def cursor_key(source_cfg: SourceConfig) -> str:
    """'reddit:1a2b3c4d': stable while the source's type, base_url and what it reads stay the same."""
    options = getattr(source_cfg, "written_options", source_cfg.options)
    what_is_read = {name: value for name, value in options.items() if name not in PACING_OPTIONS}
    return f"{source_cfg.type}:{settings_key(source_cfg, what_is_read)}"


def _key_before_pacing_options(source_cfg: SourceConfig) -> str:
    """The cursor key of versions before PACING_OPTIONS: a hash of all the options."""
    return f"{source_cfg.type}:{settings_key(source_cfg)}"


def _as_filled_in(source_cfg: SourceConfig, *, base_url_as_written: bool = False) -> SimpleNamespace:
    """The source as keys saw it before they hashed options (and, earlier, base_url) as written:
    its `${VAR}` filled in."""
    base_url = source_cfg.written_base_url if base_url_as_written else source_cfg.base_url
    return SimpleNamespace(type=source_cfg.type, base_url=source_cfg.base_url, written_base_url=base_url,
                           options=source_cfg.options, written_options=source_cfg.options)


def older_cursor_keys(source_cfg: SourceConfig) -> list[str]:
    """The keys earlier versions kept this source's cursors under, newest first (none equal to
    cursor_key): filled-in options (a secret in a feed's address made a new key a new source),
    every option hashed (before PACING_OPTIONS), a filled-in base_url too (likewise for a token)."""
    options_filled = _as_filled_in(source_cfg, base_url_as_written=True)
    filled = _as_filled_in(source_cfg)
    keys = [cursor_key(options_filled), _key_before_pacing_options(source_cfg),
            _key_before_pacing_options(options_filled), cursor_key(filled), _key_before_pacing_options(filled)]
    current = cursor_key(source_cfg)
    return [key for key in dict.fromkeys(keys) if key != current]


def load_source_cursors(db: Database, watch: str, source_cfg: SourceConfig) -> dict[str, str]:
    """The source's cursors. Cursors stored by an older version under another key (see
    older_cursor_keys) are moved to the current key the first time, so an upgrade does not start
    the source over."""
    key = cursor_key(source_cfg)
    cursors = load_cursors(db, watch, key)
    if cursors:
        return cursors
    for old_key in older_cursor_keys(source_cfg):
        cursors = load_cursors(db, watch, old_key)
        if cursors:
            save_cursors(db, watch, key, cursors)
            return cursors
    return {}


def url_digest(url: str) -> str:
    """A cursor name for an address: its hash, since an address may hold a secret (a `${VAR}` key)
    and cursor names are stored as they are."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def load_cursors(db: Database, watch: str, source_key: str) -> dict[str, str]:
    rows = db.execute("SELECT name, value FROM cursors WHERE watch = ? AND source = ?",
                      [watch, source_key]).fetchall()
    return {name: value for name, value in rows if value is not None}


def save_cursors(db: Database, watch: str, source_key: str, values: dict[str, str | None]) -> None:
    """Store the cursors; a None value clears one (stored as NULL, which load_cursors leaves out)."""
    if not values:
        return
    now = utc_now_iso()
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO cursors (watch, source, name, value, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (watch, source, name) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            [(watch, source_key, name, None if value is None else str(value), now)
             for name, value in values.items()])


# --- shared by the newest-first pollers (hackernews, stackexchange, github, bluesky) --------------
#
# These APIs answer newest first, filtered by time ("created after the cursor"), and a poll reads at
# most `max_pages` pages. More new posts than that between two polls (a burst) must not be lost: the
# posts below the last page read would be older than the next poll's cursor and never asked for
# again. So a poll that stops at `max_pages` before reaching its cursor records the stretch it did
# not read as a *gap* (cursor `gaps`: a JSON list of {after, until} times, newest first), and every
# poll, after its new posts, reads up to `max_pages` more pages from the gaps, newest gap first,
# asking the API for that time window only (until it is empty). While a gap is left the poll adds
# one error line saying which posts are not read yet, so the run is `partial`.
#
# An answer the API marks incomplete (GitHub's `incomplete_results`: the search timed out and left
# out matches, from anywhere in the window) is read for what it shows, but the window it covered
# does not count as read: it is kept as a gap marked `incomplete` (to be asked for again; such
# windows join where they touch), and a line says so (the run is `partial`). So the cursor and the
# gaps still move on past the posts it shows (a source whose searches keep timing out is not
# stuck), and the next polls ask for that window again: after the gaps not read at all (which always
# come first, so that windows that keep timing out cannot hold up the rest), with the pages left of
# `max_pages`. An incomplete answer to such a window leaves it as it was. A first poll is the
# exception: its cursor goes no further than the oldest post read, so the next poll reads it all
# again.
#
# Cursors are worked out from the items that were accepted (parsed, not rejected as malformed), from
# their normalised time (Unix seconds, whatever unit the API used), and never move past the poll's
# start: a post dated in the future cannot hide the posts made after it. A stored cursor later than
# the poll's start is corrupt (from an older version, or a bad clock): it is ignored, with a warning.

#
# Search indexes lag: a post can first show up in the API a while after a poll that already read
# newer ones (Algolia and GitHub search index within minutes), or in the same second as the newest
# post read. So the new posts' pass asks for a little more than "after the cursor": everything after
# the cursor minus OVERLAP_SECONDS, and leaves out what is stored already. It still stops once it
# is down to the cursor, so the overlap is read where it fits on the pages the new posts need (a
# quiet source: always), never at the cost of a request or of `max_pages`.

GAPS = "gaps"
OVERLAP_SECONDS = 300
MAX_GAPS = 20  # more (a source bursting poll after poll): the two oldest are merged into one
log = logging.getLogger(__name__)


def required_id(value: Any, name: str) -> str:
    """An item's id as text: a non-empty string or a whole number.

    A null, missing or empty id raises ValueError (the item is rejected as malformed): `str(None)`
    would store every such item under the id 'None', and the second would count as a duplicate.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected text or a number, got {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if value is None or isinstance(value, str):
        raise ValueError(f"{name}: missing")
    raise TypeError(f"{name}: expected text or a number, got {type(value).__name__}")


def unix_time(value: Any) -> int | None:
    """Unix seconds of a timestamp as storage reads it (ISO text, seconds or milliseconds), or None."""
    try:
        return int(from_iso(parse_timestamp(value)).timestamp())
    except (ValueError, TypeError, OverflowError):
        return None


def iso_time(seconds: int) -> str:
    """'2026-12-05T08:03:20Z' for Unix seconds."""
    return to_iso(dt.datetime.fromtimestamp(seconds, dt.timezone.utc))


def seconds_cursor(value: str) -> int:
    """A cursor stored as Unix seconds ('1700000000'); ValueError if it is not one."""
    return int(str(value).strip())


def iso_cursor(value: str) -> int:
    """A cursor stored as an ISO time; ValueError if it is not one."""
    seconds = unix_time(value if not str(value).strip().isdigit() else None)
    if seconds is None:
        raise ValueError(f"not a time: {value!r}")
    return seconds


@dataclass
class Window:
    """A time window of a newest-first search: after < time <= until (None: unbounded)."""

    after: int | None = None
    until: int | None = None
    resume: str | None = None  # a gap read by position: the page (or API cursor) to go on from
    by_position: bool = False  # the server ignored `until`: page on through its answers instead
    incomplete: bool = False  # read once, but the answer left matches out: to be asked for again

    def as_json(self) -> dict:
        data: dict[str, Any] = {"after": iso_time(self.after), "until": iso_time(self.until)}
        if self.by_position:
            data.update(by_position=True, resume=self.resume)
        if self.incomplete:
            data.update(incomplete=True)
        return data


@dataclass
class Batch:
    """What a poller's `fetch` got from one request of a window."""

    page: Any  # crawler.pollers.base.Page from make_page(..., stop_at_known=False): stored items skipped
    times: dict[str, int]  # external id -> Unix seconds, of the accepted items (the time the API filters on)
    next: str | None  # the page number or API cursor of the next page; None: this was the last
    total: int | None = None  # the API's count of the window's items, when it gives one
    capped: bool = False  # no next page although more match: the API serves only so many per query
    incomplete: bool = False  # the API said matches are missing from its answer (a search that timed out)


def created_times(mentions: list) -> dict[str, int]:
    """external id -> Unix seconds of each accepted mention, from its normalised `created_at` (never
    a raw field: a time in milliseconds must not make a cursor 1000 times too far)."""
    times = {}
    for mention in mentions:
        seconds = unix_time(mention.created_at)
        if seconds is not None:
            times[mention.external_id] = seconds
    return times


def newest_first_pages(poller, fetch: Callable[[Window, str | None], Batch], *, name: str,
                       decode: Callable[[str], int] = seconds_cursor,
                       encode: Callable[[int], str] = str) -> Iterator:
    """The pages of one poll of a newest-first, time-filtered search (see the notes above).

    `fetch(window, token)` makes one request for the window (from the page number or API cursor
    `token`, None for the first page) and returns a Batch. `name` is the poller's newest-time
    cursor, stored with `encode` and read back with `decode`.

    The new posts' pass stops at the first stored post (unless the poll resumes one that stopped
    part-way, see Poller.resuming), but only at one dated at or before the cursor (the poll's start
    on a first poll): a stored post dated in the future does not say the posts after it were read.
    """
    yield from _NewestFirstPoll(poller, fetch, name, decode, encode).pages()


class _NewestFirstPoll:
    """One poll of a newest-first search: its new posts, then the gaps, then a line if any is left."""

    def __init__(self, poller, fetch: Callable[[Window, str | None], Batch], name: str,
                 decode: Callable[[str], int], encode: Callable[[int], str]):
        self.fetch, self.name, self.encode = fetch, name, encode
        self.start = int(time.time())
        self.source = poller.source
        self.top = stored_time(poller.cursors, name, decode, self.start, self.source)
        self.gaps = _stored_gaps(poller.cursors.get(GAPS), self.start, self.source)
        self.gaps_stored = GAPS in poller.cursors  # clear the stored cursor when none is left
        self.budget = poller.max_pages
        self.stop_at_known = not poller.resuming
        self.estimates: dict[int, int] = {}  # id(gap) -> posts left in it, where the API counts them
        self.newest: int | None = None  # the newest accepted post of the new posts' pass
        self.oldest: int | None = None  # the oldest accepted post of the new posts' pass
        self.reached = False  # the new posts' pass got down to the cursor (or a stored post)
        self.incomplete = False  # an answer left matches out: the cursor must not pass them

    def pages(self) -> Iterator:
        from crawler.pollers.base import Page

        yield from self._new_posts()
        yield from self._gap_pages()
        errors = []
        unread = [gap for gap in self.gaps if not gap.incomplete]
        to_ask_again = [gap for gap in self.gaps if gap.incomplete]
        if self.incomplete or to_ask_again:
            errors.append(_incomplete_line(self.source, self.incomplete, to_ask_again))
        if unread or (self.top is not None and self.newest is None and not self.reached
                      and not self.incomplete):
            errors.append(_gap_line(self.source, unread, self.estimates, self.budget, self.top))
        if errors:
            yield Page([], errors=errors)

    def _gap_cursor(self) -> dict[str, str | None]:
        if not (self.gaps or self.gaps_stored):
            return {}
        _join_touching(self.gaps)
        _merge_oldest(self.gaps)  # reading the backlog may have split a gap past MAX_GAPS
        self.gaps_stored = bool(self.gaps)
        return {GAPS: json.dumps([gap.as_json() for gap in self.gaps]) if self.gaps else None}

    def _new_posts(self) -> Iterator:
        """The new posts, newest first, down to the cursor (or the first stored post); a gap is
        recorded when `max_pages` runs out first."""
        top, start = self.top, self.start
        floor = None if top is None else top - OVERLAP_SECONDS  # read down to here (see OVERLAP_SECONDS)
        window, token = Window(after=floor), None
        total = None
        fetched = 0
        for number in range(self.budget):
            batch = self.fetch(window, token)
            self.incomplete = self.incomplete or batch.incomplete
            hit_known = self.stop_at_known and _cut_at_known(batch.page, batch.times,
                                                             floor if floor is not None else start)
            times = [min(t, start) for t in batch.times.values()]
            if times:
                self.newest = max(times) if self.newest is None else max(self.newest, max(times))
                self.oldest = min(times) if self.oldest is None else min(self.oldest, min(times))
            fetched += batch.page.fetched
            if number == 0:
                total = batch.total
            # Down to the cursor is enough: the overlap below it is read where it shares a page
            # with new posts, and costs no request of its own.
            oldest = self.oldest
            self.reached = (hit_known or (batch.next is None and not batch.capped)
                            or (top is not None and oldest is not None and oldest <= top))
            if self.reached or number + 1 == self.budget or batch.next is None:
                if not self.reached and top is not None and oldest is not None:
                    gap = Window(after=top, until=oldest)  # not read: after the cursor, up to `oldest`
                    self.gaps.insert(0, gap)
                    if total is not None and not self.incomplete:
                        self.estimates[id(gap)] = max(0, total - fetched)
                cursor = self._newest_cursor()
                if self.incomplete and top is not None:  # the stretch read is to be asked for again
                    # down to the floor it asked from: a post indexed late inside the overlap may be
                    # what the answer left out
                    self._ask_again(floor if self.reached or oldest is None else oldest, self.newest)
                _merge_oldest(self.gaps)
                batch.page.cursors = {**cursor, **self._gap_cursor()}
                yield batch.page
                return
            yield batch.page
            token = batch.next

    def _newest_cursor(self) -> dict[str, str]:
        newest, top = self.newest, self.top
        if self.incomplete and top is None:  # a first poll: no further than its oldest post read,
            newest = self.oldest  # so that the next poll reads it all again
        new_top = top if newest is None or (top is not None and newest <= top) else newest
        return {} if new_top is None else {self.name: self.encode(new_top)}

    def _ask_again(self, after: int, until: int | None) -> None:
        """Keep the window (after, until] that an incomplete answer covered as a gap to be asked
        for again; joined to the newest gap when that is one too and they touch."""
        until = None if until is None else min(until, self.start)
        if until is None or until <= after:
            return
        newest = self.gaps[0] if self.gaps else None
        if newest is not None and newest.incomplete and not newest.by_position and newest.until >= after:
            newest.until = max(newest.until, until)
        else:
            self.gaps.insert(0, Window(after=after, until=until, incomplete=True))

    def _gap_pages(self) -> Iterator:
        """What earlier polls (or this one) had no room for, newest gap first, within `max_pages`;
        then the windows that incomplete answers covered, newest first, with the pages left."""
        spent = 0
        order = sorted(self.gaps, key=lambda gap: gap.incomplete)  # stable: newest first within each
        for gap in order:
            token = gap.resume if gap.by_position else None
            while spent < self.budget and any(g is gap for g in self.gaps):  # (not joined to another)
                batch = self.fetch(Window(gap.after, gap.until), token)
                spent += 1
                if batch.incomplete:
                    self.incomplete = True
                    closed = self._left_out(gap, batch)
                else:
                    closed = self._narrow(gap, batch)
                batch.page.cursors = self._gap_cursor()
                yield batch.page
                if closed:
                    break
                token = gap.resume if gap.by_position else None
            if spent >= self.budget:
                return

    def _left_out(self, gap: Window, batch: Batch) -> bool:
        """An incomplete answer to a gap: the stretch it covered is kept to be asked for again, and
        a gap not read before is narrowed below it (to be read on); True when done with the gap for
        this poll. A window asked for again, or a gap read by position, stays as it was."""
        self.estimates.pop(id(gap), None)  # the API's count of an incomplete answer says little
        if gap.incomplete or gap.by_position:
            return True
        lowest = min(batch.times.values(), default=None)
        if (batch.next is None and not batch.capped) or (lowest is not None and lowest <= gap.after):
            gap.incomplete = True  # all of it answered (incompletely): ask for all of it again
            return True
        if lowest is None or lowest >= gap.until:  # nothing to narrow it by: ask again next poll
            return True
        position = next(n for n, g in enumerate(self.gaps) if g is gap)
        self.gaps.insert(position, Window(after=lowest, until=gap.until, incomplete=True))
        gap.until = lowest  # read on below what the answer showed
        return False

    def _narrow(self, gap: Window, batch: Batch) -> bool:
        """Shrink the gap by what the batch read; True when it is all read (and dropped)."""
        raw = list(batch.times.values())
        if any(t > gap.until + 1 for t in raw):
            gap.by_position = True  # the server ignored `until`: page on through its answers
        lowest = min(raw, default=None)
        # a capped answer is read on by narrowing the window, which a gap read by position cannot
        closed = ((batch.next is None and (not batch.capped or gap.by_position))
                  or (lowest is not None and lowest <= gap.after))
        if closed:
            self.gaps.remove(gap)
        elif gap.by_position:
            gap.resume = batch.next
        elif lowest is not None and lowest < gap.until:
            gap.until = lowest  # everything after it is read (`until` counts itself in)
            if batch.total is not None:
                self.estimates[id(gap)] = max(0, batch.total - batch.page.fetched)
        else:  # a whole page in one second (or nothing readable): go on by position
            gap.by_position, gap.resume = True, batch.next
        if gap.by_position:
            self.estimates.pop(id(gap), None)
        return closed


def _cut_at_known(page, times: dict[str, int], bound: int) -> bool:
    """Cut the page at its first stored item dated at or before `bound` (no date: any); say if cut.

    The page comes from make_page(stop_at_known=False), so its stored items are already left out.
    What follows the cut is counted as already stored, as make_page's own cut does.
    """
    fresh = {id(m) for m in page.mentions}
    for position, mention in enumerate(page.parsed):
        if id(mention) in fresh:
            continue
        seconds = times.get(mention.external_id)
        if seconds is None or seconds <= bound:
            page.mentions = [m for m in page.parsed[:position] if id(m) in fresh]
            page.already_stored = len(page.parsed) - len(page.mentions)
            return True
    return False


def _gap_line(source: str, gaps: list[Window], estimates: dict[int, int], budget: int,
              top: int | None) -> str:
    """One line for the crawl run: which posts are not read yet, and why."""
    if not gaps:  # pages of nothing but malformed items: the cursor stays, the same posts come back
        return (f"{source}: {budget} page(s) of posts since {iso_time(top)} held no readable post; "
                f"they are read again next poll")
    count = (f"about {sum(estimates[id(g)] for g in gaps)} posts"
             if all(id(g) in estimates for g in gaps) else "posts")
    stretch = "" if len(gaps) == 1 else f" (in {len(gaps)} stretches)"
    return (f"{source}: {count} from {iso_time(min(g.after for g in gaps))} to "
            f"{iso_time(max(g.until for g in gaps))}{stretch} not read yet: more new posts than "
            f"{budget} page(s) per poll hold; the next polls read them (a larger options.max_pages "
            f"catches up sooner)")


def _incomplete_line(source: str, this_poll: bool, to_ask_again: list[Window]) -> str:
    """One line for the crawl run: answers left matches out, and which windows are asked again."""
    answer = "its answer" if this_poll else "an earlier answer"
    line = f"{source}: the API left matches out of {answer} (incomplete results: the search timed out)"
    if not to_ask_again:  # a first poll: its cursor stays at the oldest post read
        return f"{line}; the next poll asks for them again"
    stretch = "" if len(to_ask_again) == 1 else f" (in {len(to_ask_again)} stretches)"
    return (f"{line}; the next polls ask for the posts from "
            f"{iso_time(min(g.after for g in to_ask_again))} to "
            f"{iso_time(max(g.until for g in to_ask_again))}{stretch} again")


def _join_touching(gaps: list[Window]) -> None:
    """Windows to be asked for again that touch become one (the newer one, stretched down)."""
    position = 0
    while position + 1 < len(gaps):
        newer, older = gaps[position], gaps[position + 1]
        if (newer.incomplete and older.incomplete and not (newer.by_position or older.by_position)
                and older.until >= newer.after):
            newer.after = min(newer.after, older.after)
            del gaps[position + 1]
        else:
            position += 1


def _merge_oldest(gaps: list[Window]) -> None:
    """At most MAX_GAPS gaps: the two oldest become one (read again whole, nothing is lost; a gap
    not read yet and a window to be asked for again become a gap not read yet)."""
    while len(gaps) > MAX_GAPS:
        older, newer = gaps.pop(), gaps.pop()
        gaps.append(Window(after=older.after, until=newer.until,
                           incomplete=older.incomplete and newer.incomplete))


def stored_time(cursors: dict[str, str], name: str, decode: Callable[[str], int], start: int,
                 source: str) -> int | None:
    """The stored newest-time cursor, or None when there is none or it is corrupt (warned)."""
    value = cursors.get(name)
    if value is None:
        return None
    try:
        seconds = decode(value)
        if seconds > start:
            raise ValueError("after this poll's start")
    except (ValueError, TypeError, OverflowError) as exc:
        log.warning("%s: stored cursor %s=%r ignored as corrupt (%s): this poll reads as a first "
                    "poll does, down to the first stored post", source, name, str(value)[:40], exc)
        return None
    return seconds


def _stored_gaps(value: str | None, start: int, source: str) -> list[Window]:
    """The stored gaps that make sense (after < until <= start); others are dropped, warned."""
    if not value:
        return []
    try:
        raw = json.loads(value)
        if not isinstance(raw, list):
            raise ValueError("not a list")
    except ValueError as exc:
        log.warning("%s: stored cursor %s ignored as corrupt (%s)", source, GAPS, exc)
        return []
    gaps = []
    for item in raw:
        after = unix_time(item.get("after")) if isinstance(item, dict) else None
        until = unix_time(item.get("until")) if isinstance(item, dict) else None
        if after is None or until is None or not after < until <= start:
            log.warning("%s: stored gap %r ignored as corrupt", source, str(item)[:120])
            continue
        resume = item.get("resume")
        by_position = item.get("by_position") is True and isinstance(resume, str) and bool(resume)
        gaps.append(Window(after, until, resume if by_position else None, by_position,
                           item.get("incomplete") is True))
    return gaps


# --- shared by the app stores' review listings (googleplay, appstore) -----------------------------
#
# These list reviews newest first and cannot be asked for a time window, so the stretch a burst
# leaves unread cannot be a gap asked for later. Instead a later poll that runs out of `max_pages`
# before the last poll's newest review keeps its cursor where it was (with a line, so the run is
# `partial`) and remembers the stretch it read (cursor `read`: the lowest and highest mark of its
# reviews, their time or number). The next poll reads from the top again, and pages holding only
# reviews of that stretch cost it none of `max_pages`: it reads on to the reviews not read yet, and
# remembers the stretch read before and its own together where they meet (new reviews on top push
# the stretch down the pages; what it read on below the stretch makes it longer).
# Which pages are free only decides how far a poll reads, never what it stores.
#
# Free pages still cost a request: a poll makes at most max_pages × MAX_REQUESTS_PER_PAGE requests.
# A poll stopped by that bound above the last poll's place reached as deep as any poll can (new
# reviews only push the rest further down), so the reviews below cannot be read: the poll gives them
# up with a line naming them, and moves the cursor on as a poll that got there does.

READ = "read"
MAX_REQUESTS_PER_PAGE = 10  # a poll makes at most max_pages × this many requests, free pages included


class ListingBudget:
    """`max_pages` of one poll of a review listing: pages the last poll read already are free."""

    def __init__(self, cursors: dict[str, str], max_pages: int):
        self.max_pages = max_pages
        self.had_stretch = READ in cursors
        self.read_before = _stored_stretch(cursors.get(READ))
        self.spent = self.requests = 0
        self.low: int | None = None  # the lowest and highest mark this poll read
        self.high: int | None = None

    def spend(self, marks: list[int]) -> bool:
        """Count a page of reviews with these marks; True when the poll has no page left."""
        self.requests += 1
        if marks:
            self.low = min(marks) if self.low is None else min(self.low, *marks)
            self.high = max(marks) if self.high is None else max(self.high, *marks)
        before = self.read_before
        if not (before and marks and all(before[0] <= mark <= before[1] for mark in marks)):
            self.spent += 1
        return self.spent >= self.max_pages or self.capped

    @property
    def capped(self) -> bool:
        """The poll made as many requests as a poll may: no poll can read deeper than this one."""
        return self.requests >= self.max_pages * MAX_REQUESTS_PER_PAGE

    def cursors(self, reached: bool) -> dict[str, str | None]:
        """The `read` cursor to save with the poll's last page: cleared once a poll got down to
        the last poll's place (or gave up, see `capped`), else the stretch this poll read (it read
        on from the top), together with the stretch read before where the two meet."""
        if reached:
            return {READ: None} if self.had_stretch else {}
        if self.low is None:
            return {}
        low, high, before = self.low, self.high, self.read_before
        if before and low <= before[1] and high >= before[0]:  # one stretch, read without a break
            low, high = min(low, before[0]), max(high, before[1])
        return {READ: f"{low}..{high}"}


def _stored_stretch(value: str | None) -> tuple[int, int] | None:
    low, _, high = (value or "").partition("..")
    return (int(low), int(high)) if low.isdigit() and high.isdigit() else None


def unread_reviews_line(source: str, page: int, oldest: int | None, top: int | None,
                        max_pages: int) -> str:
    """The run's line when a poll of a review listing stopped above the last poll's place: the
    page it stopped at, the time of the oldest review it read and the last poll's newest (if known)."""
    read = f" (reviews of {iso_time(oldest)})" if oldest is not None else ""
    place = f" ({iso_time(top)})" if top is not None else ""
    return (f"{source}: new reviews not all read yet: the poll stopped at page {page}{read}, above "
            f"the last poll's newest review{place}: more new reviews than {max_pages} page(s) per "
            f"poll hold; the next polls read them (a larger options.max_pages catches up sooner)")


def unreachable_reviews_line(source: str, requests: int, oldest: int | None, top: int | None) -> str:
    """The run's line when a poll of a review listing made as many requests as a poll may (see
    ListingBudget.capped) above the last poll's place: the reviews below are given up."""
    since = f" since the last poll's newest review ({iso_time(top)})" if top is not None else ""
    before = f" and older than {iso_time(oldest)}" if oldest is not None else ""
    return (f"{source}: new reviews{since}{before} could not be read: the poll read {requests} "
            f"pages, as many as a poll may (options.max_pages × {MAX_REQUESTS_PER_PAGE}, pages read "
            f"already included), without getting down to them, and no later poll gets further; the "
            f"cursor moves on past them (a larger options.max_pages or a shorter interval keeps up)")
