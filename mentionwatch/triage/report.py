"""The HTML report: charts, alerts with their explanations, post-crisis figures and risk scores.

`build_report(db, out_dir, ...)` writes PNG charts and one self-contained `report.html` into
`out_dir`: the charts are embedded as base64 data URIs and the CSS is inline, so the page opens
offline, can be mailed as one file, and makes no network request.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from alerts.explain import entry_text, peak_text, window_end_text
from alerts.postcrisis import after_complete, evaluate_alert, format_duration, recorded_late
from mentionwatch.config import watch_name_problem
from mentionwatch.terminal import terminal_safe
from mentionwatch.triage import charts
from mentionwatch.triage.atomic import replacing
from mentionwatch.triage.marks import triage_counts
from mentionwatch.triage.query import choose_model_id
from mentionwatch.triage.risk import (
    BASELINE_DAYS, MIN_BASELINE_DAYS, NO_BASELINE, NOT_SCORED, RECENT_HOURS, WatchRisk, before,
    edge_created_at, watch_links, watch_risk,
)
from storage import utc_now_iso
from storage.mentions import EARLIEST_CREATED_AT
from storage.db import read_snapshot
from storage.timeutil import from_iso, to_iso

DEFAULT_PERIOD_DAYS = 7
# A mention dated more than this after now cannot be real (a bad clock or a bad import); the
# default end of the period ignores it, so one such row does not move the report to year 9999.
FUTURE_SLACK = dt.timedelta(days=1)
TOP_POSTS = 5
TOP_POSTS_RANKING = (
    "The alert's negative mentions in the order the detector ranks them: log10(1 + the author's "
    "reach) plus how late in the alert window the post came (0 at its start, 1 at its end), so "
    "ten times the reach counts as much as the whole window; the first five are shown.")
OPEN_ALERTS_MEANING = (
    "Open alerts: alerts of the watch opened before the end of the period and not resolved by "
    "then (one resolved since still counts; one opened after the period does not).")
_SPREADS = re.compile(r"\((\d+(?:\.\d+)?) spreads above normal\)")
_STORED_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def local_time(stored: str | None, zone: str) -> str | None:
    """A stored time as a report in `zone` shows it: as stored in UTC, else the zone's wall clock
    ('2024-03-04 19:00:00'), with its abbreviation where the clocks read it twice (01:30:00 EDT).
    Anything else ('now (ongoing)') is left as it is."""
    if zone == "UTC" or not isinstance(stored, str) or not _STORED_TIME.fullmatch(stored):
        return stored
    try:
        moment = from_iso(stored).astimezone(ZoneInfo(zone))
    except OverflowError:  # the first hours of year 1 west of UTC: year 0 has no calendar here
        return stored
    text = moment.replace(tzinfo=None).isoformat(sep=" ")
    read_twice = moment.replace(fold=1 - moment.fold).utcoffset() != moment.utcoffset()
    return f"{text} {moment.tzname()}" if read_twice else text


def local_times_in(text: str, zone: str) -> str:
    """`text` with each stored time in it as `local_time` shows it."""
    return _STORED_TIME.sub(lambda match: local_time(match[0], zone), text)


def watch_zones(db, config, watches: list[str] | None) -> dict[str, str]:
    """{watch: its alerts.timezone} for the watches a report covers (all known when None): the
    watch's own setting, else the global one (also for a watch only the database knows)."""
    configured = {watch.name for watch in config.watches}
    names = watches or _known_watches(db, [watch.name for watch in config.watches])
    return {name: config.alert_settings(name).timezone if name in configured
            else config.alerts.timezone for name in names}


@dataclass
class WatchSection:
    watch: str
    risk: WatchRisk
    alerts: list[dict]
    charts: dict[str, Path]
    mentions: int
    negatives: int
    triage: dict[str, int] = field(default_factory=dict)
    scored: int = 0  # mentions of the period scored by the model used
    # the watch's own newest mention, when it is more than DEFAULT_PERIOD_DAYS before the end of
    # the period (a watch gone quiet, or history imported next to newer watches); else None
    newest_long_before: str | None = None
    timezone: str = "UTC"  # the zone the report shows times in

    def quiet_text(self) -> str:
        """'its newest mention is 2015-02-24T19:53:37Z', or ''."""
        if not self.newest_long_before:
            return ""
        return f"its newest mention is {local_time(self.newest_long_before, self.timezone)}"

    @property
    def unscored(self) -> int:
        return self.mentions - self.scored

    def unscored_text(self) -> str:
        """'5040 of 5040 mentions not scored yet: run mentionwatch score', or ''."""
        if not self.unscored:
            return ""
        return (f"{self.unscored:,} of {self.mentions:,} mentions not scored yet: "
                "run mentionwatch score")


@dataclass
class ReportResult:
    html_path: Path
    charts: list[Path] = field(default_factory=list)
    sections: list[WatchSection] = field(default_factory=list)
    since: str = ""
    until: str = ""  # not included
    model_id: str | None = None
    newest: str | None = None  # the newest mention, when it set the end of the period
    latest_opening: str | None = None  # the latest alert's opening, when it set the end, after `newest`
    ends_now: bool = False  # no --until, and the period ends now (see build_report)
    timezone: str = "UTC"  # the zone of the charts' buckets and of every time shown

    @property
    def period_text(self) -> str:
        """The period as a reader expects it: ending at the newest mention, now, or at --until,
        which is not included; in the report's time zone."""
        return local_times_in(self._period_in_utc(), self.timezone)

    def _period_in_utc(self) -> str:
        if self.latest_opening:
            return (f"{self.since} to {self.latest_opening} (the latest alert's opening; "
                    f"the newest mention is {self.newest})")
        if self.newest:
            return f"{self.since} to {self.newest} (the newest mention)"
        if self.ends_now:
            return f"{self.since} to {self.until} (now)"
        return f"{self.since} up to {self.until} (not included)"


class ReportError(ValueError):
    """Nothing to report on (unknown watch, empty period); the message is the line shown."""


def build_report(db, out_dir: Path, *, watches: list[str] | None = None, since: str | None = None,
                 until: str | None = None, sentiment_cfg=None,
                 configured: list[str] | None = None, since_from_now: bool = False,
                 now: str | None = None, timezone: str = "UTC") -> ReportResult:
    """Write charts and report.html for these watches (all when None) over [since, until), with
    the charts' hours and days, and every time shown, in `timezone` (an IANA name).

    Without `until` the period ends just after the newest mention of these watches (one period
    for them all), except that it ends now when `since` was counted back from now
    (`since_from_now`, a --since such as 7d: "the last 7 days") or when `since` is a time after
    the newest mention (a quiet spell up to now): a quiet period is reported, empty, rather than
    refused. A `since` after now is refused. `now` (stored form) is the moment `since` was
    counted back from, default the current time.

    `configured` names the watches of the watchlist: one with no stored mention yet is reported
    too (its section says so), and can be named in `watches`. Every figure is read from one state
    of the database (`read_snapshot`): the service may be storing and scoring meanwhile."""
    with read_snapshot(db):
        return _build_report(db, out_dir, watches, since, until, sentiment_cfg, configured,
                             since_from_now, now, timezone)


def _build_report(db, out_dir: Path, watches, since, until, sentiment_cfg, configured, since_from_now,
                  now, timezone) -> ReportResult:
    model_id = choose_model_id(db, sentiment_cfg)
    known = _known_watches(db, configured or [])
    for name in watches or []:
        if name not in known:
            raise ReportError(f"no watch named {name!r} in the watchlist or the database "
                              f"(known: {', '.join(sorted(known)) or 'none'})")
    watches = list(dict.fromkeys(watches or known))  # --watch acme --watch acme: one section
    if not watches:
        raise ReportError("the database has no mentions linked to a watch yet")
    newest, latest_opening, ends_now = None, None, False
    if until is None:
        now = now or utc_now_iso()
        if since_from_now:
            until, ends_now = now, True
        else:
            until, newest, latest_opening = _default_end(db, watches)
            if since is not None and since >= until and since < now:
                # nothing since: a quiet spell, up to now
                until, newest, latest_opening, ends_now = now, None, None, True
        if since is not None and since >= until:
            raise ReportError(f"--since {since} is in the future (now is {now}; give --until "
                              "for a period of mentions dated in the future)")
    since = since or _days_before(until, DEFAULT_PERIOD_DAYS, timezone)
    if since >= until:
        raise ReportError(f"--since {since} is not before --until {until}")

    out_dir.mkdir(parents=True, exist_ok=True)
    result = ReportResult(out_dir / "report.html", since=since, until=until, model_id=model_id,
                          newest=newest, latest_opening=latest_opening, ends_now=ends_now,
                          timezone=timezone)
    charted_since = _charted_since(since, until)
    bucket_hours = charts.choose_bucket_hours(charted_since, until)
    taken: set[str] = set()  # chart file names in use, in small letters
    for watch in watches:
        section = _watch_section(db, watch, model_id, charted_since, until, bucket_hours, out_dir, timezone,
                                 _file_slug(watch, taken))
        section.newest_long_before = _newest_long_before(db, watch, until)
        result.sections.append(section)
        result.charts.extend(section.charts.values())
    result.sections.sort(key=_risk_order)
    with replacing(result.html_path) as temporary:  # the previous report survives a failure
        temporary.write_text(render_html(result), encoding="utf-8")
    return result


def _days_before(until: str, days: int, zone: str) -> str:
    """The same time of day `days` calendar days before `until` in `zone` (a clock change between
    them makes that a day of 23 or 25 hours: a period ending at local midnight starts at one)."""
    try:
        local = from_iso(until).astimezone(ZoneInfo(zone))
        return to_iso((local.replace(tzinfo=None) - dt.timedelta(days=days)).replace(tzinfo=ZoneInfo(zone)))
    except (OverflowError, ValueError):  # a period at the edge of year 1 or 9999 in that zone
        return to_iso(before(from_iso(until), dt.timedelta(days=days)))


def _charted_since(since: str, until: str) -> str:
    """Where the charts and counts start: no mention is dated before EARLIEST_CREATED_AT, and a
    chart cannot be drawn back to year 1 ('--since 0001-01-01' for "everything")."""
    if until > EARLIEST_CREATED_AT:
        return max(since, EARLIEST_CREATED_AT)
    return max(since, to_iso(before(from_iso(until), dt.timedelta(days=DEFAULT_PERIOD_DAYS))))


def _risk_order(section: WatchSection) -> tuple:
    """Highest risk first; watches without a score (no baseline, or mentions not scored yet) after
    every scored one, loudest first."""
    risk = section.risk
    if risk.has_score:
        return (0, -risk.score, section.watch)
    return (1, -risk.weighted_recent, section.watch)


def _known_watches(db, configured: list[str]) -> list[str]:
    """The watchlist's watches, then those only the database knows (of mentions or alerts)."""
    # each stored watch is found with one step in mention_watches' primary key, from the one
    # before: a few steps instead of reading every link (1.2 million: 0.1 s)
    stored = [row[0] for row in db.execute(
        "WITH RECURSIVE linked(watch) AS (SELECT min(watch) FROM mention_watches UNION ALL "
        "SELECT (SELECT min(watch) FROM mention_watches WHERE watch > linked.watch) FROM linked "
        "WHERE linked.watch IS NOT NULL) "
        "SELECT watch FROM linked WHERE watch IS NOT NULL UNION SELECT watch FROM alerts ORDER BY 1")]
    return list(dict.fromkeys([*configured, *stored]))


def _default_end(db, watches: list[str]) -> tuple[str, str | None, str | None]:
    """(until, newest, latest opening) when --until is not given: just after the newest mention of
    these watches (or their latest alert's opening, when later: it is then given too), or of any
    watch when they have none yet (a watch just added to the watchlist), or now when the database
    has no mention at all (newest is then None)."""
    for chosen in (watches, None):
        newest = _newest(db, chosen)
        if newest is not None:
            # an alert is opened by a run a few minutes after the posts behind it: the period holds it
            opening = _latest_opening(db, watches)
            last = max(newest, opening or newest)
            return to_iso(from_iso(last) + dt.timedelta(seconds=1)), newest, opening if last != newest else None
    return utc_now_iso(), None, None


def _newest_long_before(db, watch: str, until: str) -> str | None:
    """The watch's newest mention before `until` when it is more than DEFAULT_PERIOD_DAYS
    before it, else None (also for a watch with no mention before `until`)."""
    newest = edge_created_at(db, [watch], newest=True, below=until)
    if newest is None or from_iso(until) - from_iso(newest) <= dt.timedelta(days=DEFAULT_PERIOD_DAYS):
        return None
    return newest


def _latest_opening(db, watches: list[str]) -> str | None:
    """When the latest alert of these watches opened (None without alerts), never after now."""
    latest = db.execute(f"SELECT max(opened_at) FROM alerts WHERE watch IN ({', '.join('?' * len(watches))})",
                        watches).fetchone()[0]
    return min(latest, utc_now_iso()) if latest else None


def _newest(db, watches: list[str] | None) -> str | None:
    """The newest mention of these watches (of any watch when None) that is not dated in the
    future; None when they have no mention at all."""
    horizon = to_iso(dt.datetime.now(dt.timezone.utc) + FUTURE_SLACK)
    newest = edge_created_at(db, watches, newest=True, at_most=horizon)
    if newest is None and _any_mention(db, watches):
        raise ReportError(f"every mention of these watches is dated after {horizon}; "
                          "give --since and --until")
    return newest


def _any_mention(db, watches: list[str] | None) -> bool:
    """Whether these watches (any watch when None) have a mention at all."""
    chosen = "" if watches is None else f"WHERE w.watch IN ({','.join('?' * len(watches))})"
    return db.execute(f"SELECT EXISTS (SELECT 1 FROM mention_watches w CROSS JOIN mentions m "
                      f"ON m.id = w.mention_id {chosen})", watches or []).fetchone()[0] == 1


def _watch_section(db, watch, model_id, since, until, bucket_hours, out_dir,
                   timezone, slug: str) -> WatchSection:
    alerts = _alerts(db, watch, since, until)
    links = watch_links(db, watch)  # counted once for the choices of the queries below
    series = charts.watch_series(db, watch, model_id, since, until, bucket_hours, links, timezone)
    breakdown = charts.source_breakdown(db, watch, model_id, since, until, links)
    chart_paths = {
        "volume": charts.volume_chart(series, alerts, f"{watch}: mentions, negative mentions and "
                                      "negative share", out_dir / f"{slug}-volume.png"),
        "sources": charts.sources_chart(breakdown, f"{watch}: mentions per source by sentiment",
                                        out_dir / f"{slug}-sources.png"),
    }
    for alert in alerts:
        alert["explanation"] = _parse_explanation(alert.get("explanation"))
        alert["top_posts"] = _top_posts(db, alert, model_id)
        alert["handling"] = _handling_events(db, alert["id"])
        if alert["status"] == "resolved":
            alert["postcrisis"] = evaluate_alert(db, alert["id"], model_id, now=from_iso(until))
    return WatchSection(watch, watch_risk(db, watch, model_id, until, links), alerts, chart_paths,
                        sum(series.totals), sum(series.negatives), triage_counts(db, watch),
                        scored=sum(series.scored), timezone=timezone)


def _alerts(db, watch: str, since: str, until: str) -> list[dict]:
    """Alerts of the watch active in the period: the window overlaps it, or the alert started
    before the period ends and was not resolved before it began (an incident carried into the
    period, however long ago it was resolved since: the risk table counts it open at the end)."""
    cursor = db.conn.execute(
        "SELECT * FROM alerts WHERE watch = ? AND window_start < ? AND "
        "(window_end > ? OR status != 'resolved' OR resolved_at > ?) ORDER BY window_start",
        [watch, until, since, since])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor]


def _parse_explanation(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"summary": text}
    return value if isinstance(value, dict) else {}


def _top_posts(db, alert: dict, model_id: str | None) -> list[dict]:
    """The alert's top mentions: from its explanation, else the linked mentions by rank."""
    listed = alert["explanation"].get("top_mentions") or []
    if listed:
        return [p for p in listed if isinstance(p, dict)][:TOP_POSTS]
    cursor = db.conn.execute(
        "SELECT m.id AS mention_id, m.source, m.author, m.author_reach, m.url, m.created_at, "
        "m.title, m.text, s.p_negative FROM alert_mentions am JOIN mentions m ON m.id = am.mention_id "
        "LEFT JOIN scores s ON s.mention_id = m.id AND s.model_id = ? WHERE am.alert_id = ? "
        "ORDER BY am.rank IS NULL, am.rank, s.p_negative DESC LIMIT ?", [model_id, alert["id"], TOP_POSTS])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor]


def _handling_events(db, alert_id: int) -> list[dict]:
    """Who acknowledged, noted and resolved the alert, when, and what they wrote."""
    cursor = db.conn.execute(
        "SELECT at, actor, kind, detail FROM alert_events WHERE alert_id = ? AND kind IN "
        "('acknowledged', 'note', 'resolved') ORDER BY at, id", [alert_id])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor]


def _file_slug(name: str, taken: set[str]) -> str:
    """The watch's name in its chart files: `_slug`, with a hash of the name when another watch of
    the report has it in other capitals (a watch renamed 'Acme' beside 'acme' stored before): on a
    Mac or Windows disk their charts would overwrite each other."""
    slug = _slug(name)
    if slug.lower() in taken:
        slug = f"{slug}-{hashlib.sha1(name.encode('utf-8')).hexdigest()[:8]}"
    taken.add(slug.lower())
    return slug


def _slug(name: str) -> str:
    """The watch's name in chart file names and page anchors: the name itself when it is a valid
    watch name (those are safe in both, and differ by more than capitals), else its safe characters
    and a hash of the whole, so that no two watches share charts ('acme' and 'acme-' did)."""
    if watch_name_problem(name) is None:
        return name
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:40] or "watch"
    return f"{safe}-{hashlib.sha1(name.encode('utf-8')).hexdigest()[:8]}"


# ---------------------------------------------------------------- HTML

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK SC", sans-serif;
       margin: 0 auto; max-width: 1040px; padding: 16px 24px 48px; color: #1c2833;
       overflow-wrap: anywhere; }
h1 { font-size: 1.6em; margin-bottom: 0; } h2 { border-bottom: 2px solid #d5d8dc; padding-bottom: 4px;
     margin-top: 2.2em; } h3 { margin-bottom: 0.3em; }
.meta { color: #5d6d7e; font-size: 0.9em; }
table { border-collapse: collapse; width: 100%; margin: 0.6em 0; font-size: 0.92em; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e5e8e8; vertical-align: top; }
th { background: #f4f6f6; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.level { font-weight: bold; padding: 1px 8px; border-radius: 10px; color: #fff; }
.level-low { background: #27ae60; } .level-elevated { background: #d4ac0d; }
.level-high { background: #e67e22; } .level-critical { background: #c0392b; }
.level-no-baseline-yet, .level-not-scored-yet { background: #7f8c8d; }
.alert { border: 1px solid #d5d8dc; border-left: 6px solid #f39c12; border-radius: 4px;
         padding: 6px 14px; margin: 12px 0; }
.alert.resolved { border-left-color: #27ae60; }
.post { margin: 4px 0; } .post .who { color: #5d6d7e; font-size: 0.85em; }
img.chart { display: block; max-width: 100%; height: auto; margin: 10px 0; border: 1px solid #eee; }
.formula { background: #f8f9f9; padding: 8px 14px; border-radius: 4px; font-size: 0.92em; }
code { font-size: 0.95em; }
"""


def render_html(result: ReportResult) -> str:
    """The whole page; every text from the database is escaped."""
    zone = result.timezone
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>mentionwatch report {_e(local_time(result.since, zone)[:10])} to "
        f"{_e(_last_day(result, zone))}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>mentionwatch report</h1>",
        f'<p class="meta">Period {_e(result.period_text)}, times in {_e(zone)} &middot; '
        f"sentiment model {_e(result.model_id or 'none: no scores stored')} &middot; "
        f"generated {_e(local_time(utc_now_iso(), zone))}</p>",
        _risk_table(result.sections),
    ]
    for section in result.sections:
        parts.append(_watch_html(section))
    parts.append(_formula_html())
    parts.append("</body></html>")
    return "\n".join(parts)


def _last_day(result: ReportResult, zone: str) -> str:
    """The period's last day, in `zone`: the newest mention's, or the day before an `until` at
    midnight (`until` itself is not in the period)."""
    if result.newest:
        return local_time(result.newest, zone)[:10]
    return local_time(to_iso(from_iso(result.until) - dt.timedelta(seconds=1)), zone)[:10]


def _risk_table(sections: list[WatchSection]) -> str:
    rows = []
    for s in sections:
        r = s.risk
        rows.append(
            f'<tr><td><a href="#watch-{_e(_slug(s.watch))}">{_e(s.watch)}</a></td>'
            f'<td class="num">{_risk_figure(r.score, "{:.0f}")}</td><td>{_level(r.level)}</td>'
            f'<td class="num">{_counted_figure(r, r.negatives_recent, "{}")}</td>'
            f'<td class="num">{_counted_figure(r, r.weighted_recent, "{:.1f}")}</td>'
            f'<td class="num">{_scored_figure(r, r.weighted_usual, "{:.1f}")}</td>'
            f'<td class="num">{_scored_figure(r, r.size, "x{:.2f}")}</td>'
            f'<td class="num">{_scored_figure(r, r.speed, "x{:.2f}")}</td>'
            f'<td class="num">{_shares_figure(r)}</td>'
            f'<td class="num">{r.open_alerts}</td></tr>')
    return (
        "<h2>Risk by watch</h2>"
        f"<p>Who is heading for trouble, at the end of the period (last {RECENT_HOURS} hours; "
        'see <a href="#risk-formula">how the score is computed</a>).</p>'
        "<table><tr><th>watch</th><th>risk</th><th>level</th><th>negative (24 h)</th>"
        "<th>reach-weighted (24 h)</th><th>usual per 24 h</th><th>size</th><th>speed</th>"
        f"<th>negative share (24 h / {BASELINE_DAYS} days before)</th>"
        "<th>open alerts</th></tr>" + "".join(rows) + "</table>"
        + _dash_note(sections) + f'<p class="meta">{_e(OPEN_ALERTS_MEANING)}</p>')


def _dash_note(sections: list[WatchSection]) -> str:
    """What an en dash in the risk table stands for, when there is one."""
    unbased = [s.risk for s in sections if s.risk.scored_enough and not s.risk.has_baseline]
    reasons = [f"{NO_BASELINE}, {reason} to compare with"
               for reason in dict.fromkeys(risk.no_baseline_reason() for risk in unbased)]
    if any(not s.risk.scored_enough for s in sections):
        reasons.append(f"{NOT_SCORED}, mentions of the last {RECENT_HOURS} hours or the "
                       f"{BASELINE_DAYS} days before have no sentiment score: run mentionwatch score")
    if any(s.risk.scored_enough and s.risk.unscored_recent for s in sections):
        # the risk score and the shares stand on the scored mentions; a count of them would look whole
        reasons.append(f"in the {RECENT_HOURS}-hour counts of a watch with a score, a few mentions of "
                       f"the last {RECENT_HOURS} hours have no sentiment score yet, so the count would be "
                       "short (the score and the shares are of the scored ones): run mentionwatch score")
    return f'<p class="meta">&ndash;: {"; or ".join(reasons)}.</p>' if reasons else ""


def _watch_html(section: WatchSection) -> str:
    r, zone = section.risk, section.timezone
    parts = [
        f'<h2 id="watch-{_e(_slug(section.watch))}">{_e(section.watch)}</h2>',
        f"<p>{_e(_period_counts(section))} {_risk_words(r)} {_level(r.level)}: "
        f"{_e(r.explanation())}.</p>",
        "<p>Triage marks (all time): " + ", ".join(
            f"{section.triage.get(state, 0)} {state}" for state in ("flagged", "handled", "ignored"))
        + ".</p>",
    ]
    for kind, alt in (("volume", "mentions, negative mentions and negative share over time"),
                      ("sources", "mentions per source by sentiment")):
        parts.append(_img(section.charts[kind], f"{section.watch}: {alt}"))
    if r.top_posts:
        parts.append(f"<h3>Evidence: negative posts with most weight in the last {RECENT_HOURS} h</h3>")
        parts.extend(_post_html(post, zone) for post in r.top_posts)
    parts.append(f"<h3>Alerts ({len(section.alerts)})</h3>")
    parts.append('<p class="meta">Alerts whose window falls in the period, and alerts started '
                 "before its end that were not resolved when it began.</p>")
    if not section.alerts:
        parts.append("<p>No alert in this period.</p>")
    parts.extend(_alert_html(alert, zone) for alert in section.alerts)
    return "\n".join(parts)


def _period_counts(section: WatchSection) -> str:
    """'5,040 mentions in the period, 120 negative (2%).', saying how many are not scored yet:
    an unscored mention is not a mention that is not negative."""
    quiet = (f" The newest mention of this watch is "
             f"{local_time(section.newest_long_before, section.timezone)}."
             if section.newest_long_before else "")
    if not section.mentions:
        return f"No mentions of this watch in the period.{quiet}"
    share = f"{section.negatives / section.scored:.0%}" if section.scored else "n/a"
    if not section.unscored:
        return (f"{section.mentions:,} mentions in the period, {section.negatives:,} negative "
                f"({share}).{quiet}")
    negatives = (f" {section.negatives:,} negative of the {section.scored:,} scored ({share})."
                 if section.scored else "")
    return (f"{section.mentions:,} mentions in the period; {section.unscored_text()}.{negatives}"
            f"{quiet}")


def _alert_html(alert: dict, zone: str) -> str:
    explanation = alert["explanation"]
    status = alert["status"]
    window_end = window_end_text(alert["window_end"], alert.get("resolved_at"), utc_now_iso())
    head = (f'<div class="alert {_e(status)}"><h3>Alert #{alert["id"]} &middot; {_e(status)} &middot; '
            f'{_e(alert["severity"])}</h3><p class="meta">window '
            f'{_e(local_time(alert["window_start"], zone))} to {_e(local_time(window_end, zone))}, '
            f'opened {_e(local_time(alert["opened_at"], zone))}'
            + (f', source {_e(alert["source"])}' if alert.get("source") else "")
            + _peak_html(alert, zone) + "</p>")
    parts = [head]
    if explanation.get("summary"):
        # as stored when the alert was found (and as its notification said it): its times are UTC
        # and say so; converting some of them would put two clocks in one sentence
        parts.append(f"<p>{_e(plain_words(explanation['summary']))}</p>")
    terms = [t for t in explanation.get("terms") or [] if isinstance(t, dict)]
    if terms:
        parts.append("<p><b>Over-represented words:</b> " + ", ".join(
            f"{_e(t.get('term'))} ({t.get('count')}, x{float(t.get('lift') or 0):.1f})"
            for t in terms[:10]) + "</p>")
    sources = explanation.get("sources") or {}
    if isinstance(sources, dict) and sources:
        parts.append("<p><b>Sources:</b> " + ", ".join(
            f"{_e(name)} {count}" for name, count in sources.items()) + "</p>")
    parts.append(_handling_html(alert, zone))
    if alert.get("postcrisis"):
        parts.append(_postcrisis_html(alert["postcrisis"], zone))
    if alert["top_posts"]:
        parts.append(f'<p><b>Top posts</b></p><p class="meta">{_e(TOP_POSTS_RANKING)}</p>')
        parts.extend(_post_html(post, zone) for post in alert["top_posts"])
    parts.append("</div>")
    return "\n".join(parts)


def _peak_html(alert: dict, zone: str) -> str:
    """', 40 negative mentions in 1h at peak (… -> …), 3 expected (…)', or '' without figures."""
    if alert.get("observed") is None or alert.get("expected") is None:
        return ""
    words = peak_text(alert["rule"], alert["observed"], alert["expected"], alert.get("score"),
                      alert["explanation"].get("peak"))
    return ", " + _e(local_times_in(plain_words(words), zone))


def _handling_html(alert: dict, zone: str) -> str:
    """Owner, acknowledgement, resolution (by whom, with its note) and the notes written."""
    events = alert.get("handling") or []
    resolutions = [e for e in events if e["kind"] == "resolved"]
    resolution = resolutions[-1] if alert["status"] == "resolved" and resolutions else None
    facts = []
    if alert.get("owner"):
        facts.append(f"owner {_e(alert['owner'])}")
    if alert.get("acknowledged_at"):
        facts.append(f"acknowledged {_e(local_time(alert['acknowledged_at'], zone))}")
    if alert["status"] == "resolved":
        by = f" by {_e(resolution['actor'])}" if resolution and resolution["actor"] else ""
        facts.append(f"resolved {_e(local_time(alert.get('resolved_at'), zone))}{by}")
    parts = [f"<p><b>Handling:</b> {'; '.join(facts)}.</p>"] if facts else []
    if resolution and resolution["detail"]:
        parts.append(f"<p><b>Resolution note:</b> {_e(resolution['detail'])}</p>")
    notes = [e for e in events if e["detail"] and e is not resolution]
    if notes:
        parts.append("<p><b>Notes</b></p><ul>" + "".join(
            f"<li>{_e(local_time(e['at'], zone))} &middot; {_e(e['actor'] or 'unknown')} "
            f"({_e(e['kind'])}): "
            f"{_e(e['detail'])}</li>" for e in notes) + "</ul>")
    return "\n".join(parts)


def _postcrisis_html(figures: dict, zone: str) -> str:
    verdict = {True: "yes", False: "no", None: "not known yet"}[figures["back_to_baseline"]]
    return (
        "<table><tr><th>time to acknowledge</th><th>time to resolve</th>"
        "<th>negative share before</th><th>during</th><th>24 h after resolution</th>"
        "<th>back to baseline</th></tr>"
        f"<tr><td>{_time_to_acknowledge(figures['time_to_acknowledge_s'])}</td>"
        f"<td>{format_duration(figures['time_to_resolve_s'])}</td>"
        f"<td>{_share_of(figures['baseline_negative_share'], figures['baseline_mentions'])}</td>"
        f"<td>{_share_of(figures['alert_negative_share'], figures['alert_mentions'])}</td>"
        f"<td>{_share_of(figures['after_negative_share'], figures['after_mentions'])}{_so_far(figures)}</td>"
        f"<td>{verdict}</td></tr></table>" + _counted_from_html(figures, zone))


def _time_to_acknowledge(seconds: float | None) -> str:
    """As `alerts show` says it: a resolved alert nobody acknowledged is 'not acknowledged'."""
    return "not acknowledged" if seconds is None else format_duration(seconds)


def _so_far(figures: dict) -> str:
    """' (first 3h 10m)' while the 24 hours after the resolution have not all passed."""
    if not figures["after_seconds"] or after_complete(figures):  # none of it in the period: nothing to add
        return ""
    return f" (first {format_duration(figures['after_seconds'])})"


def _share_of(share: float | None, scored: int) -> str:
    """'65% of 2,347 scored mentions', or 'n/a: no scored mentions'."""
    if share is None or not scored:
        return "n/a: no scored mentions"
    return f"{share:.0%} of {scored:,} scored mention{'s' if scored != 1 else ''}"


def plain_words(text: str) -> str:
    """An alert's figures for a reader who is no statistician: '(40.0 spreads above normal)'
    becomes '(40.0 times the usual variation above normal)'."""
    return _SPREADS.sub(r"(\1 times the usual variation above normal)", text)


def _counted_from_html(figures: dict, zone: str) -> str:
    """For an alert found late (a replay, imported history): the times count from its recording."""
    late = local_times_in(recorded_late(figures), zone).strip()
    if not late:
        return ""
    return f'<p class="meta">Times to acknowledge and resolve {_e(late.strip("()"))}.</p>'



def _post_html(post: dict, zone: str) -> str:
    text = " ".join(entry_text(post).split())  # title first: a story or link post has its words there
    if len(text) > 400:
        text = text[:400] + "…"
    who = " · ".join(str(x) for x in (
        f"mention {post['mention_id']}" if post.get("mention_id") is not None else None,
        local_time(post.get("created_at"), zone), post.get("source"), post.get("author"),
        f"reach {post['author_reach']:,}" if isinstance(post.get("author_reach"), int) else None,
        f"p(negative) {post['p_negative']:.2f}" if isinstance(post.get("p_negative"), float) else None,
    ) if x)
    link = str(post.get("url") or "").strip()
    link_html = (f' <a href="{html.escape(link, quote=True)}" rel="noreferrer">link</a>'
                 if link.lower().startswith(("http://", "https://")) else "")
    return f'<div class="post">{_e(text)}<div class="who">{_e(who)}{link_html}</div></div>'


def _formula_html() -> str:
    return (
        '<h2 id="risk-formula">How the risk score is computed</h2><div class="formula">'
        "<p>Each negative mention counts with a reach weight <code>w = 1 + log10(1 + reach)</code>: "
        "1 for an unknown author, about 4 for 1,000 followers, about 7 for a million.</p>"
        "<ul><li><b>N24</b>: weighted negative mentions in the last 24 hours of the period;</li>"
        "<li><b>usual</b>: weighted negative mentions per day over the 7 days before;</li>"
        "<li><b>N6</b>: weighted negative mentions in the last 6 hours;</li>"
        "<li><b>size</b> = (N24 + 1) / (usual + 1): how many times the usual amount;</li>"
        "<li><b>speed</b> = (N6 + 1) / (N24 / 4 + 1): above 1 when the last 6 hours run hotter "
        "than the day as a whole.</li></ul>"
        "<p><b>risk</b> = 30 &times; log2(size) + 20 &times; log2(speed), counting only parts above 1 "
        "(speed only when size is above 1), capped to 0&ndash;100. Levels: below 25 low, 25&ndash;50 "
        "elevated, 50&ndash;75 high, 75 and above critical. Twice the usual negatives give 30; four "
        "times give 60; four times while accelerating to twice the day's pace give 80.</p>"
        f"<p>A watch with less than {MIN_BASELINE_DAYS} day of mentions before the last "
        f"{RECENT_HOURS} hours, or with no mention at all in the {BASELINE_DAYS} days before them "
        "(a source down for a week), has no usual amount to compare with: it gets no score and the "
        f"level <i>{NO_BASELINE}</i>, and is listed after the watches with a score. So is a watch "
        f"with mentions of the last {RECENT_HOURS} hours or the {BASELINE_DAYS} days before that "
        f"have no sentiment score yet (<i>{NOT_SCORED}</i>): counting them as not negative "
        "would make any wave look calm.</p>"
        "<p><b>Post-crisis evaluation</b> of a resolved alert: time from opening to acknowledgement "
        "and to resolution (for an alert found later, by a replay or in imported history, from "
        "when it was recorded); negative share in the 7 days before the alert window, during it, and in "
        "the 24 hours after resolution; back to baseline when the share after is at most the share "
        "before plus 5 points (or 20% of it, whichever is more), with at least 5 scored mentions "
        "after.</p></div>")


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img class="chart" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _level(level: str) -> str:
    return f'<span class="level level-{_e(level.replace(" ", "-"))}">{_e(level)}</span>'


def _risk_words(risk: WatchRisk) -> str:
    return f"Risk {risk.score:.0f}" if risk.has_score else "Risk"


def _counted_figure(risk: WatchRisk, value: float, form: str) -> str:
    """A count of the last 24 h; an en dash while some of them are not scored (it would be
    read as all there is)."""
    return _risk_figure(None if risk.unscored_recent else value, form)


def _shares_figure(risk: WatchRisk) -> str:
    """'42% / 18%': the share of scored mentions that are negative in the last 24 h and in the
    days before, as the score reads them (a small backlog does not hold it back); en dashes for a
    watch 'not scored yet' (a share of part of its mentions would be read as the whole's), and
    for a side with no scored mention."""
    if not risk.scored_enough:
        return "&ndash; / &ndash;"
    return " / ".join(_risk_figure(share, "{:.0%}") for share in (risk.share_recent, risk.share_baseline))


def _scored_figure(risk: WatchRisk, value: float | None, form: str) -> str:
    """A figure behind the score; an en dash for a watch with no score, whose figures would
    compare nothing (no baseline) or count only part of its mentions (not scored yet)."""
    return _risk_figure(value if risk.has_score else None, form)


def _risk_figure(value: float | None, form: str) -> str:
    """A risk figure, or an en dash where there is none (no baseline to compare with)."""
    return "&ndash;" if value is None else _e(form.format(value))


def _e(value) -> str:
    """Text for the page, HTML-escaped; control and invisible formatting characters are written
    as their escape ('\\u202e'), as on the terminal: a bidi override would show a post's words
    in another order than they are stored, and a zero-width character would hide."""
    return html.escape("" if value is None else terminal_safe(value), quote=True)
