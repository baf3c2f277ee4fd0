"""Detection over stored mentions: series per watch (and per source), detector, alerts in the database.

`run_detection(db, config, now=None, notify=True)` runs every watch's rules over the last
HISTORY_DAYS of scored mentions (plus the warm-up, or the week of baseline when that is longer).
What several rules find in one incident is merged first (`merged_alerts`), so a new incident opens one alert at the highest severity it reached, with
one 'opened' notification. An incident updates the stored alert of the same incident (same watch
and source, and the later of the two fired before the cooldown after the other's window ran out:
`_same_incident`); a window that overlaps only through a count rule's look-back is no reason.
Notifications are queued (not sent: `alerts.notify.send_pending`
does that) when an alert opens or its severity rises, but only for incidents still going on at
`now`: spikes found in old, freshly imported history are stored without waking anybody. An opening
or a rise that a run telling nobody stored (`detect --no-notify`, a replay) is announced by the
next run that notifies and finds the incident still going on (`_unannounced`,
`_unannounced_escalation`), as is an open alert to a target added to the watchlist since it
opened (`queue_late_openings`).

A resolved alert is closed for good. When its incident goes on (hot buckets before the cooldown has
passed), the part after the resolution is judged on the mentions created since then alone and, if
still hot, opens a new alert (`alerts_for_series`); a separate incident whose rule looks back over
the resolved alert's hours leaves the resolved wave's posts out (`_latest_resolution`); `backtest`
knows no resolutions.

An alert's `opened_at` is when the rules would have raised it (the end of its first hot bucket,
never later than the run's time); its timeline events are written at the time they were recorded.
`backtest` replays the same rules over a period and stores nothing.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np

from alerts import explain
from alerts.detector import (DetectorSettings, Incident, bucket_stats, find_incidents, severity_rank,
                             threshold_incidents)
from alerts.lifecycle import record_event
from alerts.notify import queue_late_openings, queue_notifications
from alerts.postcrisis import negative_share
from alerts.series import Series, build_series, floor_to_bucket, scored_rows, zone_offset
from mentionwatch.config import duration_text, parse_duration
from sentiment import model_id_for
from storage.mentions import EARLIEST_CREATED_AT
from storage.timeutil import from_iso, parse_timestamp, to_iso

log = logging.getLogger(__name__)

HISTORY_DAYS = 30
SPIKE_RULE = "spike"
DETECTOR = "detector"  # the actor of the timeline events detection writes
# A run whose time is this much before the clock replays the past (`detect --at`).
REPLAY_MARGIN = dt.timedelta(minutes=1)

# The detector's fixed defaults, chosen on the NAB Twitter series and on thinned copies of them, so
# that they hold for quieter brands too (see README.md, "Measured: the NAB Twitter benchmark").
BASE_THRESHOLD = 5.0  # robust z at sensitivity 0.5
BASE_RATIO = 2.5  # observed / expected at sensitivity 0.5 (3 until 2026-12-06: it caught Amazon's windows by a hair)
SMOOTH_SECONDS = 3600.0  # observations add up the last hour (at least one bucket)
SEASON_SECONDS = 86400.0  # seasonal baseline: same time of day ...
SEASON_DAYS = 7  # ... on each of the previous 7 days ...
# ... give or take an hour (at least one bucket), so that the hour a daylight-saving change moves a
# daily rush by is still "the same time of day" ...
SEASON_HALFWIDTH_SECONDS = 3600.0
# ... and at most 6 buckets, which bounds the work with tiny buckets: buckets under 10 minutes get
# less than an hour (30 minutes with 5-minute buckets, the setting measured on NAB's series)
MAX_HALFWIDTH_BUCKETS = 6


@dataclass
class DetectionResult:
    opened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    escalated: dict[int, tuple[str, str]] = field(default_factory=dict)  # alert: (severity before, after) this run
    checked: int = 0
    unchecked: list[str] = field(default_factory=list)  # alerting watches without scored mentions in the period
    queued: int = 0  # notification messages queued (an alert nobody heard of can be announced unchanged)
    # alerts stored before this run, neither opened nor escalated by it, whose messages it queued: found
    # by a run that told nobody (a replay), or new to a target added to the watchlist since
    announced: list[int] = field(default_factory=list)


@dataclass
class Finding:
    """An incident in calendar terms: what an alert row holds."""

    watch: str
    source: str | None
    rule: str
    window_start: str
    window_end: str
    observed: float  # mentions in the rule's window at the peak: [peak_start, peak_end)
    expected: float  # spike rule: the usual count; threshold rule: the rule's count
    score: float
    severity: str  # the highest severity reached
    opened_at: str  # when a run would have raised it: end of its first hot bucket, at most the run's time
    opened_severity: str
    escalations: list[tuple[str, str]]  # (when reached, severity), each higher than the one before
    live: bool
    peak_start: str
    peak_end: str
    rules: tuple[str, ...] = ()  # every rule that fired on the incident
    follows: int | None = None  # the resolved alert whose incident this one continues, after its resolution


def detector_settings(settings, bucket_seconds: float | None = None) -> DetectorSettings:
    """Alert settings from the config (seconds, sensitivity) -> detector settings (buckets)."""
    bucket = bucket_seconds or settings.bucket
    strictness = 2.0 ** (1.0 - 2.0 * settings.sensitivity)  # 2 at sensitivity 0, 1 at 0.5, 0.5 at 1
    return DetectorSettings(
        season=max(1, round(SEASON_SECONDS / bucket)),
        season_days=SEASON_DAYS,
        season_halfwidth=min(MAX_HALFWIDTH_BUCKETS, max(1, round(SEASON_HALFWIDTH_SECONDS / bucket))),
        smooth=max(1, round(SMOOTH_SECONDS / bucket)),
        threshold=BASE_THRESHOLD * strictness,
        min_ratio=1.0 + (BASE_RATIO - 1.0) * strictness,
        min_count=settings.min_count,
        warmup=int(-(-settings.warmup // bucket)),
        cooldown=int(-(-settings.cooldown // bucket)),
    )


def baseline_buckets(tuned: DetectorSettings) -> int:
    """How far back a bucket's baseline reaches: the same time of day on each of the previous days,
    give or take the half-width, and an hour more for a daylight-saving change."""
    hour = -(-3600 * tuned.season // round(SEASON_SECONDS))
    return tuned.season * tuned.season_days + tuned.season_halfwidth + hour


def history_needed(settings) -> dt.timedelta:
    """How much history before the first bucket it judges a run reads: the warm-up, or the baseline
    when that reaches further back (a short warm-up). Every bucket judged then has its whole
    baseline, as it had when a live run judged it, whatever time a later run looks from."""
    bucket = settings.bucket
    return dt.timedelta(seconds=max(settings.warmup, baseline_buckets(detector_settings(settings)) * bucket))


def _finding(series: Series, rule: str, incident: Incident, span: int, not_before: str | None = None) -> Finding:
    first_bucket = max(0, incident.start - span + 1)
    steps = [(to_iso(series.known_at(bucket)), severity) for bucket, _kind, severity in incident.events]
    return Finding(
        watch=series.watch, source=series.source, rule=rule,
        window_start=max(to_iso(series.bucket_start(first_bucket)), not_before or ""),
        window_end=to_iso(series.bucket_end(incident.end)),
        observed=incident.observed, expected=round(incident.expected, 3), score=round(incident.z, 3),
        severity=incident.severity,
        opened_at=steps[0][0], opened_severity=steps[0][1], escalations=steps[1:],
        live=incident.active,
        peak_start=max(to_iso(series.bucket_start(max(0, incident.peak - span + 1))), not_before or ""),
        peak_end=to_iso(series.bucket_end(incident.peak)),
        rules=(rule,),
    )


def utc_offsets(series: Series, time_zone: str) -> np.ndarray | None:
    """Seconds east of UTC at the start of every bucket, in `time_zone` (None for UTC), so that the
    detector compares a bucket with the same local time on earlier days across daylight-saving
    changes. Looked up once per quarter hour, the finest step time zones change by."""
    if time_zone == "UTC":
        return None
    zone = ZoneInfo(time_zone)
    starts = series.start.timestamp() + np.arange(len(series)) * series.bucket_seconds
    quarters, quarter_of_bucket = np.unique(starts // 900, return_inverse=True)
    offsets = [dt.datetime.fromtimestamp(quarter * 900, zone).utcoffset().total_seconds() for quarter in quarters]
    return np.asarray(offsets)[quarter_of_bucket]


def threshold_rule_name(rule) -> str:
    return "threshold:" + (rule.name or f"{rule.count} in {duration_text(rule.window)}")


def findings_for_series(series: Series, settings, since: str | None = None, recent=None) -> list[Finding]:
    """Every incident of the spike detector and of the threshold rules in one series, by opening time.
    With `since`, only mentions created from then on count (`recent`: their negative counts), judged
    against the baseline of the whole series, and no window starts before it."""
    tuned = detector_settings(settings)
    if series.history_cut:
        tuned = dataclasses.replace(tuned, warmup=max(tuned.warmup, baseline_buckets(tuned)))
    judged = series.negative if recent is None else recent
    local_time = utc_offsets(series, settings.timezone)
    incidents = find_incidents(bucket_stats(series.negative, tuned, judged=recent, utc_offsets=local_time), tuned)
    found = [_finding(series, SPIKE_RULE, incident, tuned.smooth, since) for incident in incidents]
    for rule in settings.thresholds:
        window = max(1, round(rule.window / settings.bucket))
        name = threshold_rule_name(rule)
        for incident in threshold_incidents(judged, window, rule.count, tuned.cooldown, rule.severity):
            found.append(_finding(series, name, incident, window, since))
    return sorted(found, key=lambda f: f.opened_at)  # the order a live run meets them in


def alerts_for_series(run: _Run, series: Series, settings) -> list[Finding]:
    """The series' alerts for `_store`. A resolved alert is closed for good, even while the detector's
    incident goes on (its cooldown has not passed): the part of the incident after the resolution,
    counting only mentions created since then, stands in for the incident and opens an alert of its own."""
    resolutions = _resolutions(run.db, series)
    alerts: list[Finding] = []
    for alert in merged_alerts(findings_for_series(series, settings), settings.cooldown):
        resolved = _latest_resolution(alert, resolutions, series, settings.cooldown)
        alerts.extend(_after_resolution(run, series, settings, alert, *resolved) if resolved else [alert])
    return alerts


def _resolutions(db, series: Series) -> list[tuple[int, str, str, str, str]]:
    """(id, window start, window end, opened at, resolved at) of the series' resolved alerts."""
    return db.execute(
        """SELECT id, window_start, window_end, opened_at, resolved_at FROM alerts
           WHERE watch = ? AND source IS ? AND status = 'resolved' AND resolved_at IS NOT NULL""",
        [series.watch, series.source]).fetchall()


def _latest_resolution(alert: Finding, resolutions, series: Series, cooldown: float) -> tuple[int | None, str] | None:
    """(id, since) for an alert whose window overlaps a resolved alert's and went on after the
    resolution: it counts only the mentions created from `since` on. For the resolved alert's own
    incident (one a live run would have merged into it, see _same_incident) that is the time of the
    resolution. A separate incident (it fired after the cooldown past the resolved alert's window)
    overlaps it only through a rule's look-back (a count rule's "50 in 12h"): the resolved wave's
    posts, written before the resolution, are left out of that look-back too, but not the
    incident's own, from its first hot bucket on, when it began before the resolution. The id is
    None then: it is no new wave after that resolution. None when no resolution cuts anything."""
    cuts = []
    for resolved_id, start, end, opened_at, resolved_at in resolutions:
        if not (_overlap(alert, start, end) and resolved_at <= alert.window_end):
            continue
        resolved = dataclasses.replace(alert, window_start=start, window_end=end, opened_at=opened_at)
        if _same_incident(resolved, alert, cooldown) or resolved_at <= (began := _first_hot_start(alert, series)):
            cuts.append((resolved_at, resolved_id))
        else:
            cuts.append((began, None))
    if not cuts:
        return None
    since, resolved_id = max(cuts, key=lambda cut: cut[0])
    return resolved_id, since


def _first_hot_start(alert: Finding, series: Series) -> str:
    """The start of the alert's first hot bucket (the one it opened at the end of, or during)."""
    opened = (from_iso(alert.opened_at) - series.start).total_seconds()
    return to_iso(series.bucket_start(int((opened - 1e-6) // series.bucket_seconds)))


def _overlap(alert: Finding, start: str, end: str) -> bool:
    return alert.window_start < end and alert.window_end > start


def _after_resolution(run: _Run, series: Series, settings, alert: Finding, resolved_id: int | None,
                      since: str) -> list[Finding]:
    """The alerts that the incident's mentions created since `since` make on their own (see
    _latest_resolution); `resolved_id`: the resolved alert they come after, if any."""
    rows = scored_rows(run.db, series.watch, run.model_id, since=since, until=to_iso(series.ends_at),
                       source=series.source)
    last_bucket = series.ends_at - dt.timedelta(seconds=1e-6)
    recent = build_series(rows, series.watch, series.bucket_seconds, last_bucket, source=series.source,
                          start=series.start, time_zone=settings.timezone).negative
    later = merged_alerts(findings_for_series(series, settings, since=since, recent=recent),
                          settings.cooldown)
    return [dataclasses.replace(part, follows=resolved_id) for part in later
            if _overlap(part, alert.window_start, alert.window_end)]


def _same_incident(alert: Finding, finding: Finding, cooldown: float) -> bool:
    """Whether `finding` belongs to `alert`'s incident: of the two, the one that fired later fired
    before the cooldown after the other's window ran out. Measured from when it fired, not from its
    window's start, which a count rule sets a whole day back ("70 in 1d"), over the earlier
    incident. One rule's own incidents never meet this way (the detector ends one after `cooldown`
    quiet buckets); another rule's hot hours in between can join them, as the team lived them. Two
    that fired at one time belong together when their windows overlap. The rule is the same either
    way round: `merged_alerts` meets findings by opening time, but `_store` also meets a stored alert
    that opened after the finding (a later, separate incident whose look-back reaches over it)."""
    if alert.window_start >= finding.window_end:
        return False
    if finding.opened_at == alert.opened_at:  # found together: their windows decide
        return alert.window_end > finding.window_start
    first, later = (alert, finding) if alert.opened_at < finding.opened_at else (finding, alert)
    reach = to_iso(from_iso(later.opened_at) - dt.timedelta(seconds=cooldown))
    return reach <= first.window_end  # the detector's own rule: a new incident after more than `cooldown` quiet buckets


def merge_into(alert: Finding, finding: Finding) -> tuple[Finding, bool] | None:
    """The alert after a finding on an overlapping window (any rule), and whether its severity rose;
    None when the finding adds nothing. The alert keeps its rule, and its counts unless the same rule
    saw more. Its severity steps are those of both, in time order: a step the alert had already
    reached (by another rule, earlier) is no escalation."""
    same_rule = alert.rule == finding.rule
    steps = rising_steps(severity_steps(alert) + severity_steps(finding))
    escalated = severity_rank(steps[-1][1]) > severity_rank(alert.severity)
    # the peak is the bucket that stood out most (highest score), as the detector picks it; its
    # count, expected count and score are kept together
    stronger = same_rule and finding.score > (alert.score or 0.0)
    # a window may grow backwards only: a re-run with a longer cooldown joins an earlier incident
    grew = finding.window_end > alert.window_end or _merged_start(alert, finding) < alert.window_start
    if not (escalated or stronger or grew):
        return None
    peak = finding if stronger else alert
    merged = dataclasses.replace(
        finding, rule=alert.rule, severity=steps[-1][1],
        opened_at=steps[0][0], opened_severity=steps[0][1], escalations=steps[1:],
        window_start=_merged_start(alert, finding),
        window_end=max(alert.window_end, finding.window_end),
        observed=peak.observed, expected=peak.expected, peak_start=peak.peak_start, peak_end=peak.peak_end,
        score=peak.score if same_rule else alert.score,
        rules=_all_rules(alert, finding), live=alert.live or finding.live,
    )
    return merged, escalated


def _merged_start(alert: Finding, finding: Finding) -> str:
    """Where the merged alert's window starts. A finding that opened later extends the alert forward
    only: a count rule's look-back (a day, for "70 in 1d") would otherwise stretch the alert back
    over an earlier, separate incident, which a later run would then merge into it."""
    if finding.opened_at >= alert.opened_at:
        return alert.window_start
    return min(alert.window_start, finding.window_start)


def severity_steps(finding: Finding) -> list[tuple[str, str]]:
    """(time, severity) of its opening and of each escalation."""
    return [(finding.opened_at, finding.opened_severity), *finding.escalations]


def rising_steps(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The steps in time order that raise the severity; of several at one time, the highest."""
    kept: list[tuple[str, str]] = []
    for at, severity in sorted(steps, key=lambda step: (step[0], severity_rank(step[1]))):
        if kept and severity_rank(severity) <= severity_rank(kept[-1][1]):
            continue
        if kept and kept[-1][0] == at:
            kept.pop()
        kept.append((at, severity))
    return kept


def _all_rules(alert: Finding, finding: Finding) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*alert.rules, *finding.rules)))


def watch_series(db, watch_name: str, settings, model_id: str, since: dt.datetime, until: dt.datetime) -> list[Series]:
    """The watch's series over all sources, plus one per source when `per_source` is set and the
    period holds more than one source."""
    rows = scored_rows(db, watch_name, model_id, since=to_iso(since), until=to_iso(until))
    if not rows:
        return []
    last_bucket = until - dt.timedelta(seconds=1e-6)
    # with older mentions left out, the series starts at `since` (its quiet start is real), not at
    # the first mention after it
    history_cut = _scored_before(db, watch_name, model_id, since)
    all_series = [build_series(rows, watch_name, settings.bucket, last_bucket, start=since if history_cut else None,
                               time_zone=settings.timezone)]
    all_series[0].history_cut = history_cut
    first_in_window: dict[str, str] = {}
    for created_at, source, _label in rows:
        first_in_window.setdefault(source, created_at)
    # a watch read from one source only: its own series would be the watch's again, and every
    # alert would come twice
    if settings.per_source and len(first_in_window) > 1:
        for source in sorted(first_in_window):
            start, cut = all_series[0].start, history_cut
            if _new_source(db, watch_name, source, first_in_window[source], since):
                # its warm-up counts from its first mention
                start, cut = from_iso(first_in_window[source]), False
            all_series.append(build_series(rows, watch_name, settings.bucket, last_bucket, source=source,
                                           start=start, time_zone=settings.timezone))
            all_series[-1].history_cut = cut
    for series in all_series:
        series.ends_at = until
    return all_series


def _scored_before(db, watch_name: str, model_id: str, since: dt.datetime) -> bool:
    """Whether the watch has mentions scored by the model from before `since` (history left out)."""
    return db.execute(
        "SELECT 1 FROM mention_watches w JOIN mentions m ON m.id = w.mention_id "
        "JOIN scores s ON s.mention_id = m.id AND s.model_id = ? "
        "WHERE w.watch = ? AND m.created_at < ? LIMIT 1", [model_id, watch_name, to_iso(since)]).fetchone() is not None


def _new_source(db, watch_name: str, source: str, first_in_window: str, since: dt.datetime) -> bool:
    """Whether the source's first mention of the watch is its first in the window, after the
    window's start: a source added to the watch lately, whose series must not start with days of
    zeros it never had (they would stand in for the warm-up)."""
    if first_in_window <= to_iso(since):
        return False
    earlier = db.execute(
        "SELECT 1 FROM mention_watches w JOIN mentions m ON m.id = w.mention_id "
        "WHERE w.watch = ? AND m.source = ? AND m.created_at < ? LIMIT 1",
        [watch_name, source, first_in_window]).fetchone()
    return earlier is None


def _now(now) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    if isinstance(now, dt.datetime) and now.tzinfo is not None:
        return now.astimezone(dt.timezone.utc)
    return from_iso(parse_timestamp(now))


def is_replay(moment) -> bool:
    """A run at a time in the past replays history: it is not news for anybody."""
    return _now(moment) < _now(None) - REPLAY_MARGIN


@dataclass
class _Run:
    """One detection run: where it writes, as of when, and whether it tells anybody."""

    db: object
    config: object
    model_id: str
    moment: dt.datetime  # the time detection looks from (`--at`, or now)
    recorded: str  # the clock when it runs: when its timeline events happen
    notify: bool
    result: DetectionResult


def run_detection(db, config, now=None, notify: bool = True) -> DetectionResult:
    """Detect over stored data up to `now`, open/update alerts, queue notifications (see module doc)."""
    moment = _now(now)
    result = DetectionResult()
    model_id = model_id_for(config.sentiment)
    run = _Run(db, config, model_id, moment, to_iso(_now(None)), notify, result)
    for watch in config.watches:
        settings = config.alert_settings(watch.name)
        if not settings.enabled:
            continue
        since = moment - dt.timedelta(days=HISTORY_DAYS) - history_needed(settings)
        all_series = watch_series(db, watch.name, settings, model_id, since, moment)
        if not all_series:
            result.unchecked.append(watch.name)
        for series in all_series:
            result.checked += 1
            for alert in alerts_for_series(run, series, settings):
                _store(run, watch, settings, alert)
    return result


def unconfigured_watches(db, config) -> list[tuple[str, int]]:
    """(watch, stored mentions) for watches that have mentions but are not in the watchlist file:
    detection never looks at them, which a user who imported into a new watch name should be told."""
    configured = {watch.name for watch in config.watches}
    rows = db.execute("SELECT watch, count(*) FROM mention_watches GROUP BY watch ORDER BY watch").fetchall()
    return [(name, count) for name, count in rows if name not in configured]


def _store(run: _Run, watch, settings, alert: Finding) -> None:
    _split_before_the_lock(run, settings, alert)
    # The write lock is taken before looking for the incident's alert, so two detections at once
    # (the service and a `detect` typed by hand) cannot both open one for the same incident. The
    # notifications are queued in the same transaction: a crash after the alert was written but
    # before they were queued would leave an alert that is never announced (the next run finds it
    # unchanged and queues nothing).
    with run.db.atomic():
        existing = _incident_alert(run, settings, alert)
        if existing is None:
            events = [_open_alert(run, watch, settings, alert)]
        else:
            never_announced = _unannounced(run, existing[0])
            event = _update_alert(run, watch, settings, alert, existing)
            events = [event] if event else []
            if never_announced is not None:
                events = _first_announcement(never_announced, event)
            elif event is None and run.notify and alert.live:
                events = _unannounced_escalation(run, existing[0])
        if run.notify and alert.live:
            queued = sum(queue_notifications(run.db, run.config, alert_id, kind, severity)
                         for alert_id, kind, severity in events)
            if existing is not None:  # a target added to the watchlist since the alert opened
                queued += queue_late_openings(run.db, run.config, existing[0])
            run.result.queued += queued
            if queued and existing is not None and existing[0] not in (*run.result.opened, *run.result.escalated):
                run.result.announced.append(existing[0])


def _split_before_the_lock(run: _Run, settings, alert: Finding) -> None:
    """Split the Japanese posts the alert's explanation will read (its window's negative posts, the
    week before it) while no lock is held: splitting takes seconds for a busy week, and other
    writers (a collector, an import) would wait for the write lock meanwhile. explain.words
    remembers them, so describe() inside the lock finds them split. Only for an alert that will be
    described: an unchanged one is not, and a `detect` run by cron must not split them all again."""
    finding = _finding_to_describe(run, settings, alert)
    if finding is None:
        return
    start = from_iso(finding.window_start)
    baseline_since = to_iso(start - dt.timedelta(seconds=SEASON_SECONDS * SEASON_DAYS))
    negatives = explain.negative_mentions(run.db, finding.watch, run.model_id, finding.window_start,
                                          min(finding.window_end, to_iso(run.moment)), finding.source)
    texts = [f"{m['title'] or ''} {m['text']}" for m in negatives]
    # a sample of the week before tells whether the whole of it needs reading here (most watches
    # write no Japanese: they read it once, inside the lock, as before)
    texts += explain.baseline_texts(run.db, finding.watch, baseline_since, finding.window_start, finding.source,
                                    limit=_JAPANESE_SAMPLE)
    if not any(explain.is_japanese(text) for text in texts):
        return
    texts += explain.baseline_texts(run.db, finding.watch, baseline_since, finding.window_start, finding.source)
    for text in texts:
        if explain.is_japanese(text):
            explain.words(text)


_JAPANESE_SAMPLE = 200


def _finding_to_describe(run: _Run, settings, alert: Finding) -> Finding | None:
    """What _store will describe for the alert, read before it takes the lock: the alert itself when
    it opens, the merged one when it changes its stored alert, the stored one when _catch_up
    describes it again; None when nothing is described (a change meanwhile costs only the split)."""
    existing = _incident_alert(run, settings, alert)
    if existing is None:
        return alert
    stored, stored_details = _stored_finding(alert, existing)
    if stored is None:
        return None
    change = merge_into(stored, alert)
    if change is not None:
        return change[0]
    return stored if _needs_catch_up(run, stored, stored_details.get("seen_until")) else None


def _incident_alert(run: _Run, settings, alert: Finding) -> tuple | None:
    """The stored alert of the alert's incident (see _same_incident), the latest if several, or None.
    One incident is one alert: any rule firing before the cooldown after its window ran out updates
    the same alert, unless that alert was resolved before this one opened (see alerts_for_series).
    An overlap of windows alone is not enough: a later, separate incident's alert, whose count rule
    looks back over this one ("50 in 12h"), would otherwise take this incident in on the next run
    and stretch its window back over it. SQL narrows the rows down (every row of the incident has
    a window ending after the earlier of the alert's window start and its opening less the
    cooldown); _same_incident decides."""
    reach = to_iso(from_iso(alert.opened_at) - dt.timedelta(seconds=settings.cooldown))
    rows = run.db.execute(
        """SELECT id, rule, severity, window_start, window_end, status, observed, expected, score,
                  opened_at, explanation
           FROM alerts WHERE watch = ? AND source IS ? AND window_start < ? AND window_end > ?
             AND NOT (status = 'resolved' AND resolved_at <= ?)
           ORDER BY id DESC""",
        [alert.watch, alert.source, alert.window_end, min(alert.window_start, reach), alert.opened_at],
    )
    for row in rows:
        stored = dataclasses.replace(alert, window_start=row[3], window_end=row[4], opened_at=row[9])
        if _same_incident(stored, alert, settings.cooldown):
            return row
    return None


def _first_announcement(never_announced: tuple[int, str, str], event: tuple | None) -> list[tuple]:
    """The team first hears of an alert now: that is its opening, at the severity it has reached. A
    target that takes escalations but not openings (a pager for the worst only) still hears this
    run's escalation, as it would have had the opening been announced (the targets the opening
    tells are not told it again: queue_notifications)."""
    alert_id, _opened, severity = never_announced
    if event is None:
        return [never_announced]
    opening = (alert_id, "opened", event[2])
    return [opening, event] if event[1] == "escalated" else [opening]


def _unannounced(run: _Run, alert_id: int) -> tuple[int, str, str] | None:
    """(alert id, 'opened', severity) for an alert still going on that nobody was ever told of: a
    replay (`detect --at` a few minutes back) or `detect --no-notify` stored it while it was live,
    and this run would otherwise find it unchanged and say nothing."""
    status, severity = run.db.execute("SELECT status, severity FROM alerts WHERE id = ?", [alert_id]).fetchone()
    announced = run.db.execute("SELECT 1 FROM notifications WHERE alert_id = ? LIMIT 1", [alert_id]).fetchone()
    if status != "open" or announced is not None:  # acknowledged: somebody knows already
        return None
    return alert_id, "opened", severity


def _unannounced_escalation(run: _Run, alert_id: int) -> list[tuple]:
    """[(alert id, 'escalated', severity)] for an announced alert whose severity rose in a run that
    told nobody (a replay, `detect --no-notify`): this run finds it unchanged, and the rise would
    otherwise never be announced. The severity is compared with the highest one already queued
    for the alert ('opened:'/'escalated:' rows, whatever became of them), so that it is queued once:
    the next run finds it queued. A target whose opening went out late and already stated the
    severity it had grown to ('sent as opened (critical)') is not told again (queue_notifications
    decides that per target). [] when there is nothing to announce."""
    status, severity = run.db.execute("SELECT status, severity FROM alerts WHERE id = ?", [alert_id]).fetchone()
    if status == "resolved":
        return []
    rows = run.db.execute(
        "SELECT state, last_error FROM notifications WHERE alert_id = ? "
        "AND (state LIKE 'opened:%' OR state LIKE 'escalated:%')", [alert_id]).fetchall()
    if not rows:  # never announced: `_unannounced` (an acknowledged alert: somebody knows already)
        return []
    queued = max(severity_rank(state.split(":", 1)[1]) for state, _error in rows)
    if severity_rank(severity) <= queued:
        return []
    return [(alert_id, "escalated", severity)]


def _open_alert(run: _Run, watch, settings, alert: Finding) -> tuple[int, str, str]:
    """Insert the alert at the highest severity it reached (inside _store's transaction); returns
    (alert id, 'opened', severity) to notify."""
    explanation, mention_ids = describe(run.db, watch, alert, run.model_id, settings, run.moment)
    alert_id = run.db.execute(
        """INSERT INTO alerts (watch, source, rule, status, severity, score, window_start, window_end,
           observed, expected, opened_at, updated_at, explanation, model_id)
           VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [alert.watch, alert.source, alert.rule, alert.severity, alert.score,
         alert.window_start, alert.window_end, alert.observed, alert.expected,
         alert.opened_at, run.recorded, json.dumps(explanation, ensure_ascii=False), run.model_id],
    ).lastrowid
    after = f"new wave after alert #{alert.follows} was resolved; " if alert.follows else ""
    detail = f"{_replay_note(run)}{after}rules fired: {', '.join(alert.rules)}; {explanation['summary']}"
    record_event(run.db, alert_id, "opened", detail, actor=DETECTOR, at=run.recorded)
    _link_mentions(run.db, alert_id, mention_ids)
    run.result.opened.append(alert_id)
    return alert_id, "opened", alert.severity


def _update_alert(run: _Run, watch, settings, alert: Finding, existing: tuple) -> tuple[int, str, str] | None:
    """Merge the alert found now into its stored alert (inside _store's transaction);
    (alert id, 'escalated', severity) when the severity rose, else None."""
    alert_id, rule, severity = existing[:3]
    stored, stored_details = _stored_finding(alert, existing)
    if stored is None:
        return None
    change = merge_into(stored, alert)
    if change is None:
        _catch_up(run, watch, settings, alert_id, stored, alert, stored_details.get("seen_until"))
        return None
    merged, escalated = change
    explanation, mention_ids = describe(run.db, watch, merged, run.model_id, settings, run.moment)
    run.db.execute(
        """UPDATE alerts SET severity = ?, score = ?, window_start = ?, window_end = ?, observed = ?,
           expected = ?, updated_at = ?, explanation = ?, model_id = ? WHERE id = ?""",
        # after a change of model the explanation (and what `alerts show` evaluates) is this model's
        [merged.severity, merged.score, merged.window_start, merged.window_end, merged.observed,
         merged.expected, run.recorded, json.dumps(explanation, ensure_ascii=False), run.model_id, alert_id],
    )
    detail = _replay_note(run)
    if escalated:
        detail += f"severity {severity} -> {merged.severity} at {_reached_at(merged)}; "
    others = [name for name in alert.rules if name != rule]
    if others:
        detail += f"rule {', '.join(others)} fired too; "
    record_event(run.db, alert_id, "escalated" if escalated else "updated", detail + explanation["summary"],
                 actor=DETECTOR, at=run.recorded)
    _link_mentions(run.db, alert_id, mention_ids)
    if alert_id not in run.result.updated and alert_id not in run.result.opened:
        run.result.updated.append(alert_id)
    if escalated and alert_id not in run.result.opened:
        before = run.result.escalated.get(alert_id, (severity, ""))[0]
        run.result.escalated[alert_id] = (before, merged.severity)
    return (alert_id, "escalated", merged.severity) if escalated else None


def _stored_finding(alert: Finding, existing: tuple) -> tuple[Finding | None, dict]:
    """The stored alert of the alert's incident as a Finding, and its stored explanation; None for
    a resolved one, closed for good (a later incident opens a new one)."""
    (_alert_id, rule, severity, window_start, window_end, status, observed, expected, score, opened_at,
     stored_explanation) = existing
    if status == "resolved":
        return None, {}
    stored_details = json.loads(stored_explanation or "{}")
    peak = stored_details.get("peak") or {}
    stored = dataclasses.replace(
        alert, rule=rule, severity=severity, opened_severity=severity, opened_at=opened_at, escalations=[],
        window_start=window_start, window_end=window_end, observed=observed, expected=expected, score=score,
        peak_start=peak.get("start", ""), peak_end=peak.get("end", ""),
        rules=tuple(stored_details.get("rules") or (rule,)))
    return stored, stored_details


def _needs_catch_up(run: _Run, stored: Finding, seen_until: str | None) -> bool:
    """See _catch_up."""
    return seen_until is not None and seen_until < min(stored.window_end, to_iso(run.moment))


def _catch_up(run: _Run, watch, settings, alert_id: int, stored: Finding, found: Finding,
              seen_until: str | None) -> None:
    """An alert described while its last hot hour went on (a run at 17:30 for a window ending at
    18:00) is described again once more of that hour has been seen, though nothing else changed:
    its summary, sources and linked posts would otherwise stop at 17:30. No event is written (the
    incident did not change, only what is known of it). An alert stored before the explanation
    kept `seen_until` is left as it was (a replay must not cut its description short)."""
    if not _needs_catch_up(run, stored, seen_until):
        return
    if found.rule == stored.rule and found.peak_start == stored.peak_start:
        # the same peak of the same rule, with the same count (a higher one is an update): only
        # its end was cut where the earlier run looked
        stored = dataclasses.replace(stored, peak_end=max(stored.peak_end, found.peak_end))
    explanation, mention_ids = describe(run.db, watch, stored, run.model_id, settings, run.moment)
    run.db.execute("UPDATE alerts SET updated_at = ?, explanation = ?, model_id = ? WHERE id = ?",
                   [run.recorded, json.dumps(explanation, ensure_ascii=False), run.model_id, alert_id])
    _link_mentions(run.db, alert_id, mention_ids)


def _reached_at(alert: Finding) -> str:
    """When the alert reached its (highest) severity."""
    return alert.escalations[-1][0] if alert.escalations else alert.opened_at


def _replay_note(run: _Run) -> str:
    """Events are written at the clock's time; a replay also says which time it looked from."""
    return f"replay as of {to_iso(run.moment)}; " if is_replay(run.moment) else ""


def _link_mentions(db, alert_id: int, mention_ids: list[int]) -> None:
    """Link the alert's ranked mentions. A post linked before but no longer ranked (scored again, or
    no longer matched by the watch) stays linked, for the record, without a rank: ranks never repeat."""
    db.execute("UPDATE alert_mentions SET rank = NULL WHERE alert_id = ?", [alert_id])
    db.conn.executemany("INSERT OR REPLACE INTO alert_mentions (alert_id, mention_id, rank) VALUES (?, ?, ?)",
                   [(alert_id, mention_id, rank) for rank, mention_id in enumerate(mention_ids, start=1)])


def describe(db, watch, finding: Finding, model_id: str, settings, as_of: dt.datetime) -> tuple[dict, list[int]]:
    """The explanation JSON of a finding as a run at `as_of` words it, and the ranked ids of the
    mentions behind it."""
    # a replay (`detect --at`) must not explain its alert with posts written after its moment
    seen_until = min(finding.window_end, to_iso(as_of))
    negatives = explain.negative_mentions(db, finding.watch, model_id, finding.window_start,
                                          seen_until, finding.source)
    start, end = from_iso(finding.window_start), from_iso(finding.window_end)
    ranked = explain.rank_mentions(negatives, start.timestamp(), end.timestamp())
    baseline_since = to_iso(start - dt.timedelta(seconds=SEASON_SECONDS * SEASON_DAYS))
    baseline = explain.baseline_texts(db, finding.watch, baseline_since, finding.window_start, finding.source)
    texts = [f"{m['title'] or ''} {m['text']}" for m in negatives]
    terms = explain.over_represented_terms(texts, baseline, ignore=explain.query_words(watch))
    peak = {"start": finding.peak_start, "end": min(finding.peak_end, seen_until)}
    if (window := rule_window(finding.rule, settings)) is not None:
        peak["rule_window"] = window
    elif peak["end"] < finding.peak_end:  # a spike seen while its bucket goes on: expected is the whole bucket's
        peak["bucket"] = (from_iso(finding.peak_end) - from_iso(finding.peak_start)).total_seconds()
    shares = _negative_shares(db, finding, model_id, start, from_iso(seen_until))
    summary = _summary(finding, ranked, terms, peak, as_of, settings.timezone, shares)
    explanation = explain.build_explanation(ranked, terms, summary)
    explanation["peak"] = peak
    explanation["rules"] = list(finding.rules)
    explanation["seen_until"] = seen_until  # a later run describes it again past this (_catch_up)
    # every negative mention of the window is linked, so `export --alert` hands over all of them
    return explanation, [m["mention_id"] for m in ranked]


def _negative_shares(db, finding: Finding, model_id: str, start: dt.datetime,
                     end: dt.datetime) -> tuple[float | None, float | None]:
    """The negative share of the watch's scored mentions in the alert's window, and over the week
    before it. Read for the window the alert has now: one that took in another rule's finding is
    wider than either finding's own."""
    where = {"watch": finding.watch, "source": finding.source}
    week_before = start - dt.timedelta(seconds=SEASON_SECONDS * SEASON_DAYS)
    return (negative_share(db, where, model_id, start, end)["share"],
            negative_share(db, where, model_id, week_before, start)["share"])


def rule_window(rule: str, settings) -> float | None:
    """A threshold rule's own window (seconds), found by the name `findings_for_series` gives it. A
    rule no longer in the watchlist (edited while its alert is open) is read from its name when
    the name says it ('threshold:20 in 1h'): the alert still quotes the rule it opened under."""
    for threshold in settings.thresholds:
        if rule == threshold_rule_name(threshold):
            return threshold.window
    unnamed = _UNNAMED_RULE.fullmatch(rule)
    if unnamed:
        try:
            return parse_duration(unnamed[1])
        except (ValueError, TypeError):
            return None
    return None


_UNNAMED_RULE = re.compile(r"threshold:\d+ in (\S+)")  # threshold_rule_name of a rule without a name


def _summary(finding: Finding, ranked: list[dict], terms: list[dict], peak_span: dict, as_of: dt.datetime,
             time_zone: str = "UTC", shares: tuple[float | None, float | None] = (None, None)) -> str:
    where = f" on {finding.source}" if finding.source else ""
    peak = explain.peak_text(finding.rule, finding.observed, finding.expected, finding.score, peak_span)
    window = _window_words(finding, as_of) + _local_window_words(finding, as_of, time_zone)
    text = (f"{len(ranked)} negative mentions of {finding.watch}{where} {window}; "
            f"{peak} ({finding.severity})")
    during, usual = shares
    if during is not None and usual is not None:
        text += f"; {during:.0%} of its mentions negative (usually {usual:.0%})"
    if terms:
        text += explain.STANDING_OUT + ", ".join(t["term"] for t in terms[:5])
    return text


def _window_words(finding: Finding, as_of: dt.datetime) -> str:
    """'between 2015-02-22 17:00 and 23:00 UTC', or 'since 2015-02-22 17:00 UTC' while its last
    bucket is not over at `as_of` (the time the run looks from: a replay words it as of then)."""
    start, end = from_iso(finding.window_start), from_iso(finding.window_end)
    start_text = start.strftime("%Y-%m-%d %H:%M")
    if end > as_of:
        return f"since {start_text} UTC"
    end_text = end.strftime("%H:%M" if end.date() == start.date() else "%Y-%m-%d %H:%M")
    return f"between {start_text} and {end_text} UTC"


def _local_window_words(finding: Finding, as_of: dt.datetime, time_zone: str) -> str:
    """' (Asia/Shanghai: 2015-02-23 01:00 to 07:00)': the window in the watch's `timezone` as well, for
    a team that reads its notifications in local time; '' for a zone on UTC all year."""
    zone = ZoneInfo(time_zone)
    if _always_utc(zone):
        return ""
    start = from_iso(finding.window_start).astimezone(zone)
    end = from_iso(finding.window_end).astimezone(zone)
    # a window across a change of the clocks names each side's offset: 01:00 EDT to 01:00 EST
    clocks_changed = start.utcoffset() != end.utcoffset()
    zone_name = " %Z" if clocks_changed else ""
    start_text = start.strftime("%Y-%m-%d %H:%M" + zone_name)
    if from_iso(finding.window_end) > as_of:
        return f" ({time_zone}: since {start_text})"
    end_text = end.strftime(("%H:%M" if end.date() == start.date() else "%Y-%m-%d %H:%M") + zone_name)
    return f" ({time_zone}: {start_text} to {end_text})"


def _always_utc(zone: ZoneInfo) -> bool:
    """UTC, Etc/GMT, Africa/Abidjan ...: no offset in January or July (London has one in July)."""
    return all(dt.datetime(2024, month, 1, tzinfo=zone).utcoffset() == dt.timedelta(0) for month in (1, 7))


def backtest(db, config, since, until, watch_names=(), unchecked: list[str] | None = None,
             switched_off: list[str] | None = None) -> list[Finding]:
    """The alerts of the watches named (default: all) that a live run at some time in [since, until)
    would have opened or updated: opened before `until`, and hot up to `since` or later (some
    opened before `since`). Stores nothing. Watches with no scored mentions in the period (or the
    history before it) are added to `unchecked` when it is given. A watch whose alerts are off
    (alerts.enabled: false) is replayed when it is named, to tune its rules before switching them
    on; unnamed, it is left out and added to `switched_off`."""
    start, end = _now(since), _now(until)
    model_id = model_id_for(config.sentiment)
    findings: list[Finding] = []
    for watch in config.watches:
        if watch_names and watch.name not in watch_names:
            continue
        settings = config.alert_settings(watch.name)
        if not settings.enabled and watch.name not in watch_names:
            if switched_off is not None:
                switched_off.append(watch.name)
            continue
        all_series = backtest_series(db, watch.name, settings, model_id, start, end)
        if not all_series and unchecked is not None:
            unchecked.append(watch.name)
        for series in all_series:
            before_end = [_as_of(finding, to_iso(end)) for finding in findings_for_series(series, settings)
                          if finding.opened_at < to_iso(end)]
            findings.extend(alert for alert in merged_alerts(before_end, settings.cooldown)
                            if alert.window_end >= to_iso(start))
    return sorted(findings, key=lambda f: (f.opened_at, f.watch, f.source or ""))


def backtest_series(db, watch_name: str, settings, model_id: str, start: dt.datetime,
                    end: dt.datetime) -> list[Series]:
    """The series `backtest` judges for [start, end): from what a live run at `start` reads (an
    incident going on at `start` opens when it did), never before the first mention that can be
    dated (EARLIEST_CREATED_AT: `--since 0001-01-01` reads from there), up to `end`, or only up to
    `quiet_after` the watch's last scored mention before `end`: past that no rule can find anything,
    and `--until 9999-12-31` would otherwise count millions of empty buckets.

    The runs in the period judge the buckets that end before `end`: the one ending at `end` is the
    next period's (a run at `end` judges it), so its mentions are left out here. Counted in, they
    made an alert's peak and window reach past the severity the period gave it ('high', peak 42,
    where 40 is critical)."""
    judged_end = floor_to_bucket(end - dt.timedelta(microseconds=1), settings.bucket, zone_offset(settings.timezone))
    earliest = from_iso(EARLIEST_CREATED_AT)
    history = dt.timedelta(days=HISTORY_DAYS) + history_needed(settings)
    since = start - history if start - earliest > history else earliest
    last = db.execute(
        "SELECT max(m.created_at) FROM mention_watches w JOIN mentions m ON m.id = w.mention_id "
        "JOIN scores s ON s.mention_id = m.id AND +s.model_id = ? "  # from the watch's links (see scored_rows)
        "WHERE w.watch = ? AND m.created_at >= ? AND m.created_at < ?",
        [model_id, watch_name, to_iso(since), to_iso(end)]).fetchone()[0]
    if last is None or since >= end:
        return []
    until = min(judged_end, from_iso(last) + quiet_after(settings))
    # a watch whose scored mentions all lie in the bucket ending at `end` (the next period's) is
    # checked, with nothing to show: not one with no scored mentions
    series = watch_series(db, watch_name, settings, model_id, since, until) if until > since else []
    return series or [_empty_series(watch_name, settings, since)]


def _empty_series(watch_name: str, settings, since: dt.datetime) -> Series:
    """A series of one quiet bucket: a watch `backtest` checked, whose scored mentions all lie in
    the bucket ending at `--until` (the next period's), has nothing to show, but is no watch with
    no scored mentions."""
    start = floor_to_bucket(since, settings.bucket, zone_offset(settings.timezone))
    return Series(watch_name, None, start, settings.bucket, np.zeros(1), np.zeros(1))


def quiet_after(settings) -> dt.timedelta:
    """How long after a watch's last mention the rules may still find something: a rule counts the
    mentions of its window (the spike rule: the last hour), so the buckets after the last mention stay
    hot for a window at most; an incident ends `cooldown` quiet buckets later. Two buckets more, for
    the bucket the last mention is in and the one that shows the incident over."""
    tuned = detector_settings(settings)
    windows = [tuned.smooth, *(max(1, round(rule.window / settings.bucket)) for rule in settings.thresholds)]
    return dt.timedelta(seconds=(max(windows) + tuned.cooldown + 2) * settings.bucket)


def _as_of(finding: Finding, end: str) -> Finding:
    """The finding as a live run before `end` (not included) saw it: escalations reached at `end`
    or later are outside the period, and its severity is the one reached before."""
    escalations = [(at, severity) for at, severity in finding.escalations if at < end]
    if len(escalations) == len(finding.escalations):
        return finding
    severity = escalations[-1][1] if escalations else finding.opened_severity
    return dataclasses.replace(finding, escalations=escalations, severity=severity)


def merged_alerts(findings: list[Finding], cooldown: float = 0.0) -> list[Finding]:
    """One series' findings (by opening time) as the alerts a live run makes of them: a finding of an
    alert's incident, one that fires less than `cooldown` seconds after the alert's window ends (see
    `_same_incident`), updates that alert, as `_store` does: one incident is one alert."""
    alerts: list[Finding] = []
    for finding in findings:
        overlapping = next((i for i in range(len(alerts) - 1, -1, -1)
                            if _same_incident(alerts[i], finding, cooldown)), None)
        if overlapping is None:
            alerts.append(finding)
            continue
        change = merge_into(alerts[overlapping], finding)
        alerts[overlapping] = change[0] if change else dataclasses.replace(
            alerts[overlapping], rules=_all_rules(alerts[overlapping], finding),
            live=alerts[overlapping].live or finding.live)
    return alerts
