"""Risk score per watch: is a customer heading for trouble before an alert fires?

Every negative mention counts with a reach weight `w = 1 + log10(1 + reach)` (an author with no
known reach counts 1, with 1,000 followers about 4, with 1,000,000 about 7). From the watch's
mentions up to the end of the report period:

- N24: weighted negative mentions in the last 24 hours;
- E24: what is usual for 24 hours, the weighted negatives of the 7 days before, per day;
- N6: weighted negatives in the last 6 hours;
- size  = (N24 + 1) / (E24 + 1)            how many times the usual amount;
- speed = (N6 + 1) / (N24 / 4 + 1)        > 1 when the last 6 hours run hotter than the day;
- risk  = 30 * log2(size) + 20 * log2(speed), counting only what is above 1 (speed only when size
  is above 1), capped to 0..100.

Twice the usual negatives gives 30 (elevated), four times 60 (high), four times and accelerating
to double the day's pace 80 (critical).

A watch with less than MIN_BASELINE_DAYS of mentions before the last 24 hours has nothing to
compare with: it gets no score, no level but "no baseline yet", and no size. So does a watch with
older history but no mention at all (scored or not, of any sentiment) in the 7 days before: a week
with none is most likely a week nothing was collected (a source down), and a usual of 0 would make
any amount a surge ("100 (critical)"). One mention in the week is enough to compare with: it shows
the watch was being collected, and a quiet week that turns into a wave is what the score is for.
A watch with mentions
not scored yet (by the model used) in the last 24 hours or in the 7 days before - more than
MAX_UNSCORED_SHARE of either - gets no score either, and the level "not scored yet": counting its
unscored mentions as not negative would call a wave nobody has scored "low". A smaller backlog (a
running service scores new mentions every minute or so) is scored and named in the explanation.
"""
from __future__ import annotations

import datetime as dt
import heapq
import math
from dataclasses import dataclass, field

from storage.timeutil import from_iso, to_iso

RECENT_HOURS = 24
SPEED_HOURS = 6
BASELINE_DAYS = 7
MIN_BASELINE_DAYS = 1
NO_BASELINE = "no baseline yet"
NOT_SCORED = "not scored yet"
MAX_UNSCORED_SHARE = 0.05
LEVELS = ((75, "critical"), (50, "high"), (25, "elevated"), (0, "low"))
EVIDENCE_POSTS = 5


def reach_weight(reach) -> float:
    return 1.0 + math.log10(1.0 + max(float(reach or 0), 0.0))


def risk_level(score: float) -> str:
    return next(name for floor, name in LEVELS if score >= floor)


@dataclass
class WatchRisk:
    """A watch's risk score with the figures behind it."""

    watch: str
    score: float | None  # None: no baseline yet, or mentions not scored yet
    level: str
    end: str
    weighted_recent: float  # N24
    weighted_usual: float | None  # E24; None: no baseline yet
    weighted_last6h: float  # N6
    size: float | None  # None: no baseline yet
    speed: float
    negatives_recent: int
    mentions_recent: int  # scored ones
    share_recent: float | None
    share_baseline: float | None
    baseline_days: float
    open_alerts: int  # open at `end` (see open_alerts_at)
    top_posts: list[dict] = field(default_factory=list)
    unscored_recent: int = 0  # mentions of the last 24 h not scored by the model used
    unscored_baseline: int = 0  # ... and of the 7 days before
    all_recent: int = 0  # every mention of the last 24 h, scored or not
    all_baseline: int = 0

    @property
    def has_score(self) -> bool:
        return self.score is not None

    @property
    def has_baseline(self) -> bool:
        return self.weighted_usual is not None

    @property
    def scored_enough(self) -> bool:
        """False when too many mentions are unscored for a score (see the module docstring)."""
        return self.level != NOT_SCORED

    def unscored_text(self) -> str:
        """'5040 of 5040 mentions not scored yet: run mentionwatch score', or ''."""
        unscored = self.unscored_recent + self.unscored_baseline
        if not unscored:
            return ""
        return (f"{unscored:,} of {self.all_recent + self.all_baseline:,} mentions of the last "
                f"{RECENT_HOURS} h and the {BASELINE_DAYS} days before not scored yet: "
                "run mentionwatch score")

    @property
    def baseline_empty(self) -> bool:
        """No baseline although the watch has older history: the 7 days before hold no mention.
        (A watch whose first mention falls in those days has that one in them.)"""
        return not self.has_baseline and self.baseline_days > 0 and not self.all_baseline

    def no_baseline_reason(self) -> str:
        """Why there is nothing to compare with."""
        if self.baseline_empty:
            return f"no mentions in the {BASELINE_DAYS} days before the last {RECENT_HOURS} h"
        return f"less than {MIN_BASELINE_DAYS} day of mentions before the last {RECENT_HOURS} h"

    def explanation(self) -> str:
        scored = " scored" if self.unscored_recent else ""
        counted = (f"{self.negatives_recent} negative of {self.mentions_recent}{scored} mentions "
                   f"in the last {RECENT_HOURS} h")
        if not self.scored_enough:
            so_far = f"; so far {counted}" if self.mentions_recent else ""
            return f"no risk score: {self.unscored_text()}{so_far}"
        if self.unscored_text():
            counted += f" ({self.unscored_text()})"
        last6h = f"last {SPEED_HOURS} h weighted {self.weighted_last6h:.1f}"
        if not self.has_baseline:  # no size, and a speed alone scores nothing
            return (f"{counted} (reach-weighted {self.weighted_recent:.1f}; {NO_BASELINE}: "
                    f"{self.no_baseline_reason()} to compare with); {last6h}")
        return (f"{counted} (reach-weighted {self.weighted_recent:.1f} vs "
                f"{self.weighted_usual:.1f} usual; size x{self.size:.2f}); {last6h} "
                f"(speed x{self.speed:.2f})")


def watch_risk(db, watch: str, model_id: str | None, end: str,
               links: int | None = None) -> WatchRisk:
    """Risk of one watch at time `end` (stored-form text), from scores of `model_id`. `links`:
    how many mentions the watch has (watch_links), when counted already."""
    end_time = from_iso(end)
    recent_start = before(end_time, dt.timedelta(hours=RECENT_HOURS))
    fast_start = before(end_time, dt.timedelta(hours=SPEED_HOURS))
    baseline_start = before(recent_start, dt.timedelta(days=BASELINE_DAYS))

    first = edge_created_at(db, [watch], newest=False)
    covered_from = max(baseline_start, from_iso(first)) if first else recent_start
    baseline_days = max((recent_start - covered_from).total_seconds() / 86400, 0.0)

    recent, baseline, last6h = 0.0, 0.0, 0.0
    top: list[tuple] = []  # a heap of the EVIDENCE_POSTS strongest posts: a viral day holds millions
    links = watch_links(db, watch) if links is None else links
    # stored times compare as text in time order (storage.timeutil): no parsing of each row
    recent_from, fast_from = to_iso(recent_start), to_iso(fast_start)
    for row in _negatives(db, watch, model_id, baseline_start, end_time, links):
        weight = reach_weight(row["author_reach"])
        if row["created_at"] >= recent_from:
            recent += weight
            _keep_strongest(top, {**row, "weight": round(weight, 2)})  # its text etc. added below
            if row["created_at"] >= fast_from:
                last6h += weight
        else:
            baseline += weight
    speed = (last6h + 1) / (recent / (RECENT_HOURS / SPEED_HOURS) + 1)
    all_recent = _all_mentions(db, watch, recent_start, end_time, links)
    all_baseline = _all_mentions(db, watch, baseline_start, recent_start, links)
    if baseline_days >= MIN_BASELINE_DAYS and all_baseline:
        usual = baseline / baseline_days
        size = (recent + 1) / (usual + 1)
        score = _score(size, speed)
    else:  # nothing to compare with (see the module docstring): any amount would look like a surge
        usual = size = score = None

    counts_recent = _counts(db, watch, model_id, recent_start, end_time, links)
    counts_baseline = _counts(db, watch, model_id, baseline_start, recent_start, links)
    unscored = (all_recent - counts_recent[0], all_baseline - counts_baseline[0])
    level = NO_BASELINE if score is None else risk_level(score)
    if _too_many(unscored[0], all_recent) or _too_many(unscored[1], all_baseline):
        score, level = None, NOT_SCORED  # a score from part of the mentions would understate the wave
    posts = [post for *_, post in sorted(top, reverse=True)]
    open_alerts = open_alerts_at(db, watch, end)
    return WatchRisk(
        watch=watch, score=score, level=level,
        end=end, weighted_recent=round(recent, 2), weighted_usual=_rounded(usual, 2),
        weighted_last6h=round(last6h, 2), size=_rounded(size, 3), speed=round(speed, 3),
        negatives_recent=counts_recent[1], mentions_recent=counts_recent[0],
        share_recent=_share(counts_recent), share_baseline=_share(counts_baseline),
        baseline_days=round(baseline_days, 2), open_alerts=open_alerts,
        top_posts=_with_details(db, posts), unscored_recent=unscored[0],
        unscored_baseline=unscored[1], all_recent=all_recent, all_baseline=all_baseline,
    )


def before(moment: dt.datetime, span: dt.timedelta) -> dt.datetime:
    """moment - span, stopping at the start of year 1 (a period given in the first days of year 1
    has no room for its 7 days before)."""
    try:
        return moment - span
    except OverflowError:
        return dt.datetime.min.replace(tzinfo=moment.tzinfo)


def open_alerts_at(db, watch: str, end: str) -> int:
    """Alerts of the watch open at `end`: opened before it and not resolved before it. An alert
    opened after the period, or resolved within it, does not count; one resolved since does."""
    return db.execute(
        "SELECT count(*) FROM alerts WHERE watch = ? AND opened_at < ? "
        "AND (status != 'resolved' OR resolved_at >= ?)", [watch, end, end]).fetchone()[0]


def _too_many(unscored: int, mentions: int) -> bool:
    return unscored > MAX_UNSCORED_SHARE * mentions


def _score(size: float, speed: float) -> float:
    score = 30 * math.log2(size) if size > 1 else 0.0
    if size > 1 and speed > 1:
        score += 20 * math.log2(speed)
    return round(min(max(score, 0.0), 100.0), 1)


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# The window queries below read either the mentions of the window (through the created_at index)
# and check each one's watch, or the mentions of the watch (through mention_watches' primary key)
# and check each one's time: `window_first` says which reads fewer. CROSS JOIN keeps SQLite to the
# order chosen; left to choose, it starts from the watch (or the model's scores) whatever their
# size. On a million mentions (two watches of 500,000), a week of a big watch takes 0.33 s from
# the watch and 0.13 s from the week; a watch of 200 mentions 0.05 s from the week and 0.001 s from
# the watch.
_BY_WINDOW = "mentions m CROSS JOIN mention_watches w ON w.mention_id = m.id AND w.watch = :watch"
_BY_WATCH = "mention_watches w CROSS JOIN mentions m ON m.id = w.mention_id AND w.watch = :watch"


def watch_links(db, watch: str) -> int:
    """How many mentions are linked to the watch (read from an index alone: 500,000 in 0.03 s)."""
    return db.execute("SELECT count(*) FROM mention_watches WHERE watch = ?", [watch]).fetchone()[0]


def window_first(db, watch: str, start: str, end: str, links: int | None = None) -> bool:
    """Whether to read the watch's mentions of [start, end) from the mentions of the window
    (True) rather than from the watch's (False): the window has no more mentions than the watch
    has links (`links`, counted when not given). The window is counted from its index alone, and
    only up to the watch's count."""
    links = watch_links(db, watch) if links is None else links
    in_window = db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM mentions WHERE created_at >= ? AND created_at < ? "
        "LIMIT ?)", [start, end, links + 1]).fetchone()[0]
    return in_window <= links


def watch_mentions_sql(db, watch: str, start: str, end: str, links: int | None = None) -> str:
    """The FROM clause (tables `m` and `w`, parameter :watch) for the watch's mentions of
    [start, end), in the order that reads fewer rows (see window_first)."""
    return _BY_WINDOW if window_first(db, watch, start, end, links) else _BY_WATCH


# How many of the newest (or oldest) mentions edge_created_at reads through the created_at index
# at most, looking for one of the watches (a million in about 0.5 s: this many in about 0.03 s).
EDGE_SCAN = 50_000


def edge_created_at(db, watches: list[str] | None, *, newest: bool, below: str | None = None,
                    at_most: str | None = None) -> str | None:
    """The created_at of the newest (newest=True) or oldest mention of these watches (of any watch
    when None), of those dated before `below` and at most `at_most` when given; None when there is
    none.

    The same as max() or min() over the watches' mentions, which reads them all (0.3 s for a watch
    of 500,000 among a million). Watches with fewer than EDGE_SCAN links are read so; for others,
    the newest (oldest) EDGE_SCAN mentions are read first, newest (oldest) first, up to the first
    one of the watches, and only when none of them is theirs are the watches' own mentions read."""
    bounds, params = [], []
    if below is not None:
        bounds.append("created_at < ?")
        params.append(below)
    if at_most is not None:
        bounds.append("created_at <= ?")
        params.append(at_most)
    named = [] if watches is None else list(watches)
    marks = ", ".join("?" * len(named))
    few = watches is not None and db.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM mention_watches WHERE watch IN ({marks}) LIMIT ?)",
        [*named, EDGE_SCAN]).fetchone()[0] < EDGE_SCAN
    if not few:
        where = f"WHERE {' AND '.join(bounds)}" if bounds else ""
        chosen = "" if watches is None else f"AND w.watch IN ({marks})"
        found = db.execute(
            f"SELECT m.created_at FROM (SELECT id, created_at FROM mentions {where} "
            f"ORDER BY created_at {'DESC' if newest else 'ASC'} LIMIT ?) m "
            f"WHERE EXISTS (SELECT 1 FROM mention_watches w WHERE w.mention_id = m.id {chosen}) "
            "LIMIT 1", [*params, EDGE_SCAN, *named]).fetchone()
        if found:
            return found[0]
        scanned = db.execute(f"SELECT count(*) FROM (SELECT 1 FROM mentions {where} LIMIT ?)",
                             [*params, EDGE_SCAN]).fetchone()[0]
        if scanned < EDGE_SCAN:  # every mention of the range was read: none is theirs
            return None
    if watches is None:
        links, conditions = "mentions m JOIN mention_watches w ON w.mention_id = m.id", []
    else:
        links = "mention_watches w CROSS JOIN mentions m ON m.id = w.mention_id"
        conditions = [f"w.watch IN ({marks})"]
    conditions += [f"m.{bound}" for bound in bounds]
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    return db.execute(f"SELECT {'max' if newest else 'min'}(m.created_at) FROM {links} {where}",
                      [*named, *params]).fetchone()[0]


_POST_DETAILS = ("source", "author", "url", "title", "text")
_POST_KEYS = ("mention_id", "created_at", "source", "author", "author_reach", "url", "title", "text",
              "p_negative", "weight")


def _negatives(db, watch: str, model_id: str | None, start: dt.datetime, end: dt.datetime,
               links: int | None = None):
    """The watch's negative mentions of [start, end), oldest first (ties by id: the weights are
    added up in the same order whichever way the rows are read): id, time, reach and p_negative
    only (the text of the few shown is read by _with_details)."""
    start, end = to_iso(start), to_iso(end)
    cursor = db.conn.execute(
        "SELECT m.id AS mention_id, m.created_at, m.author_reach, s.p_negative FROM "
        f"{watch_mentions_sql(db, watch, start, end, links)} "
        "CROSS JOIN scores s ON s.mention_id = m.id AND s.model_id = :model AND s.label = 'negative' "
        "WHERE m.created_at >= :start AND m.created_at < :end ORDER BY m.created_at, m.id",
        {"watch": watch, "model": model_id, "start": start, "end": end})
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield dict(zip(names, row))


def _keep_strongest(heap: list[tuple], post: dict) -> None:
    """Keep `post` in `heap` if it is among the EVIDENCE_POSTS strongest so far (reach-weighted
    negativity, then the newest; the earlier read wins a tie, as a stable sort would keep it)."""
    entry = (post["weight"] * post["p_negative"], post["created_at"], -post["mention_id"], post)
    if len(heap) < EVIDENCE_POSTS:
        heapq.heappush(heap, entry)
    elif entry[:3] > heap[0][:3]:
        heapq.heapreplace(heap, entry)


def _with_details(db, posts: list[dict]) -> list[dict]:
    """The evidence posts with their source, author, link and text, keys in the order shown; a post
    erased since it was read (by `forget`, while the report ran) is left out."""
    ids = [post["mention_id"] for post in posts]
    details = {row[0]: dict(zip(_POST_DETAILS, row[1:])) for row in db.conn.execute(
        f"SELECT id, {', '.join(_POST_DETAILS)} FROM mentions WHERE id IN ({', '.join('?' * len(ids))})",
        ids)} if ids else {}
    return [{key: {**post, **details[post["mention_id"]]}[key] for key in _POST_KEYS}
            for post in posts if post["mention_id"] in details]


def _counts(db, watch, model_id, start: dt.datetime, end: dt.datetime,
            links: int | None = None) -> tuple[int, int]:
    """(scored mentions, negative ones) of the watch in [start, end)."""
    start, end = to_iso(start), to_iso(end)
    total, negative = db.execute(
        "SELECT count(*), sum(s.label = 'negative') FROM "
        f"{watch_mentions_sql(db, watch, start, end, links)} "
        "CROSS JOIN scores s ON s.mention_id = m.id AND s.model_id = :model "
        "WHERE m.created_at >= :start AND m.created_at < :end",
        {"watch": watch, "model": model_id, "start": start, "end": end}).fetchone()
    return total, negative or 0


def _all_mentions(db, watch, start: dt.datetime, end: dt.datetime, links: int | None = None) -> int:
    """Every mention of the watch in [start, end), scored or not."""
    start, end = to_iso(start), to_iso(end)
    return db.execute(
        f"SELECT count(*) FROM {watch_mentions_sql(db, watch, start, end, links)} "
        "WHERE m.created_at >= :start AND m.created_at < :end",
        {"watch": watch, "start": start, "end": end}).fetchone()[0]


def _share(counts: tuple[int, int]) -> float | None:
    return counts[1] / counts[0] if counts[0] else None
