"""Triage commands: export, mark, report, browse, and the export benchmark (`bench export`)."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import click

from mentionwatch.app import App, UserMistake, actor_or_login_name, bench, end_on_broken_pipe, main, pass_app
from mentionwatch.cli_types import ALERT_ID, MENTION_ID, count_at_least
from mentionwatch.triage.export import FORMATS, STREAM_FORMATS, XLSX_MAX_CELL_CHARS
from mentionwatch.triage.query import TRIAGE_STATES
from sentiment.scorer import LABELS

_CHOICE_SENTIMENT = click.Choice([*LABELS, "unscored"], case_sensitive=False)
_CHOICE_STATE = click.Choice([*TRIAGE_STATES, "none"], case_sensitive=False)
_DATE_IN_ZONE = re.compile(r"(?P<date>\d{4}-\d{2}-\d{2})(?:\s+(?P<zone>[A-Za-z][\w/+-]*))?")
_PLACE_AT_END = re.compile(r"\s[A-Za-z][A-Za-z_]*/\S+$")  # '… America/New_York'
STDOUT_NAME = "-"  # `export --out -`: standard output (a file named '-' is --out ./-)


def _bad_option(option: str, problem: str) -> UserMistake:
    """One line naming the option, worded as click words its own checks (exit 2)."""
    return UserMistake(f"Invalid value for {option}: {problem}")


def _time_option(value: str | None, option: str, now: dt.datetime | None = None) -> str | None:
    """A --since/--until value as stored text (7d counted back from `now`, default the current
    time), or a one-line error naming the option."""
    from mentionwatch.triage.query import FilterError, parse_time_limit

    if value is not None and not value.strip():  # `--since "$START"` with START unset: not "no limit"
        raise _bad_option(option, "empty (give a time such as 2015-02-20, 2015-02-20T08:00:00Z or 7d)")
    try:
        return parse_time_limit(value, now=now)
    except FilterError as exc:
        raise _bad_option(option, str(exc)) from None


def _period(since: str | None, until: str | None,
            now: dt.datetime | None = None) -> tuple[str | None, str | None]:
    """--since and --until as stored text; a period the wrong way round is a mistake."""
    since_text, until_text = _time_option(since, "--since", now), _time_option(until, "--until", now)
    if since_text and until_text and since_text >= until_text:
        raise _bad_option("--since", f"{since_text} is not before --until {until_text}"
                          + whole_day_hint(since_text, until))
    return since_text, until_text


def whole_day_hint(since_text: str, until: str) -> str:
    """'--until 2015-02-22' is midnight at the start of that day, and --until is not included:
    when the user probably meant the whole day, name the date that covers it (in the zone the date
    was given in: '--until "2015-02-22 America/New_York"')."""
    written = _DATE_IN_ZONE.fullmatch(until.strip())
    if not written:
        return ""
    day = dt.date.fromisoformat(written["date"])
    if day == dt.date.max:
        return ""
    next_day = day + dt.timedelta(days=1)
    covering = f"{next_day.isoformat()} {written['zone']}" if written["zone"] else next_day.isoformat()
    try:
        next_midnight = _time_option(covering, "--until")
    except UserMistake:
        return ""
    if since_text >= next_midnight:
        return ""
    shown = f"'{covering}'" if written["zone"] else covering
    return (f" (a date means midnight at its start and --until is not included: use --until "
            f"{shown} for the whole of {day.isoformat()})")


def _filters(watches, sources, sentiments, alert_ids, since, until, min_reach, query, unhandled,
             states, limit=None):
    from mentionwatch.triage.query import MentionFilters

    since_text, until_text = _period(since, until)
    return MentionFilters(
        watches=tuple(watches), sources=tuple(sources), sentiments=tuple(sentiments),
        alert_ids=tuple(alert_ids), since=since_text, until=until_text, min_reach=min_reach,
        query=query, unhandled=unhandled, states=tuple(states), limit=limit)


def _require_sources(db, sources) -> None:
    """A --source that is neither a source type nor stored in the database is a typo."""
    from crawler.source_types import SOURCE_TYPES

    stored = {row[0] for row in db.execute("SELECT DISTINCT source FROM mentions")}
    for name in sources:
        if name not in SOURCE_TYPES and name not in stored:
            known = ", ".join(sorted(stored | set(SOURCE_TYPES)))
            raise UserMistake(f"no source named {name!r} among the source types or in the "
                              f"database (known: {known})")


def _checked_query(db, query: str | None) -> str | None:
    """The --query to run, checked before any file is opened; None when not given."""
    from mentionwatch.triage.query import FilterError, fts_query

    if query is None:
        return None
    try:
        return fts_query(db, query)
    except FilterError as exc:
        raise _bad_option("--query", str(exc)) from None


def _export_target(out_text: str) -> Path:
    """--out as a path whose folder exists: a missing folder is more likely a typo than a wish
    for a new tree, so none is created (nor the folder a dangling link points into)."""
    if not out_text.strip():
        raise _bad_option("--out", "the file name is empty")
    out_path = Path(out_text)
    folder = (out_path.resolve() if out_path.is_symlink() else out_path).parent
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise _bad_option("--out", f"folder {str(folder)!r} {problem}")
    return out_path


def _not_the_database(out_path: Path, app: App) -> None:
    """An export written over the database (or its -wal file) would destroy what it exports."""
    from storage.backup import is_one_of_its_files

    if is_one_of_its_files(out_path, Path(app.db_path)):
        raise _bad_option("--out", f"{str(out_path)!r} is the database itself (or one of its files): "
                                   "give the export another name, e.g. mentions.csv")


def _format_for(out_path: Path, fmt: str | None) -> str:
    """--format, else the format the file name asks for: .xlsx, .jsonl, else CSV. The two must
    agree where the name asks for one: CSV text in a .xlsx file is a workbook Excel cannot open.
    .json asks for --format jsonl, and without it is refused: a .json file is expected to hold
    one JSON document and the export writes JSON Lines."""
    suffix = out_path.suffix.lower()
    if suffix == ".json" and fmt is None:
        raise _bad_option("--out", f"{str(out_path)!r}: the JSON export is JSON Lines (one object "
                          f"per line): name the file {out_path.with_suffix('.jsonl').name}, or "
                          "give --format jsonl")
    named = {".csv": "csv", ".json": "jsonl", ".jsonl": "jsonl", ".xlsx": "xlsx"}.get(suffix)
    if fmt is not None and named is not None and fmt != named:
        raise _bad_option("--out", f"{str(out_path)!r} ends in {suffix} but --format is {fmt}: "
                          f"name the file {out_path.with_suffix('.' + fmt).name}, or give --format {named}")
    return fmt or named or "csv"


@main.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS, case_sensitive=False), default=None,
              help="File format [default: from the --out file's extension, else csv]; it must "
                   "agree with a .csv, .jsonl or .xlsx extension.")
@click.option("--out", "out_text", required=True, type=click.Path(dir_okay=False),  # '' refused below, in words
              help="File to write, in a folder that exists; - writes csv or jsonl to standard "
                   "output.")
@click.option("--watch", "watches", multiple=True, help="Only mentions of this watch (repeatable).")
@click.option("--source", "sources", multiple=True, help="Only this source, e.g. reddit (repeatable).")
@click.option("--sentiment", "sentiments", multiple=True, type=_CHOICE_SENTIMENT,
              help="Only this sentiment label (repeatable).")
@click.option("--alert", "alert_ids", multiple=True, type=ALERT_ID,
              help="Only mentions behind this alert id (repeatable).")
@click.option("--since", help="From this time on (UTC): 2015-02-20, 2015-02-20T08:00:00Z, or 7d / "
                              "12h ago.")
@click.option("--until", help="Before this time, not included (same forms as --since; a date is "
                              "midnight at its start, so --until 2015-02-21 ends with 20 February).")
@click.option("--min-reach", type=count_at_least(0), help="Only authors with at least this reach.")
@click.option("--query", help='Full-text search, e.g. "lost bag" OR refund.')
@click.option("--unhandled", is_flag=True, help="Leave out mentions marked handled or ignored.")
@click.option("--state", "states", multiple=True, type=_CHOICE_STATE,
              help="Only this triage state ('none' = never marked; repeatable).")
@click.option("--limit", type=count_at_least(1), help="At most this many rows: the newest ones.")
@pass_app
def export(app: App, fmt, out_text, watches, sources, sentiments, alert_ids, since, until,
           min_reach, query, unhandled, states, limit) -> None:
    """Write mentions, one row each, to a CSV, JSONL or XLSX file for follow-up.

    Each row has the text, link, author, reach, time, source, sentiment label and probabilities,
    the alert ids the mention belongs to and its triage state. Example:

      mentionwatch export --watch acme --sentiment negative --unhandled --out todo.xlsx
    """
    from mentionwatch.triage.export import export_mentions
    from mentionwatch.triage.query import choose_model_id, export_rows
    from mentionwatch.triage.query_syntax import lowercase_operator_hint

    to_stdout = out_text == STDOUT_NAME
    if to_stdout:
        fmt = fmt or "csv"
        if fmt not in STREAM_FORMATS:
            raise _bad_option("--out", f"'-' (standard output) takes --format csv or jsonl, not "
                              f"{fmt}: write a workbook to a file, e.g. --out todo.xlsx")
        out_path = Path(STDOUT_NAME)
    else:
        out_path = _export_target(out_text)
        fmt = _format_for(out_path, fmt)
        _not_the_database(out_path, app)
    filters = _filters(watches, sources, sentiments, alert_ids, since, until, min_reach, query,
                       unhandled, states, limit)
    app.require_watches(watches)
    app.require_alerts(alert_ids)
    db = app.db
    _require_sources(db, sources)
    filters.query = _checked_query(db, query)
    model_id = choose_model_id(db, app.config.sentiment)
    # the configured model is chosen even when nothing is scored yet: then the summary says so
    scored = model_id is not None and db.execute(
        "SELECT 1 FROM scores WHERE model_id = ? LIMIT 1", [model_id]).fetchone() is not None
    if to_stdout:
        rows = _export_to_stdout(export_rows(db, filters, model_id), fmt)
        cut_cells, shown = 0, "standard output"
    else:
        try:
            result = export_mentions(export_rows(db, filters, model_id), out_path, fmt)
        except OSError as exc:
            raise click.ClickException(f"{out_path}: cannot write: {exc.strerror or exc}") from None
        rows, cut_cells, shown = result.rows, result.cut_cells, str(out_path)
    # with --out - the rows are standard output: the summary goes to standard error
    click.echo(f"{shown}: {rows} mention{'s' if rows != 1 else ''} exported "
               f"({fmt}{', sentiment from ' + model_id if scored else ', no sentiment scores'})"
               + _cut_cells_text(cut_cells), err=to_stdout)
    hint = None if rows or not query else lowercase_operator_hint(query)
    if hint:
        click.echo(hint, err=True)


def _export_to_stdout(rows, fmt: str) -> int:
    """Stream the rows to standard output; returns how many. A reader that stops early
    (`| head`) ends the export quietly, as other Unix tools do."""
    import sys

    from mentionwatch.triage.export import export_to_stream

    try:
        sys.stdout.flush()
        return export_to_stream(rows, sys.stdout.buffer, fmt)
    except BrokenPipeError:
        end_on_broken_pipe()
    except OSError as exc:
        raise click.ClickException(f"standard output: cannot write: {exc.strerror or exc}") from None


def _cut_cells_text(cut_cells: int) -> str:
    if not cut_cells:
        return ""
    return (f"; {cut_cells} cell{'s' if cut_cells != 1 else ''} cut to Excel's limit of "
            f"{XLSX_MAX_CELL_CHARS:,} characters (csv or jsonl keep every character)")


@main.command()
@click.argument("mention_ids", nargs=-1, required=True, type=MENTION_ID)
@click.option("--state", required=True, type=click.Choice(TRIAGE_STATES, case_sensitive=False),
              help="flagged = needs follow-up; handled = done; ignored = not relevant.")
@click.option("--note", help="Short note stored with the mark (what was done, ticket number...).")
@click.option("--by", "--actor", "actor", help="Who marks it [default: your login name].")
@pass_app
def mark(app: App, mention_ids, state, note, actor) -> None:
    """Mark mentions as flagged, handled or ignored. Example:

      mentionwatch mark 1812 1907 --state handled --by dana --note "replied by DM"
    """
    from mentionwatch.triage.marks import UnknownMentions, mark_mentions

    try:
        count = mark_mentions(app.db, mention_ids, state, actor=actor_or_login_name(actor), note=note)
    except UnknownMentions as exc:
        raise UserMistake(f"{exc}; nothing was marked") from None
    click.echo(f"{count} mention{'s' if count != 1 else ''} marked {state}")


@main.command()
@click.option("--watch", "watches", multiple=True, help="Watch to report on (repeatable) [default: all].")
@click.option("--since", help="Start of the period: 2015-02-16, 2015-02-16T08:00:00Z or 7d (back "
                              "from now). A date or time without a zone is read in the report's "
                              "time zone (a date is midnight there); one with a zone or offset, as "
                              "typed [default: 7 days before --until].")
@click.option("--until", help="End of the period, not included (same forms; a date is midnight at "
                              "its start) [default: the newest mention of the watches reported, "
                              "included (of any watch when they have none yet); now after --since "
                              "7d, or when nothing came since].")
@click.option("--timezone", "zone_text", metavar="ZONE",
              help="Time zone of the charts' hours and days and of every time shown, such as "
                   "America/New_York or Asia/Shanghai [default: the alerts.timezone of the "
                   "watches reported when they share one, else UTC].")
@click.option("--out", "out_text", required=True, type=click.Path(file_okay=False),  # '' refused below, in words
              help="Folder for report.html and the PNG charts.")
@pass_app
def report(app: App, watches, since, until, zone_text, out_text) -> None:
    """Write PNG charts and one self-contained HTML page (report.html). Example:

      mentionwatch report --watch acme --since 14d --out reports/acme
    """
    from mentionwatch.triage.charts import ChartError
    from mentionwatch.triage.report import ReportError, build_report

    from storage.timeutil import to_iso

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)  # 7d is 7 days up to this now
    zone = _report_zone(app, zone_text, list(watches))
    since_text, until_text = _period_in_zone(since, until, zone, now)
    out_dir = _report_folder(out_text)
    configured = [watch.name for watch in app.config.watches]
    try:
        result = build_report(app.db, out_dir, watches=list(watches) or None, since=since_text,
                              until=until_text, sentiment_cfg=app.config.sentiment,
                              configured=configured, since_from_now=_counts_back(since),
                              now=to_iso(now), timezone=zone)
    except ReportError as exc:
        raise UserMistake(str(exc)) from None
    except ChartError as exc:
        raise click.ClickException(f"{out_dir}: {exc} (report.html was not written)") from None
    except OSError as exc:
        raise click.ClickException(f"{out_dir}: cannot write: {exc.strerror or exc}") from None
    click.echo(f"{result.html_path}: {len(result.sections)} watch"
               f"{'es' if len(result.sections) != 1 else ''}, {len(result.charts)} charts, "
               f"{result.period_text}" + ("" if zone == "UTC" else f", times in {zone}"))
    for section in result.sections:
        click.echo(f"  {section.watch}: {_section_line(section)}")
    if result.newest and len(result.sections) > 1 and any(
            s.newest_long_before and s.mentions for s in result.sections):
        click.echo("  (the period ends with the newest mention of all these watches: for a watch "
                   "whose mentions end long before, give --until, or report it alone with --watch)")


def _report_zone(app: App, zone_text: str | None, watches: list[str]) -> str:
    """--timezone, checked as the watchlist's alerts.timezone is; else the zone the watches
    reported share, or UTC (said on stderr) when their zones differ."""
    from mentionwatch.config import time_zone_name
    from mentionwatch.triage.report import watch_zones

    if zone_text is not None:
        try:
            return time_zone_name(zone_text)
        except ValueError as exc:
            raise _bad_option("--timezone", str(exc)) from None
    zones = watch_zones(app.db, app.config, watches)
    shared = set(zones.values()) or {app.config.alerts.timezone}
    if len(shared) == 1:
        return shared.pop()
    click.echo(f"Times in UTC: the watches reported have different time zones "
               f"({', '.join(sorted(shared))}); give --timezone for another.", err=True)
    return "UTC"


def _period_in_zone(since: str | None, until: str | None, zone: str,
                    now: dt.datetime) -> tuple[str | None, str | None]:
    """--since and --until as stored text, a date or time without a zone read in `zone`. A
    mistake is worded with the values as typed and, where the zone was added, says so."""
    if zone == "UTC":
        return _period(since, until, now)
    since_text = _time_in_zone(since, "--since", zone, now)
    until_text = _time_in_zone(until, "--until", zone, now)
    if since_text and until_text and since_text >= until_text:
        hint = re.sub(rf"'(\S+) {re.escape(zone)}'", r"\1", whole_day_hint(since_text, _in_zone(until, zone)))
        raise _bad_option("--since", f"{since.strip()} is not before --until {until.strip()}"
                          f"{_read_in(zone, since, until)}{hint}")
    return since_text, until_text


def _time_in_zone(value: str | None, option: str, zone: str, now: dt.datetime) -> str | None:
    """One of --since/--until read in `zone` (see _in_zone); an error quotes it as typed, and names
    the zone when it is the zone that makes it wrong (a time the clocks skipped there)."""
    zoned = _in_zone(value, zone)
    try:
        return _time_option(zoned, option, now)
    except UserMistake as exc:
        if zoned == value:
            raise
        in_utc = _time_option(value, option, now)  # no time in any zone ('someday'): that error, as typed
        if in_utc < "0001-01-03":  # '0001-01-01' east of UTC is before year 1 there; no post is dated so
            return in_utc
        typed = str(exc).replace(f"'{zoned}'", f"'{value.strip()}'")
        raise UserMistake(typed.replace(f"'{value.strip()}'", f"'{value.strip()}' (read in {zone})", 1)) from None


def _read_in(zone: str, *values: str | None) -> str:
    """' (read in ZONE)' when the zone was added to any of `values`, else ''."""
    return f" (read in {zone})" if any(_in_zone(value, zone) != value for value in values) else ""


def _in_zone(value: str | None, zone: str) -> str | None:
    """'2026-03-08' (or 20260308) -> '2026-03-08 America/New_York' (local midnight); a time that names
    its zone or offset, Unix seconds and 7d are left as typed."""
    from storage.timeutil import carries_zone, is_compact_date

    if value is None or not value.strip() or zone == "UTC" or _counts_back(value):
        return value
    text = value.strip()
    if is_compact_date(text):
        return f"{text} {zone}"
    if text.lstrip("-").replace(".", "", 1).isdigit() or carries_zone(text) or _PLACE_AT_END.search(text):
        return value
    return f"{text} {zone}"


def _counts_back(since: str | None) -> bool:
    """Whether --since is counted back from now (7d, 12h): the period then ends now."""
    from mentionwatch.triage.query import _RELATIVE_TIME

    return since is not None and bool(_RELATIVE_TIME.match(since))


def _report_folder(out_text: str) -> Path:
    """--out for the report: a folder, created with the folders above it when missing, but not
    through a link that points nowhere (mkdir would say only 'File exists') nor under a file; an
    empty name is refused rather than read as the current folder."""
    if not out_text.strip():
        raise _bad_option("--out", "the folder name is empty")
    out_dir = Path(out_text)
    for folder in (out_dir, *out_dir.parents):
        if folder.is_symlink() and not folder.exists():
            raise _bad_option("--out", f"{str(folder)!r} is a link to {str(folder.resolve())!r}, "
                              "which does not exist")
        if folder.exists():
            if not folder.is_dir():
                raise _bad_option("--out", f"{str(folder)!r} is not a folder")
            break
    return out_dir


def _section_line(section) -> str:
    """'risk 12 (low), 1 alert', 'no baseline yet, 0 alerts' or 'not scored yet, 0 alerts;
    5,040 of 5,040 mentions not scored yet: run mentionwatch score'; '; its newest mention is
    2017-09-27T23:33:24Z' added for a watch whose mentions end long before the period does."""
    risk = section.risk
    risk_text = f"risk {risk.score:.0f} ({risk.level})" if risk.has_score else risk.level
    alerts = f"{len(section.alerts)} alert{'s' if len(section.alerts) != 1 else ''}"
    quiet = f"; {section.quiet_text()}" if section.newest_long_before else ""
    if not section.mentions:
        return f"{risk_text}, {alerts}; no mentions in the period{quiet}"
    unscored = section.unscored_text() or risk.unscored_text()
    return f"{risk_text}, {alerts}" + (f"; {unscored}" if unscored else "") + quiet


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 exposes the view to your whole network.")
@click.option("--port", default=8015, show_default=True, type=click.IntRange(1, 65535))
@click.option("--immutable", is_flag=True,
              help="The file will not change (an archived copy): faster, counts cached.")
@pass_app
def browse(app: App, host: str, port: int, immutable: bool) -> None:
    """Serve a read-only web view of the database (Datasette): alerts, their mentions, search.

      mentionwatch browse            # then open http://127.0.0.1:8015
    """
    from mentionwatch.triage.browse import ListenError, listen, serve
    from mentionwatch.triage.query import choose_model_id

    if not host.strip():  # an empty address binds every interface: `--host "$HOST"` with HOST unset
        raise _bad_option("--host", "empty (127.0.0.1 serves this computer only; 0.0.0.0, written out, "
                          "your whole network)")
    db = app.db  # brings the schema up to date (where it can be written) before the view opens it
    model_id = choose_model_id(db, app.config.sentiment)
    immutable = _immutable_view(db, Path(app.db_path), immutable, live=_is_live_database(app, db))
    db.close()
    try:
        sock = listen(host, port)
    except ListenError as exc:
        raise UserMistake(str(exc)) from None
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"Serving {app.db_path} read-only at http://{shown_host}:{port}/ (Ctrl+C stops)",
               err=True)
    try:
        serve(Path(app.db_path), model_id, sock, immutable=immutable)
    except KeyboardInterrupt:  # Ctrl+C: the server has shut down; that is how it is stopped
        pass
    click.echo("stopped", err=True)


def _is_live_database(app: App, db) -> bool:
    """Whether the database is one that changes: the watchlist's own, or one a service runs on
    (not a backup or an archived copy named with --db)."""
    from mentionwatch.config import ConfigError
    from mentionwatch.service_state import live_service

    if live_service(db) is not None or not app.db_path_given:
        return True
    try:
        watchlists = app.config.database if app.has_config_file else None
    except ConfigError:
        return False
    return watchlists is not None and Path(watchlists).resolve() == Path(app.db_path).resolve()


def _immutable_view(db, db_path: Path, asked: bool, live: bool = False) -> bool:
    """Whether the view opens the file immutable: when asked (what waits in the WAL is first written
    into the file: immutable readers never look at it), and where only that could read it (a
    WAL-mode database on read-only storage). Asked for a read-only file with changes in its WAL,
    which cannot be written into it: refused, the view would miss them."""
    from storage.db import unsaved_changes_beside

    if db.access == "immutable":
        return True
    if asked and db.access == "read-write":
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if live:
            click.echo(f"Warning: --immutable: this view will not show what changes in {db_path} while "
                       "it runs (new mentions, alerts, erasures: an erased post stays visible here until "
                       "the view is restarted); it is meant for an archived copy", err=True)
    elif asked and unsaved_changes_beside(db_path):
        raise UserMistake(f"--immutable would not show the changes in {unsaved_changes_beside(db_path)}, "
                          f"which cannot be written into the read-only {db_path}: browse without --immutable")
    return asked


@bench.command(name="export")
@click.option("--count", default=1_000_000, show_default=True, type=click.IntRange(1000, 20_000_000),
              help="Synthetic mentions to store and export.")
@click.option("--format", "formats", multiple=True, default=("csv", "jsonl", "xlsx"),
              show_default=True, type=click.Choice(FORMATS, case_sensitive=False))
@click.option("--reference/--no-reference", default=True, show_default=True,
              help="Also load every row with fetchall(), to compare memory with streaming.")
@click.option("--seed", default=7, show_default=True, type=click.IntRange(0, 2**32 - 1))
def bench_export(count: int, formats, reference: bool, seed: int) -> None:
    """Export rows/s and peak RSS on COUNT stored synthetic mentions (each export in its own process)."""
    import shutil
    import tempfile

    from mentionwatch.triage.bench import export_once, fill_database, in_child

    workdir = Path(tempfile.mkdtemp(prefix="mentionwatch-bench-export-"))
    try:
        db_path = workdir / "bench.db"
        filled = in_child(fill_database, str(db_path), count, seed)
        click.echo(f"stored {count:,} synthetic mentions with scores in {filled['seconds']:.0f} s "
                   f"(database {db_path.stat().st_size / 2**20:,.0f} MiB)")
        runs = list(formats) + (["fetchall"] if reference else [])
        for fmt in runs:
            figures = in_child(export_once, str(db_path), str(workdir / f"out.{fmt}"), fmt)
            (workdir / f"out.{fmt}").unlink(missing_ok=True)
            label = "fetchall (reference)" if fmt == "fetchall" else f"export {fmt}"
            file_part = f", file {figures['file_mib']:,.0f} MiB" if fmt != "fetchall" else ""
            click.echo(f"{label:22} {figures['rows']:>10,} rows in {figures['seconds']:6.1f} s = "
                       f"{figures['rows'] / figures['seconds']:>9,.0f} rows/s; peak RSS "
                       f"{figures['peak_rss_mib']:,.0f} MiB (after start-up "
                       f"{figures['rss_before_mib']:,.0f} MiB){file_part}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
