"""Service commands: `run` (the background service), `status` (its health) and `bench pipeline`."""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sqlite3
from pathlib import Path

import click

from mentionwatch.app import App, UserMistake, bench, describe_os_error, main, pass_app
from mentionwatch.cli_types import GivenPath
from mentionwatch.config import (DEFAULT_DB_NAME, Config, ConfigError, load_config, parse_duration,
                                 unset_database_variable)
from mentionwatch.terminal import cut_at_word, terminal_safe
from mentionwatch.text_table import table_lines
from storage.timeutil import from_iso


def _duration(_ctx, _param, value):
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command()
@click.option("--log-format", type=click.Choice(["text", "json"], case_sensitive=False), default="text", show_default=True,
              help="json: one JSON object per line, for log shippers.")
@click.option("--reload-check", default="10s", show_default=True, callback=_duration,
              help="How often the watchlist file is checked for changes (SIGHUP reloads at once).")
@click.option("--stop-timeout", default="10s", show_default=True, callback=_duration,
              help="How long SIGTERM/Ctrl-C waits for running jobs to finish.")
@click.option("--log-file", type=GivenPath(path_type=Path, dir_okay=False), default=None,
              help="Write the log to this file instead of stderr. It never grows past 10 MB: it is "
                   "then renamed FILE.1 (FILE.2 ... FILE.5 the older ones; older still are deleted).")
@click.pass_context
def run(ctx: click.Context, log_format: str, reload_check: float, stop_timeout: float,
        log_file: Path | None) -> None:
    """Run the monitor: collect, score, detect and notify on schedule until stopped.

    Stop it with Ctrl-C or SIGTERM (running jobs finish first). Edit the watchlist while it runs:
    the change is picked up within --reload-check, or at once with `kill -HUP <pid>`.
    """
    from mentionwatch.logging_setup import configure_logging
    from scheduler import Service, ServiceAlreadyRunning
    from storage.db import database_problem

    app: App = ctx.obj
    verbose = ctx.parent.params.get("verbose", 0) if ctx.parent else 0
    app.require_config_file()
    app.config  # a bad watchlist stops here: one line, exit 2
    # notification URLs are hidden from the log once read: the service reads them as it starts
    try:
        configure_logging(log_format, logging.DEBUG if verbose else logging.INFO, log_file=log_file)
    except OSError as exc:
        raise _log_file_problem(log_file, exc) from None
    if log_file is not None:  # else the terminal stays blank, as if it hung
        click.echo(f"mentionwatch run: logging to {log_file} ('mentionwatch status' shows how it is doing)",
                   err=True)
    try:
        service = Service(app.config_path, app.db_path, reload_check=reload_check,
                          stop_timeout=stop_timeout)
        code = service.run()
    except sqlite3.DatabaseError as exc:  # no retry here: the process ends
        _cannot_start(f"{database_problem(exc)} ({Path(app.db_path).resolve()})", log_file)
    except ServiceAlreadyRunning as exc:
        _cannot_start(str(exc), log_file)
    except OSError as exc:  # the database's folder cannot be made, or another file-system error
        _cannot_start(_start_problem(exc, Path(app.db_path)), log_file)
    raise SystemExit(code)


def _start_problem(error: OSError, db_path: Path) -> str:
    """The reason for an OSError while the service starts: about the database when it names the
    database, a folder above it or one of its files (-wal, -shm, -journal), else as it is."""
    if not isinstance(error.filename, (str, bytes)):  # none, or a file descriptor's number
        return describe_os_error(error)
    named = Path(os.fsdecode(error.filename)).absolute()
    database = db_path.absolute()
    if named in database.parents or (named.name.startswith(database.name) and named.parent == database.parent):
        return f"cannot create the database {db_path}: {describe_os_error(error)}"
    return describe_os_error(error)


def _cannot_start(reason: str, log_file: Path | None) -> None:
    """Log why the service cannot start and end with exit code 1; with --log-file the terminal is
    told too, or it would read only 'logging to …', as if the service ran."""
    from mentionwatch.logging_setup import redact

    logging.getLogger("mentionwatch.service").error("cannot start: %s", reason)
    if log_file is not None:  # hidden as the log hides it (a path may hold a ${VAR}'s value)
        click.echo(f"mentionwatch run: cannot start: {redact(reason)} (see {log_file})", err=True)
    raise SystemExit(1)


def _log_file_problem(log_file: Path, error: OSError) -> click.ClickException:
    """A log file path that names a missing folder or a folder is a mistake in the command (exit 2);
    one that cannot be written (permissions, a full disk) is not (exit 1)."""
    reason = f"cannot write the log file {log_file}: {error.strerror or error}"
    if isinstance(error, (FileNotFoundError, NotADirectoryError)):
        return UserMistake(f"{reason} (the folder {_shown_folder(log_file)} does not exist)")
    if isinstance(error, IsADirectoryError):
        return UserMistake(f"{reason} (give a file name in that folder)")
    return click.ClickException(reason)


def _shown_folder(log_file: Path) -> Path:
    """The folder the log file would go in; for a link, the folder it points into."""
    return log_file.resolve().parent if log_file.is_symlink() else log_file.parent


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_app
def status(app: App, as_json: bool) -> None:
    """Health of the monitor: the service, each job's last and next run, sources, backlog, alerts."""
    from mentionwatch.service_state import health_report

    config, own_problem = _watchlist_for_status(app)
    report = health_report(app.db, _model_id(config))
    service = report["service"]
    report["watchlist_problem"] = own_problem or (service["watchlist_problem"] if service["alive"] else None)
    if config is not None and app.has_config_file:
        _mark_sources_in_watchlist(report["sources"], config)
    report["notification_problems"] = _notification_problems(app, config, service)
    _add_acknowledgements(app.db, report["open_alerts"])
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(format_report(report))


def _watchlist_for_status(app: App) -> tuple[Config | None, str | None]:
    """The watchlist as far as status can read it, and its mistake (one line) if it has one: the
    health report is shown all the same. A ${VAR} set for the service but not in this shell is no
    mistake here (it stays as written)."""
    if not app.has_config_file:
        if app.config_path_given and app.db_path_given:  # deleted under a running service: --db finds the database
            return None, f"{app.config_path}: no such file"
        return app.config, None  # an empty watchlist, or the 'no such file' mistake for a named one
    unset = None if app.db_path_given else unset_database_variable(app.config_path)
    if unset:  # the database itself cannot be found without it
        raise UserMistake(f"{app.config_path}: database: environment variable {unset} is not set in this shell "
                          "(status needs it to find the database; or give --db)")
    try:
        config = load_config(app.config_path, keep_unset_env=True)
    except ConfigError as exc:
        if not app.db_path_given:
            app.db_path = _database_named_in(app.config_path)
        return None, str(exc)
    app.config = config
    return config, None


def _database_line(config_path: Path) -> str:
    """The value of the watchlist's top-level `database:` line as written ('' when none). A file
    that is not UTF-8 elsewhere (a Latin-1 'Café') still names its database."""
    try:
        text = config_path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return ""
    match = re.search(r"^database:[ \t]*(['\"]?)([^'\"#\n]*?)\1[ \t]*(#.*)?$", text, re.MULTILINE)
    return match.group(2).strip() if match else ""


def _database_named_in(config_path: Path) -> Path:
    """The database of a watchlist that has a mistake: its top-level `database:` line when one is
    there (its ${VAR}s read from this shell: _watchlist_for_status refused one that is unset), else
    the default beside the file, as a valid watchlist would give."""
    name = re.sub(r"\$\{(\w+)\}", lambda match: os.environ.get(match.group(1), match.group(0)),
                  _database_line(config_path))
    path = Path(name if name and "${" not in name else DEFAULT_DB_NAME)
    return path if path.is_absolute() else config_path.resolve().parent / path


def _model_id(config: Config | None) -> str | None:
    """The watchlist's model, whose backlog is shown; None shows the backlog without a model."""
    from sentiment.scorer import configured_model_id

    return None if config is None else configured_model_id(config.sentiment)


def _notification_problems(app: App, config: Config | None, service: dict) -> list[str]:
    """Targets that cannot send: as the running service sees them (its environment has the
    secrets), else as this shell does."""
    if service["alive"]:
        return service["notification_problems"]
    if config is None or not app.has_config_file:
        return []
    from alerts.notify import target_problems

    return target_problems(config)


def _add_acknowledgements(db, alerts: list[dict]) -> None:
    """When each acknowledged alert was first acknowledged, and its owner: the column, else (a
    database that never filled it) the first 'acknowledged' entry of its timeline."""
    if not alerts:
        return
    found = {alert_id: (acknowledged_at, owner) for alert_id, acknowledged_at, owner in db.execute(
        "SELECT id, coalesce(acknowledged_at, (SELECT min(at) FROM alert_events e WHERE e.alert_id = a.id "
        "AND e.kind = 'acknowledged')), owner FROM alerts a WHERE id IN (SELECT value FROM json_each(?))",
        [json.dumps([alert["id"] for alert in alerts])])}
    for alert in alerts:
        alert["acknowledged_at"], alert["owner"] = found.get(alert["id"], (None, None))


def _mark_sources_in_watchlist(sources: list[dict], config) -> None:
    """Crawl runs outlive the sources that made them: one removed from the watchlist (or disabled)
    is marked, so its old error is not taken for a live failure."""
    from crawler.source_types import settings_key, source_label

    current = {(watch.name, source_label(watch, source)) for watch in config.watches
               for source in watch.sources if source.enabled}
    split_types = {(watch.name, source.type) for watch in config.watches for source in watch.sources
                   if source_label(watch, source) != source.type}
    # the key a watch's only source of its type had while it had two (`rss#<key>`)
    keyed_before = {(watch.name, f"{source.type}#{settings_key(source)}") for watch in config.watches
                    for source in watch.sources if source.enabled and source_label(watch, source) == source.type}
    for entry in sources:
        entry["in_watchlist"] = (entry["watch"], entry["source"]) in current
        # A watch's only rss source is labelled `rss`; once a second one is added both become
        # `rss#<key>`, and the runs made before keep the bare label; once one of the two is
        # removed, the other's runs of that time keep the keyed one.
        entry["renamed_since"] = (not entry["in_watchlist"]
                                  and (entry["watch"], entry["source"]) in split_types)
        entry["single_since"] = not entry["in_watchlist"] and (entry["watch"], entry["source"]) in keyed_before


def _source_name(src: dict) -> str:
    """A source's name in the status table, saying why its runs no longer match the watchlist."""
    if src.get("renamed_since"):
        return f"{src['source']} (runs from before a second {src['source']} source was added)"
    if src.get("single_since"):
        kind = src["source"].partition("#")[0]
        return f"{src['source']} (runs of the {kind} source from when the watch had two {kind} sources)"
    if not src.get("in_watchlist", True):
        return f"{src['source']} (not in the watchlist)"
    return src["source"]


def format_report(report: dict) -> str:
    """The status report as plain text for a terminal."""
    now = from_iso(report["checked_at"])
    lines = [_service_line(report["service"], now)]
    lines += _watchlist_lines(report.get("watchlist_problem"), report["service"])
    lines += ["", "Jobs:"]
    if not report["jobs"]:
        lines.append("  (none recorded: the service has not run on this database)")
    job_rows = [("job", "last run", "result", "next run", "note")]
    service_up = report["service"]["state"] in ("running", "starting")
    for job in report["jobs"]:
        next_run = _next_run(job, now) if service_up else "- (service not running)"
        job_rows.append((job["job_id"], _when(job["last_run_at"], now), job["last_status"] or "-",
                         next_run, _job_note(job, now)))
    if report["jobs"]:
        lines += table_lines(job_rows, indent="  ")
    lines += ["", "Sources:"]
    if not report["sources"]:
        lines.append("  (no crawl recorded yet)")
    else:
        source_rows = [("watch", "source", "last success", "last error")]
        for src in report["sources"]:
            error = "-"
            if src["last_error"]:
                error = f"{_when(src['last_error_at'], now)}: {_shortened(src['last_error'])}"
            name = _source_name(src)
            source_rows.append((src["watch"], name, _when(src["last_success_at"], now), error))
        lines += table_lines(source_rows, indent="  ")
    backlog = report["backlog"]
    lines.append("")
    if backlog["unscored"] is None:
        lines.append(f"Backlog: {backlog['mentions']} mentions stored (sentiment model unknown)")
    else:
        lines.append(f"Backlog: {backlog['unscored']} of {backlog['mentions']} mentions not yet scored "
                     f"by {backlog['model_id']}")
    alerts = report["open_alerts"]
    lines += _undelivered_lines(report.get("undelivered_notifications", []), now)
    for problem in report.get("notification_problems", []):
        lines.append(f"Cannot send: {problem}")
    acknowledged = sum(alert["status"] == "acknowledged" for alert in alerts)
    lines.append(f"Alerts: {len(alerts) - acknowledged} open, {acknowledged} acknowledged")
    for alert in alerts[:20]:
        where = terminal_safe(f"{alert['watch']}/{alert['source']}" if alert["source"] else alert["watch"])
        lines.append(f"  #{alert['id']} {where} {alert['severity']} {_alert_state(alert)} ({alert['rule']})")
    # every line holds text from outside (a server's error, a name typed by someone): a control or
    # bidi character in it must not change the terminal or reorder the line
    return "\n".join(terminal_safe(line) for line in lines)


def _alert_state(alert: dict) -> str:
    """'open since <opened>', or for an acknowledged alert when that was and its owner (its opening
    may be long before: replayed history)."""
    if alert["status"] != "acknowledged":
        return f"{alert['status']} since {alert['opened_at']}"
    state = "acknowledged"
    if alert.get("acknowledged_at"):
        state += f" {alert['acknowledged_at']}"
    if alert.get("owner"):
        state += f", owner {terminal_safe(alert['owner'])}"  # a bidi override would reorder the line
    return f"{state}, opened {alert['opened_at']}"


def _watchlist_lines(problem: str | None, service: dict) -> list[str]:
    if not problem:
        return []
    consequence = ("the service keeps running with the previous watchlist until this is fixed"
                   if service.get("alive") else "'mentionwatch run' will not start until this is fixed")
    return [f"Watchlist: {problem}", f"  {consequence}"]


def _undelivered_lines(notifications: list[dict], now: dt.datetime) -> list[str]:
    """Alerts the team has not been told about yet: each notification waiting, retrying or given up,
    and those that may not have reached it (unconfirmed)."""
    from mentionwatch.service_state import UNCONFIRMED_TEXT

    if not notifications:
        return []
    lines = [f"Notifications not delivered: {len(notifications)}"]
    for item in notifications[:20]:
        what = f"  alert #{item['alert_id']} to {item['target']} ({item['state']}): "
        if item.get("unconfirmed"):
            lines.append(what + f"{UNCONFIRMED_TEXT} (sent {_when(item['sent_at'], now)})")
            continue
        if item["given_up"]:
            what += f"given up after {item['attempts']} attempts"
        elif item["attempts"]:
            what += (f"{item['attempts']} failed attempt(s), next try "
                     f"{_when(item['next_attempt_at'], now)}")
        else:
            what += f"waiting for its first try since {_when(item['created_at'], now)}"
        if item["last_error"]:
            what += f"; last error: {_shortened(item['last_error'])}"
        lines.append(what)
    return lines


def _service_line(service: dict, now: dt.datetime) -> str:
    if service["state"] == "never started":
        return "Service: never started on this database (start it with 'mentionwatch run')"
    return (f"Service: {service['state']} (pid {service['pid']} on {service['host']}, "
            f"started {_when(service['started_at'], now)}, heartbeat {_when(service['heartbeat_at'], now)})")


def _next_run(job: dict, now: dt.datetime) -> str:
    """When the job runs next. A run still going past its next time makes the scheduler skip that
    time (one run of a job at a time, `max_instances=1`) and take the first one after the run: the
    time gone is not shown as if the service were late."""
    stamp = job["next_run_at"]
    if job["last_status"] == "running" and stamp and from_iso(stamp) <= now:
        return "after this run ends"
    return _when(stamp, now)


def _job_note(job: dict, now: dt.datetime) -> str:
    parts = []
    if job["failures"]:
        # once the wait is over (the job runs again), only the failures so far are worth telling
        waiting = job["backoff_until"] and from_iso(job["backoff_until"]) > now
        parts.append(f"{job['failures']} failure(s) in a row"
                     + (f", backing off until {job['backoff_until']}" if waiting else ""))
    detail = job["last_detail"]
    if detail:
        try:
            detail = json.loads(detail)
        except ValueError:
            detail = {"detail": detail}
        if isinstance(detail, dict):
            if detail.get("error"):
                parts.append(_shortened(str(detail["error"])))
            elif isinstance(detail.get("detail"), str):  # a plain line: 'the service stopped during this run'
                parts.append(_shortened(detail["detail"]))
            elif detail.get("errors"):
                parts.append(_shortened(str(detail["errors"][0])))
            elif isinstance(detail.get("reason"), str):  # a skipped run: why
                parts.append(_shortened(detail["reason"]))
            else:
                numbers = [f"{k} {v}" for k, v in detail.items()
                           if isinstance(v, int) and not isinstance(v, bool) and k != "crawl_run"]
                parts.append(", ".join(numbers))
    return "; ".join(p for p in parts if p)


def _when(stamp: str | None, now: dt.datetime) -> str:
    if not stamp:
        return "-"
    seconds = (from_iso(stamp) - now).total_seconds()
    return f"{stamp} ({_relative(seconds)})"


def _relative(seconds: float) -> str:
    amount = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if amount >= size:
            text = f"{amount / size:.0f}{unit}"
            break
    else:
        text = f"{amount:.0f}s"
    return f"in {text}" if seconds > 0 else f"{text} ago"


@bench.command(name="pipeline")
@click.option("--mentions", "stream_size", default=2000, show_default=True,
              help="Size of the synthetic stream pushed through collect, store, score and detect.")
@click.option("--poll-interval", default="10s", show_default=True, callback=_duration,
              help="Poll interval of the local source in the latency run.")
@click.option("--burst", default=12, show_default=True, help="Negative posts in the scripted burst.")
def bench_pipeline(stream_size: int, poll_interval: float, burst: int) -> None:
    """Latency from a post appearing at a local source to its alert, and mentions/s end to end.

    Everything runs on 127.0.0.1 in a temporary folder: a local Hacker News-style API, the real
    collector, the real sentiment model, the real detector and the real service scheduler.
    """
    from mentionwatch.pipeline_bench import run_pipeline_bench

    for line in run_pipeline_bench(stream_size=stream_size, poll_interval=poll_interval, burst=burst):
        click.echo(line)


def _shortened(text: str, limit: int = 120) -> str:
    """An error line cut to fit a table row, at a word and with '…' so it does not look broken
    (`status --json` has the whole line)."""
    if len(text) <= limit:
        return text
    return cut_at_word(text, limit - 1) + "…"
