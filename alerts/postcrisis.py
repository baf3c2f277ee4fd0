"""Post-crisis evaluation of an alert: how fast the team reacted and whether things calmed down.

`evaluate_alert(db, alert_id)` gives the time to acknowledge, the time to resolve (both counted from
the alert's opening, or from its recording when the detector found it later: a replay, or freshly
imported history), and whether the negative share of the watch's mentions went back to its baseline
after the alert was resolved:

- baseline: negative share of the watch's mentions in the 7 days before the alert window;
- after: negative share in the 24 hours after resolution;
- back to baseline when `after <= baseline + max(0.05, 0.2 * baseline)` (a little slack, since
  shares from a few dozen posts are noisy). Unknown (None) while the alert is not resolved or
  fewer than 5 scored mentions came in after resolution.
"""
from __future__ import annotations

import datetime as dt

from mentionwatch.triage.query import choose_model_id
from storage.timeutil import from_iso, to_iso

BASELINE_DAYS = 7
AFTER_HOURS = 24
MIN_MENTIONS_AFTER = 5
LATE_RECORDING = dt.timedelta(hours=1)  # recorded more than this after opening: found late, or by a replay


def evaluate_alert(db, alert_id: int, model_id: str | None = None, now: dt.datetime | None = None,
                   sentiment_cfg=None) -> dict:
    """Figures for one alert as of `now` (default: the clock; KeyError when there is no such alert);
    times in seconds. Until AFTER_HOURS have passed since the resolution, the "after" figures cover
    the time so far, and whether it is back to baseline is not known yet. `sentiment_cfg` (the
    watchlist's) names the model read for an old alert whose model is not known otherwise."""
    now = now or dt.datetime.now(dt.timezone.utc)
    alert = _alert_row(db, alert_id)
    model_id = model_id or alert.get("model_id") or _model_for_alert(db, alert_id, sentiment_cfg)
    opened = clock_start(db, alert)
    acknowledged_at = _acknowledged_at(db, alert)
    resolved_at = alert["resolved_at"] or (
        _event_time(db, alert_id, "resolved") if alert["status"] == "resolved" else None)
    window_start, window_end = from_iso(alert["window_start"]), from_iso(alert["window_end"])

    baseline = negative_share(db, alert, model_id,
                               window_start - dt.timedelta(days=BASELINE_DAYS), window_start)
    if resolved_at:  # resolved while it lasted: what came after the resolution counts as "after"
        window_end = max(window_start, min(window_end, from_iso(resolved_at)))
    during = negative_share(db, alert, model_id, window_start, window_end)
    result = {
        "alert_id": alert_id,
        "watch": alert["watch"],
        "source": alert["source"],
        "status": alert["status"],
        "opened_at": alert["opened_at"],
        "counted_from": to_iso(opened),
        "acknowledged_at": acknowledged_at,
        "resolved_at": resolved_at,
        "time_to_acknowledge_s": _seconds_between(opened, acknowledged_at),
        "time_to_resolve_s": _seconds_between(opened, resolved_at),
        "model_id": model_id,
        "baseline_negative_share": baseline["share"],
        "baseline_mentions": baseline["total"],
        "alert_negative_share": during["share"],
        "alert_mentions": during["total"],
        "after_negative_share": None,
        "after_mentions": 0,
        "after_seconds": None,  # how much of the AFTER_HOURS after the resolution has passed
        "back_to_baseline": None,
    }
    if resolved_at:
        after_start = from_iso(resolved_at)
        after_end = min(after_start + dt.timedelta(hours=AFTER_HOURS), max(now, after_start))
        after = negative_share(db, alert, model_id, after_start, after_end)
        result["after_negative_share"] = after["share"]
        result["after_mentions"] = after["total"]
        result["after_seconds"] = (after_end - after_start).total_seconds()
        if (after_complete(result) and after["total"] >= MIN_MENTIONS_AFTER
                and baseline["share"] is not None):
            limit = baseline["share"] + max(0.05, 0.2 * baseline["share"])
            result["back_to_baseline"] = after["share"] <= limit
    result["summary"] = summarise(result)
    return result


def summarise(figures: dict) -> str:
    """One line a person reads: 'acknowledged after 1h 5m, resolved after 6h; negative share ...'."""
    parts = []
    for label, key in (("acknowledged", "time_to_acknowledge_s"), ("resolved", "time_to_resolve_s")):
        seconds = figures[key]
        parts.append(f"{label} after {format_duration(seconds)}" if seconds is not None
                     else f"not {label}")
    share = lambda value: "n/a" if value is None else f"{value:.0%}"  # noqa: E731
    shares = (f"negative share {share(figures['baseline_negative_share'])} before, "
              f"{share(figures['alert_negative_share'])} during")
    if figures["resolved_at"]:
        shares += f", {share(figures['after_negative_share'])} {after_period(figures)}"
    verdict = {True: "back to baseline", False: "NOT back to baseline",
               None: "back to baseline: not known yet"}[figures["back_to_baseline"]]
    if figures["back_to_baseline"] is None and after_complete(figures):
        verdict = _why_it_cannot_be_told(figures)
    late = recorded_late(figures)
    return f"{', '.join(parts)}{late}; {shares}; {verdict}"


def _why_it_cannot_be_told(figures: dict) -> str:
    """The verdict once the hours after the resolution are over and still none can be given: waiting
    longer will not change it (history replayed long after it happened has no mentions after a
    resolution made today)."""
    count = figures["after_mentions"]
    if count < MIN_MENTIONS_AFTER:
        return (f"back to baseline: cannot tell ({count} scored mention{'' if count == 1 else 's'} in the "
                f"{AFTER_HOURS} h after the resolution; {MIN_MENTIONS_AFTER} needed)")
    return "back to baseline: cannot tell (no scored mentions in the week before the alert)"


def after_complete(figures: dict) -> bool:
    return figures.get("after_seconds") is not None and figures["after_seconds"] >= AFTER_HOURS * 3600


def after_period(figures: dict) -> str:
    """'in the 24 h after', or 'in the 3h 10m since the resolution (so far)' before they have passed."""
    if figures.get("after_seconds") is None or after_complete(figures):
        return f"in the {AFTER_HOURS} h after"
    return f"in the {format_duration(figures['after_seconds'])} since the resolution (so far)"


def recorded_late(figures: dict) -> str:
    """Says so when the times count from the alert's recording rather than its opening."""
    counted_from = figures.get("counted_from")
    if not counted_from or from_iso(counted_from) - from_iso(figures["opened_at"]) <= LATE_RECORDING:
        return ""
    return f" (counted from {counted_from}, when it was recorded)"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = int(round(seconds / 60))
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


def _alert_row(db, alert_id: int) -> dict:
    cursor = db.conn.execute("SELECT * FROM alerts WHERE id = ?", [alert_id])
    row = cursor.fetchone()
    if row is None:
        raise KeyError(f"no alert with id {alert_id}")
    return dict(zip([d[0] for d in cursor.description], row))


def clock_start(db, alert: dict) -> dt.datetime:
    """When the team could first know of the alert: its opening, or, for an alert found later (by a
    replay with `detect --at`, or in freshly imported history), when the detector recorded it.

    A live alert is recorded a few minutes after its opening (the next detection run): counting
    from the recording there would shorten its times against the 'resolved' message's."""
    opened = from_iso(alert["opened_at"])
    recorded = _event_time(db, alert["id"], "opened")
    if recorded and from_iso(recorded) - opened > LATE_RECORDING:
        return from_iso(recorded)
    return opened


def _acknowledged_at(db, alert: dict) -> str | None:
    """When someone acknowledged the alert, None if nobody did. Resolving used to fill
    acknowledged_at as well: equal to resolved_at, without an 'acknowledged' event, it is that."""
    event = _event_time(db, alert["id"], "acknowledged")
    if alert["acknowledged_at"] and not event and alert["acknowledged_at"] == alert["resolved_at"]:
        return None
    return alert["acknowledged_at"] or event


def _event_time(db, alert_id: int, kind: str) -> str | None:
    row = db.execute("SELECT min(at) FROM alert_events WHERE alert_id = ? AND kind = ?",
                     [alert_id, kind]).fetchone()
    return row[0] if row else None


def _model_for_alert(db, alert_id: int, sentiment_cfg=None) -> str | None:
    """For an alert stored before alerts kept their model: the model that scored most of its
    mentions (else the configured model when it has scores, or the most used one, as
    `choose_model_id` picks it)."""
    row = db.execute(
        "SELECT s.model_id FROM alert_mentions am JOIN scores s ON s.mention_id = am.mention_id "
        "WHERE am.alert_id = ? GROUP BY s.model_id ORDER BY count(*) DESC LIMIT 1",
        [alert_id]).fetchone()
    return row[0] if row else choose_model_id(db, sentiment_cfg)  # what export and report read


def negative_share(db, alert: dict, model_id: str | None, start: dt.datetime,
                    end: dt.datetime) -> dict:
    """Scored mentions of the alert's watch (and source, if it has one) in [start, end): how many,
    how many negative, and the negative share (None when there are none)."""
    # CROSS JOIN keeps SQLite's order: the period's mentions first (by time), then their watch and
    # score; left to itself it read every score of the model, seconds on millions of mentions
    sql = ("SELECT count(*), sum(s.label = 'negative') FROM mentions m "
           "CROSS JOIN mention_watches w ON w.watch = :watch AND w.mention_id = m.id "
           "CROSS JOIN scores s ON s.mention_id = m.id AND s.model_id = :model "
           "WHERE m.created_at >= :start AND m.created_at < :end")
    params = {"watch": alert["watch"], "model": model_id, "start": to_iso(start), "end": to_iso(end)}
    if alert["source"]:
        sql += " AND m.source = :source"
        params["source"] = alert["source"]
    total, negative = db.execute(sql, params).fetchone()
    return {"total": total, "negative": negative or 0,
            "share": (negative or 0) / total if total else None}


def _seconds_between(start: dt.datetime, end_text: str | None) -> float | None:
    return (from_iso(end_text) - start).total_seconds() if end_text else None
