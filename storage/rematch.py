"""Applying the watches' current queries to mentions already stored (`mentionwatch rematch`).

Collectors match a post against its watch's query once, when they store it; editing the query
later changes only what is collected from then on. `plan_rematch` reads every stored mention and
matches it as the collectors do (`crawler.matching`: the post folded once, then tried against each
chosen watch's current query); `apply_rematch` then

* unlinks from the watch the mentions linked to it that the query no longer matches (only their
  `mention_watches` row goes: the mention, its scores, its triage mark and its other watches stay),
* links to it the stored mentions it now matches (linked_by 'query', matched_at now),

in transactions of at most REMATCH_BATCH link changes, so collectors writing at the same time wait
for a moment, not for the whole run.

Left as they are:

* links made by `mentionwatch import --watch` (linked_by 'import'): the file is what the analyst
  chose to bring in, and the import never checked the query. Links stored before mentionwatch
  recorded how a link was made (linked_by NULL) are treated as query links, and counted apart so
  the preview shows them;
* mentions from a source type the watch collects with `options.match_query: false`: the collector
  kept them without the query, so the query says nothing about them;
* the alerts: an unlinked mention stays among the posts behind an alert of the watch
  (`alert_mentions`). An alert records what it was raised on, and its counts, its quoted top posts
  and `export --alert` agree with that record; the preview and the summary name the alerts that
  hold unlinked posts. Later detection counts only the posts linked then.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from crawler.matching import folded_post, matches_folded
from storage.db import utc_now_iso
from storage.mentions import LINKED_BY_IMPORT

REMATCH_BATCH = 10_000  # link changes per transaction (as storage.erasure.ERASE_BATCH)
READ_CHUNK = 10_000  # mentions read per query
EXAMPLES = 5  # example posts kept per watch and kind of change
_NOT_LINKED = object()


@dataclass(frozen=True)
class WatchRule:
    """What rematch applies for one watch: its query, and the source types it leaves alone."""

    name: str
    query: object  # mentionwatch.config.Query
    unqueried_sources: frozenset[str] = frozenset()  # collected with options.match_query: false
    # the sources whose posts may be linked (None: any); the watch's own by default, since
    # collection goes on linking only those: posts of other sources would count up to the
    # rematch and stop there, a false step in the watch's baseline
    linkable_sources: frozenset[str] | None = None

    @classmethod
    def of(cls, watch, db=None) -> "WatchRule":
        """The rule for a configured `mentionwatch.config.Watch`; with `db`, new links are limited
        to the watch's own sources: its source types and the sources of the posts linked to it."""
        unqueried = {source.type for source in watch.sources if source.options.get("match_query") is False}
        linkable = None if db is None else frozenset(
            {source.type for source in watch.sources} | _linked_sources(db, watch.name))
        return cls(watch.name, watch.query, frozenset(unqueried), linkable)


def _linked_sources(db, watch: str) -> set[str]:
    """The sources of the posts linked to the watch."""
    return {source for (source,) in db.execute(
        "SELECT DISTINCT m.source FROM mention_watches w JOIN mentions m ON m.id = w.mention_id "
        "WHERE w.watch = ?", [watch])}


@dataclass
class Example:
    """A post shown in the preview."""

    mention_id: int
    source: str
    text: str  # its start


@dataclass
class WatchChanges:
    """What rematch changes (or would change) for one watch."""

    watch: str
    unlink: list[int] = field(default_factory=list)
    link: list[int] = field(default_factory=list)
    unlink_of_unknown_origin: int = 0  # of `unlink`: links stored before linked_by was recorded
    imports_kept: int = 0  # import links the query does not match: kept
    left_alone: Counter = field(default_factory=Counter)  # source -> mentions not matched (match_query: false)
    other_sources: Counter = field(default_factory=Counter)  # source -> matching posts not linked (not its own)
    unlink_examples: list[Example] = field(default_factory=list)
    link_examples: list[Example] = field(default_factory=list)
    alerts: Counter = field(default_factory=Counter)  # alert id -> unlinked posts behind it (they stay)
    unlinked: int = 0  # done by apply_rematch
    linked: int = 0


@dataclass
class RematchPlan:
    """Every chosen watch's changes, worked out from one read of the stored mentions."""

    watches: list[WatchChanges]
    mentions_read: int = 0


def plan_rematch(db, rules: Iterable[WatchRule], *, chunk: int = READ_CHUNK) -> RematchPlan:
    """Match every stored mention against each rule's query; change nothing."""
    rules = list(rules)
    plan = RematchPlan([WatchChanges(rule.name) for rule in rules])
    last_id = 0
    while True:
        rows = db.execute("SELECT id, source, title, text, lang, title_is_thread FROM mentions WHERE id > ? "
                          "ORDER BY id LIMIT ?",
                          [last_id, chunk]).fetchall()
        if not rows:
            break
        links = _links_between(db, [rule.name for rule in rules], rows[0][0], rows[-1][0])
        # once for all watches; a comment's thread title is shown, not matched on (as collecting does)
        folded = [folded_post(text, None if thread_title else title)
                  for _id, _source, title, text, _lang, thread_title in rows]
        for rule, changes in zip(rules, plan.watches):
            _match_rows(rule, changes, rows, folded, links)
        plan.mentions_read += len(rows)
        last_id = rows[-1][0]
    for changes in plan.watches:
        changes.alerts = _alerts_holding(db, changes.watch, changes.unlink)
    return plan


def _links_between(db, watches: list[str], first_id: int, last_id: int) -> dict[tuple[int, str], str | None]:
    """(mention id, watch) -> linked_by, for the mentions with ids in [first_id, last_id]."""
    return {(mention_id, watch): linked_by for mention_id, watch, linked_by in db.execute(
        "SELECT mention_id, watch, linked_by FROM mention_watches WHERE mention_id BETWEEN ? AND ? "
        "AND watch IN (SELECT value FROM json_each(?))", [first_id, last_id, json.dumps(watches)])}


def _match_rows(rule: WatchRule, changes: WatchChanges, rows: list[tuple], folded: list[str], links: dict) -> None:
    """Sort one chunk of mentions (and their folded texts) into the watch's changes."""
    for (mention_id, source, title, text, lang, _thread_title), folded_text in zip(rows, folded):
        linked_by = links.get((mention_id, rule.name), _NOT_LINKED)
        if source in rule.unqueried_sources:
            if linked_by is not _NOT_LINKED:
                changes.left_alone[source] += 1
            continue
        matched = matches_folded(rule.query, folded_text, lang=lang)
        if matched and linked_by is _NOT_LINKED and not _linkable(rule, source):
            changes.other_sources[source] += 1
        elif matched and linked_by is _NOT_LINKED:
            changes.link.append(mention_id)
            _keep_example(changes.link_examples, mention_id, source, title, text)
        elif not matched and linked_by == LINKED_BY_IMPORT:
            changes.imports_kept += 1
        elif not matched and linked_by is not _NOT_LINKED:
            changes.unlink.append(mention_id)
            changes.unlink_of_unknown_origin += linked_by is None
            _keep_example(changes.unlink_examples, mention_id, source, title, text)


def _linkable(rule: WatchRule, source: str) -> bool:
    return rule.linkable_sources is None or source in rule.linkable_sources


def _keep_example(examples: list[Example], mention_id: int, source: str, title: str | None, text: str) -> None:
    if len(examples) < EXAMPLES:
        shown = text if text.strip() else (title or "")
        examples.append(Example(mention_id, source, shown[:200]))


def _alerts_holding(db, watch: str, mention_ids: list[int]) -> Counter:
    """Alert id -> how many of these mentions are behind that alert of the watch."""
    held: Counter = Counter()
    for start in range(0, len(mention_ids), REMATCH_BATCH):
        held.update(dict(db.execute(
            "SELECT am.alert_id, count(*) FROM alert_mentions am JOIN alerts a ON a.id = am.alert_id "
            "WHERE a.watch = ? AND am.mention_id IN (SELECT value FROM json_each(?)) GROUP BY am.alert_id",
            [watch, json.dumps(mention_ids[start:start + REMATCH_BATCH])])))
    return held


def apply_rematch(db, plan: RematchPlan, *, batch: int = REMATCH_BATCH) -> RematchPlan:
    """Make the plan's changes, `batch` links per transaction; counts what was done in each
    WatchChanges (`unlinked`, `linked`).

    Safe against what happened since the plan was made: an import link made meanwhile is not
    removed, and a mention erased meanwhile (`mentionwatch forget`) is not linked.
    """
    now = utc_now_iso()
    for changes in plan.watches:
        for start in range(0, len(changes.unlink), batch):
            with db.atomic():
                changes.unlinked += _unlink(db, changes.watch, changes.unlink[start:start + batch])
        for start in range(0, len(changes.link), batch):
            with db.atomic():
                changes.linked += _link(db, changes.watch, changes.link[start:start + batch], now)
    return plan


def _unlink(db, watch: str, mention_ids: list[int]) -> int:
    return db.execute(
        "DELETE FROM mention_watches WHERE watch = ? AND mention_id IN (SELECT value FROM json_each(?)) "
        "AND linked_by IS NOT 'import'", [watch, json.dumps(mention_ids)]).rowcount


def _link(db, watch: str, mention_ids: list[int], now: str) -> int:
    return db.execute(
        "INSERT OR IGNORE INTO mention_watches (watch, mention_id, matched_at, linked_by) "
        "SELECT ?, id, ?, 'query' FROM mentions WHERE id IN (SELECT value FROM json_each(?))",
        [watch, now, json.dumps(mention_ids)]).rowcount
