"""Alert commands: `detect`, `backtest`, `alerts list|show|ack|resolve|note` and `bench nab`."""
from __future__ import annotations

import json
from pathlib import Path

import click

from mentionwatch.app import (
    App, UserMistake, actor_or_login_name, bench, main, pass_app, person_name, shared_data_folder,
)
from mentionwatch.cli_types import ALERT_ID, GivenPath, count_at_least, fits_sqlite
from mentionwatch.terminal import terminal_safe
from mentionwatch.text_table import table_lines
from storage.db import read_snapshot

NAB_DATA = Path("nab/realTweets")  # in the shared data folder
NAB_LABELS = Path("nab/labels/realTweets_windows.json")


def _moment(value: str | None, option: str):
    """A user-given time as stored text, or a one-line error."""
    if value is None:
        return None
    from storage.mentions import EARLIEST_CREATED_AT
    from storage.timeutil import parse_given_time

    try:
        moment = parse_given_time(value)
    except ValueError as exc:
        raise UserMistake(f"Invalid value for {option}: {exc} (use e.g. 2024-05-01 or 2024-05-01T14:00:00Z)") from None
    if moment < EARLIEST_CREATED_AT:  # a year (2015) or 20150220 read as Unix seconds in 1970
        raise UserMistake(f"Invalid value for {option}: {value.strip()!r} is read as {moment}, before any "
                          "mention can be dated: write a date such as 2015-02-20")
    return moment


@main.command()
@click.option("--notify/--no-notify", "notify", default=None,
              help="Queue and send notifications, or store alerts telling nobody "
                   "[default: notify, except for a replay: --at in the past].")
@click.option("--at", "at", default=None, metavar="TIME",
              help="Detect as if it were this time (UTC unless a zone follows: '2015-02-20 09:00 America/New_York'), "
                   "e.g. to replay an imported day. Default: now.")
@pass_app
def detect(app: App, notify: bool | None, at: str | None) -> None:
    """Run spike detection over the stored, scored mentions; open or update alerts; send notifications."""
    from alerts.detect import is_replay, run_detection
    from alerts.notify import send_pending

    moment = _moment(at, "--at")
    if moment is not None and _in_the_future(moment):
        raise click.BadParameter(f"{moment} is in the future: detection can look from now or from a past "
                                 "time only", param_hint="--at")
    replay = moment is not None and is_replay(moment)
    if notify is None:
        notify = not replay
    result = run_detection(app.db, app.config, now=moment, notify=notify)
    click.echo(f"Checked {result.checked} series: {len(result.opened)} alert(s) opened, "
               f"{len(result.updated)} updated.")
    for alert_id in result.opened:
        click.echo(f"  opened #{alert_id}: {_one_line(app.db, alert_id)}")
    for alert_id, (was, now) in result.escalated.items():  # a line each: the team is told again
        click.echo(f"  escalated #{alert_id}: {was} -> {now}: {_one_line(app.db, alert_id)}")
    for alert_id in dict.fromkeys(result.announced):  # its messages go out now: say which alert they are about
        click.echo(f"  announced #{alert_id} (found earlier by a run that told nobody, or new to a target): "
                   f"{_one_line(app.db, alert_id)}")
    _warn_unchecked(app, result.unchecked, moment)
    _warn_unscored_detect(app, result.unchecked, moment, live=not replay)
    if moment is None:
        _warn_dated_after_now(app)
    _warn_switched_off(app)
    _warn_unconfigured(app)
    if replay and not notify:
        click.echo("A replay (--at in the past): no notifications queued or sent; add --notify to send them.")
    if notify:
        # this shell is not the sender of last resort: a message for a target whose URL variable or
        # file this shell lacks is left to the service, not failed here (attempts, backoff)
        sent = send_pending(app.db, app.config, from_shell=True)
        if sent.sent or sent.failed or sent.unconfirmed or sent.superseded:
            click.echo(f"Notifications: {_sent_summary(sent)}.")
        _say_left_for_service(app, sent)


def _say_left_for_service(app: App, sent) -> None:
    """One line per target whose messages this shell left pending for the service."""
    if not sent.left_for_service:
        return
    from mentionwatch.service_state import live_service

    running = live_service(app.db) is not None
    for name, why in sent.left_for_service.items():
        count = sent.left_rows.get(name, 1)
        messages, it = ("1 message", "it") if count == 1 else (f"{count} messages", "them")
        sender = f"the service sends {it}" + ("" if running else " when it runs (none is running now)")
        click.echo(f"Notification {name!r} ({messages}): not sent from this shell: {why}; {sender}.")


def _in_the_future(moment: str) -> bool:
    """A minute's leeway: a time typed from a clock slightly ahead is taken as now."""
    import datetime as dt

    from storage.timeutil import from_iso

    return from_iso(moment) > dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)


def _sent_summary(sent) -> str:
    parts = [f"{sent.sent} sent", f"{sent.failed - sent.given_up} failed (retried later)"]
    if sent.given_up:  # after 8 tries, or 9 when a sender died during the 8th (see notify._DUE)
        parts.append(f"{sent.given_up} given up after the last try (not tried again; "
                     "'alerts show' has the last error)")
    if sent.unconfirmed:
        parts.append(f"{sent.unconfirmed} unconfirmed (no answer in time; not sent again)")
    if sent.superseded:
        parts.append(f"{sent.superseded} no longer needed (not sent; 'alerts show' says why)")
    return ", ".join(parts)


def _history_period(moment: str | None) -> tuple[str, str]:
    """(start, end) of the history a detection as of `moment` (default now) looks at, as stored text."""
    import datetime as dt

    from alerts.detect import HISTORY_DAYS
    from storage import utc_now_iso
    from storage.timeutil import from_iso, to_iso

    end = moment or utc_now_iso()
    return to_iso(from_iso(end) - dt.timedelta(days=HISTORY_DAYS)), end


def _warn_unchecked(app: App, watches: list[str], moment: str | None) -> None:
    from alerts.detect import HISTORY_DAYS

    if watches:
        start, end = _history_period(moment)
        click.echo(_unchecked_line(app, watches, start, end, f"in the {HISTORY_DAYS} days before {moment or 'now'}",
                                   "older history: --at TIME or `mentionwatch backtest`"))


def _warn_unscored_detect(app: App, unchecked: list[str], moment: str | None, live: bool) -> None:
    from alerts.detect import HISTORY_DAYS

    start, end = _history_period(moment)
    watches = [name for name in _alerting_watches(app) if name not in unchecked]
    _warn_unscored(app, watches, start, end, f"in the {HISTORY_DAYS} days before {moment or 'now'}", live)


def _warn_dated_after_now(app: App) -> None:
    """Mentions dated after now (local times imported as UTC, say) are left out of a detection as of
    now, and would make it look as if there were none: said in one line."""
    import datetime as dt

    from mentionwatch.importer import AHEAD_OF_NOW
    from storage.timeutil import to_iso

    now = to_iso(dt.datetime.now(dt.timezone.utc) + AHEAD_OF_NOW)  # a source's clock may be a little ahead
    ahead = []
    for name in _alerting_watches(app):
        count, latest = app.db.execute(
            # by the time index first: mentions dated after now are few, a watch's links may be millions
            "SELECT count(*), max(m.created_at) FROM mentions m WHERE m.created_at > ? AND EXISTS "
            "(SELECT 1 FROM mention_watches w WHERE w.mention_id = m.id AND w.watch = ?)", [now, name]).fetchone()
        if count:
            ahead.append(f"{count:,} of {name} (the latest {latest})")
    if ahead:
        click.echo(f"Dated more than {AHEAD_OF_NOW.seconds // 60} minutes after now, so left out until their "
                   f"time comes: {'; '.join(ahead)}. "
                   "Imported local times read as UTC? Import the file again with --timezone and --update.")


def _warn_switched_off(app: App) -> None:
    off = [watch.name for watch in app.config.watches if not app.config.alert_settings(watch.name).enabled]
    if off:
        click.echo(f"Alerts are off (alerts.enabled: false) for {', '.join(off)}: not checked.")


def _alerting_watches(app: App) -> list[str]:
    """The watchlist's watches whose alerts are on."""
    return [watch.name for watch in app.config.watches if app.config.alert_settings(watch.name).enabled]


def _warn_unscored(app: App, watches: list[str], start: str, end: str, period: str, live: bool) -> None:
    """One line naming the checked watches with mentions in [start, end) that have no sentiment score:
    detection leaves them out of its counts, so a wave among them raises no alert (scoring them first
    is what the service does; a shell's import followed by detect may not). `live`: a detection as of
    now, which the running service's next one repeats (a replay or a backtest it never does)."""
    from mentionwatch.service_state import live_service
    from sentiment import model_id_for

    model_id = model_id_for(app.config.sentiment)
    service_running = live_service(app.db) is not None
    # with the service running, what it stored in the last minutes is scored at its next score run:
    # only mentions it should have scored by now are named (a backlog), not every run's newest posts
    stored_before = _scored_by_now_if_stored_before(app) if service_running and live else "9999"
    waiting = []
    for name in watches:
        total, unscored = app.db.execute(
            "SELECT count(*), coalesce(sum(NOT EXISTS (SELECT 1 FROM scores s WHERE s.mention_id = m.id "
            "AND s.model_id = ?) AND m.fetched_at < ?), 0) FROM mention_watches w JOIN mentions m ON m.id = w.mention_id "
            "WHERE w.watch = ? AND m.created_at >= ? AND m.created_at < ?",
            [model_id, stored_before, name, start, end]).fetchone()
        if unscored:
            waiting.append(f"{unscored:,} of the {total:,} mentions of {name}")
    if not waiting:
        return
    if not service_running:
        advice = "run `mentionwatch score`, then this command again, or a wave among them goes unnoticed"
    else:
        advice = ("the running service scores them, and its next detection counts them" if live else
                  "the running service scores them: run this command again once it has")
        advice += " (`mentionwatch status` shows the backlog)"
    click.echo(f"Not scored yet, so left out of the counts: {'; '.join(waiting)} {period}: {advice}.")


def _scored_by_now_if_stored_before(app: App) -> str:
    """The stored time before which a running service has had a score run to score a mention: its
    score interval and two minutes more (a score run of a big batch takes a while)."""
    import datetime as dt

    from storage.timeutil import to_iso

    waited = dt.timedelta(seconds=app.config.service.score_interval + 120)
    return to_iso(dt.datetime.now(dt.timezone.utc) - waited)


def _unchecked_line(app: App, watches: list[str], start: str, end: str, period: str, advice: str = "") -> str:
    """'No mentions of A yet; no scored mentions of B, C PERIOD, not checked (ADVICE; they have unscored
    mentions: ...)': the `score` hint only for the watches with unscored mentions in [start, end)."""
    from sentiment import model_id_for

    model_id = model_id_for(app.config.sentiment)
    # one row is enough per watch (LIMIT 1): a watch's links can be millions
    mentioned = {name for name in watches if app.db.execute(
        "SELECT 1 FROM mention_watches WHERE watch = ? LIMIT 1", [name]).fetchone()}
    unscored = {name for name in mentioned if app.db.execute(
        "SELECT 1 FROM mention_watches w JOIN mentions m ON m.id = w.mention_id "
        "LEFT JOIN scores s ON s.mention_id = m.id AND s.model_id = ? "
        "WHERE w.watch = ? AND m.created_at >= ? AND m.created_at < ? AND s.mention_id IS NULL LIMIT 1",
        [model_id, name, start, end]).fetchone()}
    never = [name for name in watches if name not in mentioned]
    others = [name for name in watches if name in mentioned]
    parts = [f"no mentions of {', '.join(never)} yet"] if never else []
    if others:
        notes = [advice] if advice else []
        if len(unscored) == len(others):
            notes.append("they have unscored mentions: `mentionwatch score`")
        elif unscored:
            notes.append(f"unscored mentions of {', '.join(n for n in others if n in unscored)}: `mentionwatch score`")
        parts.append(f"no scored mentions of {', '.join(others)} {period}, not checked"
                     + (f" ({'; '.join(notes)})" if notes else ""))
    line = "; ".join(parts)
    return line[0].upper() + line[1:] + "."


def _warn_unconfigured(app: App) -> None:
    from alerts.detect import unconfigured_watches

    missing = unconfigured_watches(app.db, app.config)
    if missing:
        listed = ", ".join(f"{name} ({count} mentions)" for name, count in missing)
        click.echo(f"Not checked, not a watch in {app.config_path}: {listed}. Add them under `watches:` "
                   "to have them checked, or, for a watch renamed there, move its history with "
                   "'mentionwatch rename OLD NEW'.")


def _one_line(db, alert_id: int) -> str:
    row = db.execute("SELECT watch, source, rule, severity, window_start, window_end, observed, expected, score, "
                     "explanation, resolved_at FROM alerts WHERE id = ?", [alert_id]).fetchone()
    watch, source, rule, severity, start, end, observed, expected, score, explanation, resolved_at = row
    where = f"{watch}/{source}" if source else watch
    peak = _peak(rule, observed, expected, score, explanation)
    return f"{where} {rule} {severity} {_window_text(start, end, resolved_at)}: {peak}"


def _window_text(start: str, end: str | None, resolved_at: str | None = None) -> str:
    """'START -> END', END as it reads now (see alerts.explain.window_end_text)."""
    from alerts.explain import window_end_text
    from storage import utc_now_iso

    return f"{start} -> {window_end_text(end, resolved_at, utc_now_iso())}"


def _peak(rule: str, observed, expected, score, explanation: str | None) -> str:
    from alerts.explain import peak_text

    return peak_text(rule, observed, expected, score, json.loads(explanation or "{}").get("peak"))


def _expected_cell(rule: str, expected) -> str:
    """A threshold rule expects nothing: its `expected` is the rule's count, named in the rule."""
    return "-" if rule.startswith("threshold:") or expected is None else f"{expected:.1f}"


def _table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> None:
    for line in table_lines([headers, *rows], right):
        click.echo(line)


@main.command()
@click.option("--since", required=True, metavar="TIME",
              help="Start of the replayed period (UTC unless a zone follows; included): 2015-02-20, "
                   "2015-02-20T08:00:00Z, '2015-02-20 Europe/Paris', or 30d ago.")
@click.option("--until", required=True, metavar="TIME",
              help="End of the replayed period (not included), written as --since (UTC unless a zone "
                   "follows; 1d: a day ago).")
@click.option("--watch", "watch_names", multiple=True, help="Only this watch (repeatable) [default: all].")
@pass_app
def backtest(app: App, since: str, until: str, watch_names: tuple[str, ...]) -> None:
    """List the alerts the current rules would have raised over a past period (stores and sends nothing)."""
    from alerts.detect import backtest as replay

    from mentionwatch.commands.triage import _period

    # read as export, report and search read a period: 30d, a fraction of a second rounded up, and
    # one line (with its hint for a date meant as a whole day) for a period the wrong way round
    start, end = _period(since, until)
    for name in watch_names:
        app.require_configured_watch(name)
    unchecked: list[str] = []
    switched_off: list[str] = []
    findings = replay(app.db, app.config, start, end, watch_names, unchecked, switched_off)
    if unchecked:
        click.echo(_unchecked_line(app, unchecked, start, end, f"between {start} and {end}"))
    replayed = list(dict.fromkeys(watch_names)) if watch_names else _alerting_watches(app)
    _warn_unscored(app, [name for name in replayed if name not in unchecked], start, end,
                   f"between {start} and {end}", live=False)
    if switched_off:
        click.echo(f"Alerts are off (alerts.enabled: false) for {', '.join(switched_off)}: not replayed; "
                   "name a watch with --watch to replay its rules all the same.")
    if not watch_names:
        _warn_unconfigured(app)
    period = f"between {start} (included) and {end} (not included)"
    if not findings:
        click.echo(f"No alerts would have been raised for incidents {period}.")
        return
    click.echo(f"{len(findings)} alert(s) would have been raised for incidents {period}, oldest opened first:")
    rows = [[f.opened_at, f.watch, f.source or "-", f.rule, f.severity, f"{f.observed:g}",
             _expected_cell(f.rule, f.expected), f"{f.window_start} -> {f.window_end}", _backtest_notes(f, start)]
            for f in findings]
    _table(["opened at", "watch", "source", "rule", "severity", "peak", "expected", "window", "notes"], rows,
           right={5, 6})


def _backtest_notes(finding, since: str) -> str:
    notes = ["opened before --since"] if finding.opened_at < since else []
    if finding.escalations:
        notes.append(f"opened {finding.opened_severity}, "
                     + ", ".join(f"escalated to {severity} at {at}" for at, severity in finding.escalations))
    others = [rule for rule in finding.rules if rule != finding.rule]
    if others:
        notes.append(f"also fired: {', '.join(others)}")
    return "; ".join(notes)


@main.group(name="alerts")
def alerts_group() -> None:
    """List, show, acknowledge and resolve alerts, and add notes to them."""


ACTIVE_STATUSES = ("open", "acknowledged")  # what `alerts list` shows by default: still needing attention


@alerts_group.command(name="list")
@click.option("--status", type=click.Choice(["open", "acknowledged", "resolved", "all"], case_sensitive=False), default=None,
              help="Only alerts in this status ('all' as --all) [default: open and acknowledged].")
@click.option("--all", "every_status", is_flag=True, help="Alerts in every status, resolved ones included.")
@click.option("--watch", "watch_names", multiple=True, help="Only this watch (repeatable).")
@click.option("--limit", type=count_at_least(1), default=50, show_default=True,
              help="At most this many alerts, the most recently opened.")
@pass_app
def list_alerts(app: App, status: str | None, every_status: bool, watch_names: tuple[str, ...], limit: int) -> None:
    """The most recently opened alerts, newest first: by default the open and acknowledged ones."""
    if every_status and status not in (None, "all"):
        raise UserMistake(f"--all lists every status and --status {status} one: give one of them")
    if every_status:
        status = "all"
    columns = ("id, status, severity, opened_at, watch, source, rule, observed, expected, window_start, "
               "window_end, owner, resolved_at")
    sql = " FROM alerts WHERE 1 = 1"  # the conditions follow
    params: list = []
    watch_sql = ""
    if watch_names:
        app.require_watches(watch_names)
        watch_sql = f" AND watch IN ({', '.join('?' * len(watch_names))})"
    if status is None:
        sql += f" AND status IN ({', '.join('?' * len(ACTIVE_STATUSES))})"
        params.extend(ACTIVE_STATUSES)
    elif status != "all":
        sql += " AND status = ?"
        params.append(status)
    sql += watch_sql
    params.extend(watch_names)
    with read_snapshot(app.db):  # the rows and their count from one state of the database
        rows = app.db.execute(f"SELECT {columns}{sql} ORDER BY opened_at DESC, id DESC LIMIT ?",
                              [*params, limit]).fetchall()
        (matching,) = app.db.execute(f"SELECT count(*){sql}", params).fetchone()
    if not rows:
        click.echo(f"No {_status_words(status)}alerts.")
    else:
        shown = f"{len(rows)} alert(s)" if matching <= len(rows) else \
            f"The {len(rows)} most recent of {matching} alerts (--limit to see more)"
        click.echo(f"{shown}, most recently opened first:")
        table = [[str(alert_id), state, severity, opened, watch, source or "-", rule, f"{observed or 0:g}",
                  _expected_cell(rule, expected), _window_text(start, end, resolved_at), owner or "-"]
                 for (alert_id, state, severity, opened, watch, source, rule, observed, expected, start, end,
                      owner, resolved_at) in rows]
        _table(["id", "status", "severity", "opened", "watch", "source", "rule", "peak", "expected", "window",
                "owner"], table, right={0, 7, 8})
    if status is None:
        (hidden,) = app.db.execute("SELECT count(*) FROM alerts WHERE status = 'resolved'" + watch_sql,
                                   list(watch_names)).fetchone()
        if hidden:
            click.echo(f"{hidden} resolved alert{'' if hidden == 1 else 's'} not shown: --status resolved or --all.")


def _status_words(status: str | None) -> str:
    """'open or acknowledged ' for the default listing, 'resolved ' for --status resolved, '' for all."""
    if status is None:
        return " or ".join(ACTIVE_STATUSES) + " "
    return "" if status == "all" else f"{status} "


@alerts_group.command(name="show")
@click.argument("alert_id", type=ALERT_ID)
@pass_app
def show_alert(app: App, alert_id: int) -> None:
    """Everything about one alert: numbers, explanation, timeline, notifications."""
    from alerts.explain import entry_text

    app.require_alerts([alert_id])
    db = app.db
    cursor = db.execute("SELECT * FROM alerts WHERE id = ?", [alert_id])
    alert = dict(zip([column[0] for column in cursor.description], cursor.fetchone()))
    explanation = json.loads(alert["explanation"] or "{}")
    _say(f"Alert #{alert_id}  {alert['status']}  severity {alert['severity']}  rule {alert['rule']}")
    _say(f"Watch: {alert['watch']}" + (f"  source: {alert['source']}" if alert["source"] else ""))
    _say(f"Window: {_window_text(alert['window_start'], alert['window_end'], alert['resolved_at'])}")
    _say(_peak(alert["rule"], alert["observed"], alert["expected"], alert["score"], alert["explanation"])
         + (f"; sentiment by {alert['model_id']}" if alert.get("model_id") else ""))
    fired = explanation.get("rules") or []
    if len(fired) > 1:
        _say(f"Rules fired: {', '.join(fired)} (the severity is the highest any of them reached; "
             f"the peak is {alert['rule']}'s)")
    elif alert["rule"].startswith("threshold:"):
        _say("Severity: the rule's own, one level up each time the peak doubles past the rule's count")
    _say(f"Owner: {alert['owner'] or '-'}  opened {alert['opened_at']}"
         + (f"  acknowledged {alert['acknowledged_at']}" if alert["acknowledged_at"] else "")
         + (f"  resolved {alert['resolved_at']}" if alert["resolved_at"] else ""))
    _say("")
    _say(explanation.get("summary", ""))
    if explanation.get("sources"):
        _say("Sources: " + ", ".join(f"{s} {n}" for s, n in explanation["sources"].items()))
    if explanation.get("terms"):
        _say("Terms standing out: " + ", ".join(
            f"{t['term']} ({t['count']}, x{t['lift']:g})" for t in explanation["terms"]))
    if explanation.get("top_mentions"):
        _say("Top negative mentions:")
        for m in explanation["top_mentions"]:
            reach = f" reach {m['author_reach']}" if m.get("author_reach") else ""
            _say(f"  [{m['mention_id']}] {m['created_at']} {m['source']} {m.get('author') or '-'}{reach}"
                 f" p_neg {m['p_negative']:.2f}")
            _say(f"      {' '.join(entry_text(m).split())}")
            if m.get("url"):
                _say(f"      {m['url']}")
    _say("Timeline:")
    for at, actor, kind, detail in db.execute(
            "SELECT at, actor, kind, detail FROM alert_events WHERE alert_id = ? ORDER BY id", [alert_id]):
        _say(f"  {at} {kind:12} {actor or '-'}" + (f": {detail}" if detail else ""))
    notes = db.execute("SELECT target, state, status, attempts, last_error FROM notifications "
                       "WHERE alert_id = ? ORDER BY id", [alert_id]).fetchall()
    if notes:
        _say("Notifications:")
        for target, state, status, attempts, error in notes:
            _say(f"  {target} {state} {status} ({attempts} attempt(s))" + (f": {error}" if error else ""))
    if alert["status"] == "resolved":
        _print_postcrisis(db, alert_id, _sentiment_settings(app))


def _say(line: str) -> None:
    """Print a line of `alerts show`: post texts, authors, URLs, notes and names come from the
    database, so a terminal is shown them, never made to obey them."""
    click.echo(terminal_safe(line))


def _sentiment_settings(app: App):
    """The watchlist's sentiment settings; None when the watchlist cannot be read (showing an
    alert does not need it; a warning line says why)."""
    config = app.config_if_readable()
    return None if config is None else config.sentiment


def _print_postcrisis(db, alert_id: int, sentiment_cfg=None) -> None:
    """The triage area's post-crisis evaluation of a resolved alert."""
    from alerts.postcrisis import BASELINE_DAYS, after_period, evaluate_alert

    figures = evaluate_alert(db, alert_id, sentiment_cfg=sentiment_cfg)
    _say("Post-crisis evaluation:")
    _say(f"  {figures['summary']}")
    _say(f"  mentions counted: {figures['baseline_mentions']} in the {BASELINE_DAYS} days before, "
               f"{figures['alert_mentions']} during, {figures['after_mentions']} {after_period(figures)}"
         + (f" (sentiment by {figures['model_id']})" if figures["model_id"] else ""))


def _lifecycle_step(step, app: App, alert_id: int, *args, **kwargs):
    from alerts.lifecycle import LifecycleError

    app.require_alerts([alert_id])
    try:
        return step(app.db, alert_id, *args, **kwargs)
    except LifecycleError as exc:
        raise UserMistake(str(exc)) from None


@alerts_group.command(name="ack")
@click.argument("alert_id", type=ALERT_ID)
@click.option("--actor", default=None, help="Who acknowledges [default: your login name].")
@click.option("--owner", default=None, help="Who owns the alert from now on [default: the actor].")
@click.option("--note", default=None, help="A note for the timeline.")
@pass_app
def ack(app: App, alert_id: int, actor: str | None, owner: str | None, note: str | None) -> None:
    """Acknowledge an alert: someone is on it."""
    from alerts.lifecycle import acknowledge

    actor = actor_or_login_name(actor)
    owner = person_name(owner, "--owner")
    done = _lifecycle_step(acknowledge, app, alert_id, actor, note=note, owner=owner)
    if not done.changed:
        click.echo(f"Alert #{alert_id} is already acknowledged, owner {terminal_safe(owner or actor)}: nothing changed.")
        return
    click.echo(f"Alert #{alert_id} acknowledged, owner {terminal_safe(owner or actor)}"
               + (f" (taken over from {terminal_safe(done.taken_from)})." if done.taken_from else "."))


@alerts_group.command(name="resolve")
@click.argument("alert_id", type=ALERT_ID)
@click.option("--actor", default=None, help="Who resolves [default: your login name].")
@click.option("--note", default=None, help="A note for the timeline, e.g. what was done.")
@pass_app
def resolve_cmd(app: App, alert_id: int, actor: str | None, note: str | None) -> None:
    """Resolve an alert: the incident is over."""
    from alerts.lifecycle import resolve

    unnamed = _targets_this_shell_cannot_name(app, alert_id)
    if unnamed:
        raise UserMistake(f"notification {terminal_safe(unnamed[0].name)!r} is named (or picks its watches) with "
                          f"${{{unnamed[0].unread_variable()}}}, which this shell does not set: resolve where the "
                          "service's variables are set, so that its 'resolved' message reaches the right target")
    queued = _lifecycle_step(resolve, app, alert_id, actor_or_login_name(actor), note=note,
                             config=app.config)
    click.echo(f"Alert #{alert_id} resolved.")
    if queued:
        from mentionwatch.service_state import live_service

        sender = ("is sent by the running service" if live_service(app.db) is not None
                  else "is queued: no service is running now; the service sends it when it runs")
        click.echo(f"The 'resolved' notification ({queued} target(s)) {sender}, "
                   "or the next 'mentionwatch detect' does (not a replay with --at).")
        _warn_unsendable(app, alert_id, "resolved")
    else:
        click.echo(f"No 'resolved' message: {_why_no_message(app, alert_id, 'resolved')}.")


def _targets_this_shell_cannot_name(app: App, alert_id: int) -> list:
    """The targets that may take this alert's 'resolved' message and whose name or watches read a
    variable this shell lacks: the message is queued by the target's name, which this shell does
    not know (see Notification.unread_variable)."""
    row = app.db.execute("SELECT watch FROM alerts WHERE id = ?", [alert_id]).fetchone() \
        if fits_sqlite(alert_id) else None
    if row is None:  # no such alert: the step says so
        return []
    return [target for target in app.config.notifications
            if target.unread_variable() and "resolved" in target.events
            and (not target.watches or row[0] in target.watches or any("${" in name for name in target.watches))]


def _why_no_message(app: App, alert_id: int, event: str) -> str:
    """Why resolving queued no message: no target takes it, or none of those was told of the alert."""
    from alerts.notify import targets_for

    (watch,) = app.db.execute("SELECT watch FROM alerts WHERE id = ?", [alert_id]).fetchone()
    if targets_for(app.config, watch, event):
        return "no notification target was told about this alert"
    if not app.config.notifications:
        return "the watchlist has no notification targets"
    return (f"no notification target takes '{event}' messages of watch {watch!r} "
            f"(add {event} to a target's events to have one)")


def _warn_unsendable(app: App, alert_id: int, event: str) -> None:
    """Names each target of the alert's queued `event` that cannot send (the problem, never the URL).

    This shell is not the sender: the service (or a `detect` that notifies) sends queued messages,
    with its own environment and files. While the service runs, the problems it recorded at its
    start or reload are what count; else this shell's view is told as this shell's.
    """
    from alerts.notify import event_target_problem_pairs
    from mentionwatch.service_state import live_service

    problems = event_target_problem_pairs(app.db, app.config, alert_id, event)
    service = live_service(app.db) if problems else None
    for name, problem in problems:
        if service is None:
            click.echo(f"Warning: this shell cannot send to notification {name!r} ({problem}); the '{event}' "
                       "message is queued all the same, and the service sends it if it can ('mentionwatch "
                       "status' shows what the service sees).", err=True)
            continue
        prefix = f"notification {name!r}: "
        for seen in service["notification_problems"]:
            if seen.startswith(prefix):  # the running service cannot send it either
                click.echo(f"Warning: the running service cannot send to notification {name!r} "
                           f"({seen.removeprefix(prefix)}): the '{event}' message will fail until this is fixed.",
                           err=True)


class _NoteCommand(click.Command):
    """A note may start with one '-' ("-5% refund offered", "-x"): such a word is the note, not a
    cluster of short options, in which click would take an 'h' for -h and show the help instead
    of storing it. A word starting with '--' stays an option (--actor; a mistyped --actr is
    refused): a note that starts so is written after --."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        options, words = _options_and_words(args)
        if "--" not in args and any(word.startswith("-") for word in words):
            if options[-1:] == ["--actor"]:  # as click says it, not 'No such option' for the note
                raise click.BadOptionUsage("--actor", "Option '--actor' requires an argument.", ctx=ctx)
            args = [*options, "--", *words]  # the words in their order: the alert id, then the note
        return super().parse_args(ctx, args)


def _options_and_words(args: list[str]) -> tuple[list[str], list[str]]:
    """`alerts note`'s options (--actor and its value, --help, -h) and its other words, in order."""
    options, words = [], []
    taking_value = False
    for arg in args:
        if taking_value:
            options.append(arg)  # --actor's value, whatever it starts with
            taking_value = False
        elif arg == "--actor":
            options.append(arg)
            taking_value = True
        elif arg.startswith("--") or arg == "-h":
            options.append(arg)
        else:
            words.append(arg)
    return options, words


@alerts_group.command(name="note", cls=_NoteCommand)
@click.argument("alert_id", type=ALERT_ID)
@click.argument("text")
@click.option("--actor", default=None, help="Who writes the note [default: your login name].")
@pass_app
def note_cmd(app: App, alert_id: int, text: str, actor: str | None) -> None:
    """Add a note to an alert's timeline. A note that starts with '--': write it after --
    (alerts note 12 -- '--see ticket 4411')."""
    from alerts.lifecycle import add_note

    _lifecycle_step(add_note, app, alert_id, actor_or_login_name(actor), text)
    click.echo(f"Note added to alert #{alert_id}.")


_NAB_LABELS_HELP = ("NAB windows JSON ({file: [[start, end], ...]}) "
                    f"[default: {NAB_LABELS} in the shared data folder, as DATA_DIR].")


def _nab_inputs(data_dir: Path | None, labels_path: Path | None) -> tuple[Path, Path]:
    """DATA_DIR and --labels, by default from the shared data folder; both must be there."""
    data_dir = data_dir or shared_data_folder() / NAB_DATA
    labels_path = labels_path or shared_data_folder() / NAB_LABELS
    for path, what in ((data_dir, "data folder"), (labels_path, "labels file")):
        if not path.exists():
            raise UserMistake(f"{path}: no such {what}")
    _check_labels_file(labels_path)
    return data_dir, labels_path


def _check_labels_file(labels_path: Path) -> None:
    """The labels must be a JSON object: said naming the file, which the NAB reader's error does not."""
    try:
        labels = json.loads(labels_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
        raise UserMistake(f"{labels_path}: not a NAB labels file: not JSON ({reason})") from None
    if not isinstance(labels, dict):
        raise UserMistake(f'{labels_path}: not a NAB labels file: expected a JSON object '
                          '{"file.csv": [[start, end], ...]}')


@bench.command(name="nab")
@click.argument("data_dir", type=GivenPath(path_type=Path), required=False)
@click.option("--labels", "labels_path", type=GivenPath(path_type=Path), help=_NAB_LABELS_HELP)
@click.option("--out", "out_dir", type=GivenPath(path_type=Path), default=Path("nab-results"),
              show_default=True, help="Where to write one timestamp,value,anomaly_score CSV per series.")
@click.option("--detail", is_flag=True,
              help="Also list, per series, each window found or missed and each false alarm, with the "
                   "points each adds to the standard profile's raw score.")
def bench_nab(data_dir: Path | None, labels_path: Path | None, out_dir: Path, detail: bool) -> None:
    """Run the spike detector over NAB series and print the NAB score of the three profiles.

    DATA_DIR holds the series [default: nab/realTweets in the shared data folder:
    $MENTIONWATCH_SHARED_DATA, else ../shared/data].
    """
    from alerts.nab import run_benchmark
    from alerts.nab_detector import nab_detector

    data_dir, labels_path = _nab_inputs(data_dir, labels_path)
    try:
        result = run_benchmark(data_dir, labels_path, out_dir, nab_detector)
    except (ValueError, KeyError) as exc:
        raise UserMistake(str(exc).strip("'\"")) from None
    click.echo(f"{'series':45} {'profile':20} {'raw':>7} {'TP':>4} {'FP':>4} {'FN':>4}")
    for f in result.files:
        click.echo(f"{f.name[:45]:45} {f.profile:20} {f.score:7.3f} {f.tp:4d} {f.fp:4d} {f.fn:4d}")
    click.echo(f"NAB score over {len(result.window_counts)} series, {sum(result.window_counts)} windows "
               f"(0 = null detector, 100 = perfect):")
    for profile, score in result.normalized.items():
        click.echo(f"  {profile:20} {score:6.1f}")
    if detail:
        _echo_score_lines([f for f in result.files if f.profile == "standard"])
    click.echo(f"Results written to {out_dir}")


def _echo_score_lines(files) -> None:
    """Where each series' standard score comes from: its windows and its false alarms, in time order."""
    click.echo("Where the standard score comes from (times as in the data files):")
    for scored in files:
        click.echo(f"  {scored.name}")
        for line in scored.lines:
            click.echo(f"    {_score_line_text(line):82} {line.points:+7.3f}")


def _score_line_text(line) -> str:
    def minute(moment):
        return moment.strftime("%Y-%m-%d %H:%M")
    if line.kind == "false alarm":
        return f"false alarm at {minute(line.at)}"
    window = f"window {minute(line.window[0])} to {minute(line.window[1])}"
    if line.kind == "missed":
        return f"{window}: missed"
    hours = (line.at - line.window[0]).total_seconds() / 3600
    return f"{window}: found at {minute(line.at)}, {hours:.1f} h in"


@bench.command(name="nab-grid")
@click.argument("data_dir", type=GivenPath(path_type=Path), required=False)
@click.option("--labels", "labels_path", type=GivenPath(path_type=Path), help=_NAB_LABELS_HELP)
def bench_nab_grid(data_dir: Path | None, labels_path: Path | None) -> None:
    """Score a grid of detector settings on NAB series, and choose among them leave-one-series-out.

    DATA_DIR as for `bench nab`.
    """
    from alerts import nab_grid
    from alerts.nab import labelled_series

    data_dir, labels_path = _nab_inputs(data_dir, labels_path)
    try:
        series = labelled_series(data_dir, labels_path)
    except (ValueError, KeyError) as exc:
        raise UserMistake(str(exc).strip("'\"")) from None
    window_counts = {one.name: len(one.spans) for one in series}
    cells = nab_grid.grid_cells()
    click.echo(f"{len(cells)} settings x {len(series)} series, NAB standard profile (0 = null detector, 100 = perfect):")
    raw = nab_grid.raw_scores(cells, series, progress=lambda cell, scores: click.echo(
        f"  {cell.label:32} {nab_grid.corpus_score(scores, window_counts):6.1f}"))
    best = max(cells, key=lambda cell: sum(raw[cell].values()))
    kept = nab_grid.kept_cell()
    click.echo(f"Kept setting ({kept.label}): {nab_grid.corpus_score(raw[kept], window_counts):.1f}")
    click.echo(f"Best on all series ({best.label}): {nab_grid.corpus_score(raw[best], window_counts):.1f}")
    click.echo("Leave one series out (the best setting on the others, scored on it):")
    folds = nab_grid.leave_one_out(raw)
    for fold in folds:
        chosen = fold.chosen[0].label + (f" and {len(fold.chosen) - 1} tied" if len(fold.chosen) > 1 else "")
        click.echo(f"  {fold.held_out[:40]:40} chosen: {chosen:32} held-out raw {fold.held_out_raw:7.3f}")
    held_out = {fold.held_out: fold.held_out_raw for fold in folds}
    click.echo(f"Held-out score (standard): {nab_grid.corpus_score(held_out, window_counts):.1f}")
