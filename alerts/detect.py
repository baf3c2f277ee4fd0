"""Detection over stored mentions: series per watch (and per source), detector, alerts in the database.

`run_detection(db, config, now=None, notify=True)` runs every watch's rules over the last
HISTORY_DAYS (plus warm-up) of scored mentions. An incident that matches a stored alert (same watch
and source, overlapping window, whichever rule found it) updates it; a new one opens an alert. Notifications are queued
(not sent: `alerts.notify.send_pending` does that) when an alert opens or its severity rises, but
only for incidents still going on at `now`: spikes found in old, freshly imported history are stored
without waking anybody. `backtest` replays the same rules over a period and stores nothing.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from dataclasses import dataclass, field

from alerts import explain
from alerts.detector import SEVERITIES, DetectorSettings, Incident, detect, threshold_incidents
from alerts.series import Series, build_series, model_id_to_use, scored_rows
from mentionwatch.config import duration_text
from storage.timeutil import from_iso, parse_timestamp, to_iso

log = logging.getLogger(__name__)

HISTORY_DAYS = 30
SPIKE_RULE = "spike"

# The detector's fixed defaults, chosen on the NAB Twitter series (see README.md, "Measured: the NAB Twitter benchmark").
BASE_THRESHOLD = 5.0  # robust z at sensitivity 0.5
BASE_RATIO = 3.0  # observed / expected at sensitivity 0.5
SMOOTH_SECONDS = 3600.0  # observations add up the last hour (at least one bucket)
SEASON_SECONDS = 86400.0  # seasonal baseline: same time of day ...
SEASON_DAYS = 7  # ... on each of the previous 7 days ...
SEASON_HALFWIDTH_SECONDS = 1800.0  # ... give or take 30 minutes (at least one bucket) ...
MAX_HALFWIDTH_BUCKETS = 6  # ... and at most 6 buckets, which bounds the work with tiny buckets


@dataclass
class DetectionResult:
    opened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    checked: int = 0


@dataclass
class Finding:
    """An incident in calendar terms: what an alert row holds."""

    watch: str
    source: str | None
    rule: str
    window_start: str
    window_end: str
    observed: float
    expected: float
    score: float
    severity: str
    opened_at: str  # end of the bucket in which it opened
    escalations: list[tuple[str, str]]  # (end of bucket, severity)
    live: bool
    negative_share: float | None = None  # share of negative mentions in the window
    usual_share: float | None = None  # ... and over the week before it


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


def _share(series: Series, first: int, last: int) -> float | None:
    total = series.total[max(first, 0): last + 1].sum()
    return round(float(series.negative[max(first, 0): last + 1].sum() / total), 4) if total else None


def _finding(series: Series, rule: str, incident: Incident, span: int) -> Finding:
    first_bucket = max(0, incident.start - span + 1)
    week = round(SEASON_SECONDS * SEASON_DAYS / series.bucket_seconds)
    return Finding(
        watch=series.watch, source=series.source, rule=rule,
        window_start=to_iso(series.bucket_start(first_bucket)),
        window_end=to_iso(series.bucket_end(incident.end)),
        observed=incident.observed, expected=round(incident.expected, 3), score=round(incident.z, 3),
        severity=incident.severity,
        opened_at=to_iso(series.bucket_end(incident.events[0][0])),
        escalations=[(to_iso(series.bucket_end(b)), s) for b, kind, s in incident.events if kind == "escalated"],
        live=incident.active,
        negative_share=_share(series, first_bucket, incident.end),
        usual_share=_share(series, first_bucket - week, first_bucket - 1),
    )


def findings_for_series(series: Series, settings) -> list[Finding]:
    """Every incident of the spike detector and of the threshold rules in one series, by opening time."""
    tuned = detector_settings(settings)
    _stats, incidents = detect(series.negative, tuned)
    found = [_finding(series, SPIKE_RULE, incident, tuned.smooth) for incident in incidents]
    for rule in settings.thresholds:
        window = max(1, round(rule.window / settings.bucket))
        name = "threshold:" + (rule.name or f"{rule.count} in {duration_text(rule.window)}")
        for incident in threshold_incidents(series.negative, window, rule.count, tuned.cooldown, rule.severity):
            found.append(_finding(series, name, incident, window))
    return sorted(found, key=lambda f: f.opened_at)  # the order a live run meets them in


def merge_into(alert: Finding, finding: Finding) -> tuple[Finding, bool] | None:
    """The alert after a finding on an overlapping window (any rule), and whether its severity rose;
    None when the finding adds nothing. The alert keeps its rule, and its counts unless the same rule
    saw more."""
    same_rule = alert.rule == finding.rule
    escalated = SEVERITIES.index(finding.severity) > SEVERITIES.index(alert.severity)
    stronger = same_rule and finding.observed > (alert.observed or 0)
    if not (escalated or stronger or finding.window_end > alert.window_end):
        return None
    escalations = alert.escalations + ([(_reached_at(finding), finding.severity)] if escalated else [])
    merged = dataclasses.replace(
        finding, rule=alert.rule, severity=finding.severity if escalated else alert.severity,
        window_start=min(alert.window_start, finding.window_start),
        window_end=max(alert.window_end, finding.window_end),
        observed=finding.observed if stronger else alert.observed,
        expected=finding.expected if stronger else alert.expected,
        score=max(alert.score or 0.0, finding.score) if same_rule else alert.score,
        opened_at=alert.opened_at, escalations=escalations,
    )
    return merged, escalated


def _reached_at(finding: Finding) -> str:
    """When a finding reached its (final) severity."""
    return finding.escalations[-1][0] if finding.escalations else finding.opened_at


def watch_series(db, watch_name: str, settings, model_id: str, since: dt.datetime, until: dt.datetime) -> list[Series]:
    """The watch's series over all sources, plus one per source when `per_source` is set."""
    rows = scored_rows(db, watch_name, model_id, since=to_iso(since), until=to_iso(until))
    if not rows:
        return []
    last_bucket = until - dt.timedelta(seconds=1e-6)
    all_series = [build_series(rows, watch_name, settings.bucket, last_bucket)]
    if settings.per_source:
        for source in sorted({row[1] for row in rows}):
            all_series.append(build_series(rows, watch_name, settings.bucket, last_bucket, source=source,
                                           start=all_series[0].start))
    return all_series


def _now(now) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    if isinstance(now, dt.datetime) and now.tzinfo is not None:
        return now.astimezone(dt.timezone.utc)
    return from_iso(parse_timestamp(now))


def run_detection(db, config, now=None, notify: bool = True) -> DetectionResult:
    """Detect over stored data up to `now`, open/update alerts, queue notifications (see module doc)."""
    moment = _now(now)
    result = DetectionResult()
    model_id = model_id_to_use(db, config.sentiment)
    if model_id is None:
        return result
    for watch in config.watches:
        settings = config.alert_settings(watch.name)
        if not settings.enabled:
            continue
        since = moment - dt.timedelta(days=HISTORY_DAYS, seconds=settings.warmup)
        for series in watch_series(db, watch.name, settings, model_id, since, moment):
            result.checked += 1
            for finding in findings_for_series(series, settings):
                _store(db, config, watch, finding, model_id, settings, moment, notify, result)
    return result


def unconfigured_watches(db, config) -> list[tuple[str, int]]:
    """(watch, stored mentions) for watches that have mentions but are not in the watchlist file:
    detection never looks at them, which a user who imported into a new watch name should be told."""
    configured = {watch.name for watch in config.watches}
    rows = db.execute("SELECT watch, count(*) FROM mention_watches GROUP BY watch ORDER BY watch").fetchall()
    return [(name, count) for name, count in rows if name not in configured]


def _store(db, config, watch, finding: Finding, model_id: str, settings, moment: dt.datetime,
           notify: bool, result: DetectionResult) -> None:
    from alerts.notify import queue_notifications

    now_text = to_iso(moment)
    # The write lock is taken before looking for the incident's alert, so two detections at once
    # (the service and a `detect` typed by hand) cannot both open one for the same incident.
    with db.atomic():
        # one incident is one alert: any rule firing on an overlapping window updates the same alert
        existing = db.execute(
            """SELECT id, rule, severity, window_start, window_end, status, observed, expected, score
               FROM alerts WHERE watch = ? AND source IS ? AND window_start < ? AND window_end > ?
               ORDER BY id DESC LIMIT 1""",
            [finding.watch, finding.source, finding.window_end, finding.window_start],
        ).fetchone()
        if existing is None:
            event = _open_alert(db, watch, finding, model_id, settings, now_text, result)
        else:
            event = _update_alert(db, watch, finding, existing, model_id, settings, now_text, result)
    if event is not None and notify and finding.live:
        queue_notifications(db, config, event[0], event[1], finding.severity)


def _open_alert(db, watch, finding: Finding, model_id: str, settings, now_text: str,
                result: DetectionResult) -> tuple[int, str]:
    """Insert the alert (inside _store's transaction); returns (alert id, 'opened') to notify."""
    explanation, mention_ids = describe(db, watch, finding, model_id, settings)
    alert_id = db.execute(
        """INSERT INTO alerts (watch, source, rule, status, severity, score, window_start, window_end,
           observed, expected, opened_at, updated_at, explanation, model_id)
           VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [finding.watch, finding.source, finding.rule, finding.severity, finding.score,
         finding.window_start, finding.window_end, finding.observed, finding.expected,
         now_text, now_text, json.dumps(explanation, ensure_ascii=False), model_id],
    ).lastrowid
    _event(db, alert_id, now_text, "opened", explanation["summary"])
    _link_mentions(db, alert_id, mention_ids)
    result.opened.append(alert_id)
    return alert_id, "opened"


def _update_alert(db, watch, finding: Finding, existing: tuple, model_id: str, settings, now_text: str,
                  result: DetectionResult) -> tuple[int, str] | None:
    """Merge the finding into its alert (inside _store's transaction); (alert id, 'escalated') when
    the severity rose, else None."""
    alert_id, rule, severity, window_start, window_end, status, observed, expected, score = existing
    if status == "resolved":
        return None  # a resolved alert is closed for good; a later incident opens a new one
    stored = dataclasses.replace(finding, rule=rule, severity=severity, window_start=window_start,
                                 window_end=window_end, observed=observed, expected=expected, score=score,
                                 escalations=[])
    change = merge_into(stored, finding)
    if change is None:
        return None
    merged, escalated = change
    explanation, mention_ids = describe(db, watch, merged, model_id, settings)
    db.execute(
        """UPDATE alerts SET severity = ?, score = ?, window_start = ?, window_end = ?, observed = ?,
           expected = ?, updated_at = ?, explanation = ? WHERE id = ?""",
        [merged.severity, merged.score, merged.window_start, merged.window_end, merged.observed,
         merged.expected, now_text, json.dumps(explanation, ensure_ascii=False), alert_id],
    )
    detail = f"severity {severity} -> {finding.severity}; " if escalated else ""
    if rule != finding.rule:
        detail += f"rule {finding.rule} fired too; "
    _event(db, alert_id, now_text, "escalated" if escalated else "updated", detail + explanation["summary"])
    _link_mentions(db, alert_id, mention_ids)
    if alert_id not in result.updated and alert_id not in result.opened:  # two rules, one alert
        result.updated.append(alert_id)
    return (alert_id, "escalated") if escalated else None


def _event(db, alert_id: int, at: str, kind: str, detail: str | None, actor: str = "detector") -> None:
    db.execute("INSERT INTO alert_events (alert_id, at, actor, kind, detail) VALUES (?, ?, ?, ?, ?)",
               [alert_id, at, actor, kind, detail])


def _link_mentions(db, alert_id: int, mention_ids: list[int]) -> None:
    db.conn.executemany("INSERT OR REPLACE INTO alert_mentions (alert_id, mention_id, rank) VALUES (?, ?, ?)",
                   [(alert_id, mention_id, rank) for rank, mention_id in enumerate(mention_ids, start=1)])


def describe(db, watch, finding: Finding, model_id: str, settings) -> tuple[dict, list[int]]:
    """The explanation JSON of a finding and the ranked ids of the mentions behind it."""
    negatives = explain.negative_mentions(db, finding.watch, model_id, finding.window_start,
                                          finding.window_end, finding.source)
    start, end = from_iso(finding.window_start), from_iso(finding.window_end)
    ranked = explain.rank_mentions(negatives, start.timestamp(), end.timestamp())
    baseline_since = to_iso(start - dt.timedelta(seconds=SEASON_SECONDS * SEASON_DAYS))
    baseline = explain.baseline_texts(db, finding.watch, baseline_since, finding.window_start, finding.source)
    texts = [f"{m['title'] or ''} {m['text']}" for m in negatives]
    terms = explain.over_represented_terms(texts, baseline, ignore=explain.query_words(watch))
    summary = _summary(finding, ranked, terms)
    # every negative mention of the window is linked, so `export --alert` hands over all of them
    return explain.build_explanation(ranked, terms, summary), [m["mention_id"] for m in ranked]


def _summary(finding: Finding, ranked: list[dict], terms: list[dict]) -> str:
    where = f" on {finding.source}" if finding.source else ""
    text = (f"{len(ranked)} negative mentions of {finding.watch}{where} between {finding.window_start} and "
            f"{finding.window_end}")
    if finding.rule == SPIKE_RULE:
        text += f"; peak {finding.observed:g} against {finding.expected:g} expected ({finding.severity})"
    else:
        text += f"; rule {finding.rule} ({finding.severity})"
    if finding.negative_share is not None and finding.usual_share is not None:
        text += f"; {finding.negative_share:.0%} of its mentions negative (usually {finding.usual_share:.0%})"
    if terms:
        text += "; standing out: " + ", ".join(t["term"] for t in terms[:5])
    return text


def backtest(db, config, since, until, watch_name: str | None = None) -> list[Finding]:
    """The alerts the rules would have raised for incidents starting in [since, until); stores nothing."""
    start, end = _now(since), _now(until)
    model_id = model_id_to_use(db, config.sentiment)
    if model_id is None:
        return []
    findings: list[Finding] = []
    for watch in config.watches:
        if watch_name and watch.name != watch_name:
            continue
        settings = config.alert_settings(watch.name)
        if not settings.enabled:
            continue
        history = dt.timedelta(seconds=settings.warmup + SEASON_SECONDS * SEASON_DAYS)
        for series in watch_series(db, watch.name, settings, model_id, start - history, end):
            alerts = merged_alerts(findings_for_series(series, settings))
            findings.extend(alert for alert in alerts if alert.opened_at > to_iso(start))
    return sorted(findings, key=lambda f: (f.opened_at, f.watch, f.source or ""))


def merged_alerts(findings: list[Finding]) -> list[Finding]:
    """One series' findings (by opening time) as the alerts a live run makes of them: a finding whose
    window overlaps an alert's, whichever rule found it, updates that alert (see `_store`)."""
    alerts: list[Finding] = []
    for finding in findings:
        overlapping = next((i for i in range(len(alerts) - 1, -1, -1)
                            if alerts[i].window_start < finding.window_end
                            and alerts[i].window_end > finding.window_start), None)
        if overlapping is None:
            alerts.append(finding)
            continue
        change = merge_into(alerts[overlapping], finding)
        if change is not None:
            alerts[overlapping] = change[0]
    return alerts
