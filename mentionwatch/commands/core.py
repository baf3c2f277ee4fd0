"""Foundation commands: init, import, search, stats, and the ingest benchmark."""
from __future__ import annotations

import json
import re
import shutil
import sqlite3
import tempfile
import time
from importlib import resources
from pathlib import Path

import click

from mentionwatch.app import App, UserMistake, bench, main, pass_app
from mentionwatch.importer import (
    DEFAULT_ENCODING, ColumnMap, ImportFileError, RowProblem, check_encoding, read_mentions,
)

REJECTED_ROWS_EXIT = 3
MAX_SOURCE_CHARS = 100  # as storage accepts
SHOWN_PROBLEMS = 20


@main.command()
@click.option("--force", is_flag=True, help="Overwrite an existing watchlist file.")
@pass_app
def init(app: App, force: bool) -> None:
    """Write a commented starter watchlist (mentionwatch.yaml) and create the database."""
    target = app.config_path
    if target.exists() and not force:
        click.echo(f"{target} already exists; keeping it (use --force to overwrite).")
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(resources.files("mentionwatch").joinpath("starter.yaml").read_text("utf-8"),
                          encoding="utf-8")
        click.echo(f"Wrote {target}: edit its watches, sources and notifications.")
    app.db  # creates the database file and its tables
    click.echo(f"Database ready at {app.db_path}")


@main.command(name="import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--source", default="import", show_default=True, help="Source name stored with each mention.")
@click.option("--watch", "watches", multiple=True, help="Watch the mentions belong to (repeatable).")
@click.option("--id-col", default="id", show_default=True)
@click.option("--text-col", default="text", show_default=True)
@click.option("--time-col", default="created_at", show_default=True)
@click.option("--author-col", default="author", show_default=True)
@click.option("--url-col", default="url", show_default=True)
@click.option("--lang-col", default="lang", show_default=True)
@click.option("--reach-col", default="author_reach", show_default=True,
              help="Column with the author's followers/reach.")
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--encoding", default=DEFAULT_ENCODING, show_default=True,
              help="Text encoding of FILE, e.g. cp1252 for a CSV saved by Excel on Windows.")
@pass_app
def import_(app: App, file: Path, source: str, watches: tuple[str, ...], id_col: str, text_col: str,
            time_col: str, author_col: str, url_col: str, lang_col: str, reach_col: str,
            batch_size: int, encoding: str) -> None:
    """Import mentions from a CSV, TSV or JSONL FILE (columns id,text,created_at[,author,url,lang]).

    Rows already stored are counted, not duplicated; broken rows are listed with their line and
    skipped. Exit code 3 when some rows were rejected, 2 when the file cannot be used at all.
    """
    from storage import save_mentions

    source = _import_source(source)
    _check_import_watches(watches)
    try:
        encoding = check_encoding(encoding)
    except ValueError as exc:
        raise UserMistake(f"--encoding: {exc}") from None
    columns = ColumnMap(id=id_col, text=text_col, created_at=time_col, author=author_col,
                        url=url_col, lang=lang_col, reach=reach_col)
    problems: list[RowProblem] = []
    try:
        rows = read_mentions(file, columns, source, watches, problems, encoding)
        result = save_mentions(app.db, (mention for _, mention in rows), batch_size=batch_size)
    except ImportFileError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    except UnicodeDecodeError as exc:  # bytes even 'surrogateescape' cannot keep (e.g. in UTF-16)
        click.echo(f"Error: {file}: cannot be read as {encoding} text ({exc.reason}); rows before "
                   "that point were stored, check --encoding", err=True)
        raise SystemExit(2) from None
    for problem in problems[:SHOWN_PROBLEMS]:
        click.echo(f"{file}:{problem.line}: rejected: {problem.reason}", err=True)
    if len(problems) > SHOWN_PROBLEMS:
        click.echo(f"... and {len(problems) - SHOWN_PROBLEMS} more rejected rows", err=True)
    rejected = len(problems) + result.rejected
    click.echo(f"{file}: {result.inserted} inserted, {result.present} already present, "
               f"{rejected} rejected")
    if rejected:
        raise SystemExit(REJECTED_ROWS_EXIT)


def _import_source(source: str) -> str:
    """--source as stored; an unusable one is one mistake, not a rejection of every row."""
    source = source.strip()
    if not source:
        raise UserMistake("--source: must not be empty")
    if len(source) > MAX_SOURCE_CHARS:
        raise UserMistake(f"--source: longer than {MAX_SOURCE_CHARS} characters")
    return source


def _check_import_watches(watches: tuple[str, ...]) -> None:
    """--watch must follow the watchlist's rule for watch names, or no watchlist could declare it."""
    from mentionwatch.config import Watch

    (pattern,) = [rule.pattern for rule in Watch.model_fields["name"].metadata
                  if getattr(rule, "pattern", None)]
    for watch in watches:
        if not re.fullmatch(pattern, watch):
            raise UserMistake(f"--watch: {watch!r} is not a valid watch name (1-64 letters, digits, "
                              "'_', '.' or '-', starting with a letter or digit, as in the watchlist)")


@main.command()
@click.argument("query")
@click.option("--watch", help="Only mentions of this watch.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_app
def search(app: App, query: str, watch: str | None, limit: int, as_json: bool) -> None:
    """Full-text search over stored mentions (SQLite FTS5 syntax: words, "phrases", OR, NOT, prefix*)."""
    from mentionwatch.triage.query import FilterError, fts_query

    if watch:
        app.require_watches([watch])
    try:
        query = fts_query(app.db, query)  # an empty query is a mistake, not a database error
    except FilterError as exc:
        raise UserMistake(str(exc)) from None
    rows = _search_rows(app.db, query, watch, limit)
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            text = " ".join(row["text"].split())
            click.echo(f"{row['created_at']}  {row['source']}  {row['author'] or '-'}  {text[:160]}")
    if not as_json:
        click.echo(f"{len(rows)} mention{'s' if len(rows) != 1 else ''} found", err=True)


def _search_rows(db, query: str, watch: str | None, limit: int) -> list[dict]:
    sql = (
        "SELECT m.id, m.source, m.external_id, m.created_at, m.author, m.url, m.text "
        "FROM mentions_fts JOIN mentions m ON m.id = mentions_fts.rowid "
        + ("JOIN mention_watches w ON w.mention_id = m.id AND w.watch = :watch " if watch else "")
        + "WHERE mentions_fts MATCH :query ORDER BY rank LIMIT :limit"
    )
    params = {"query": query, "watch": watch, "limit": limit}
    try:
        return list(db.query(sql, params))
    except sqlite3.OperationalError:
        # not valid FTS syntax (a stray quote or colon): search for the words as typed
        params["query"] = db.quote_fts(query)
        return list(db.query(sql, params))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@pass_app
def stats(app: App, as_json: bool) -> None:
    """Counts of stored mentions per source and watch, scores, alerts and crawl runs."""
    figures = collect_stats(app.db)
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    click.echo(f"Database: {app.db_path}")
    period = f" ({figures['first']} .. {figures['last']})" if figures["mentions"] else ""
    click.echo(f"Mentions: {figures['mentions']}{period}")
    for title, key in (("per source", "per_source"), ("per watch", "per_watch"),
                       ("sentiment", "per_label")):
        if figures[key]:
            click.echo(f"  {title}: " + ", ".join(f"{k} {v}" for k, v in figures[key].items()))
    click.echo(f"Unscored mentions: {figures['unscored']}")
    click.echo(f"Alerts: {figures['alerts_open']} open, {figures['alerts_total']} in all")
    click.echo(f"Crawl runs: {figures['crawl_runs']}")


def collect_stats(db) -> dict:
    one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    pairs = lambda sql: dict(db.execute(sql).fetchall())  # noqa: E731
    return {
        "mentions": one("SELECT count(*) FROM mentions"),
        "first": one("SELECT min(created_at) FROM mentions"),
        "last": one("SELECT max(created_at) FROM mentions"),
        "per_source": pairs("SELECT source, count(*) FROM mentions GROUP BY source ORDER BY 2 DESC"),
        "per_watch": pairs("SELECT watch, count(*) FROM mention_watches GROUP BY watch ORDER BY 2 DESC"),
        "per_label": pairs("SELECT label, count(*) FROM scores GROUP BY label ORDER BY 2 DESC"),
        "unscored": one("SELECT count(*) FROM mentions m WHERE NOT EXISTS "
                        "(SELECT 1 FROM scores s WHERE s.mention_id = m.id)"),
        "alerts_open": one("SELECT count(*) FROM alerts WHERE status != 'resolved'"),
        "alerts_total": one("SELECT count(*) FROM alerts"),
        "crawl_runs": one("SELECT count(*) FROM crawl_runs"),
    }


@bench.command(name="ingest")
@click.option("--count", default=200_000, show_default=True, type=click.IntRange(1000, 10_000_000))
@click.option("--seed", default=7, show_default=True)
def bench_ingest(count: int, seed: int) -> None:
    """Mentions stored per second (dedupe + FTS on) beside sqlite-utils insert_all of the same rows.

    insert_all is timed twice: on a database as sqlite-utils creates it (rollback journal) and on
    one with the same WAL settings mentionwatch uses, so both comparisons are visible.
    """
    from storage.benchdata import synthetic_mentions

    mentions = synthetic_mentions(count, seed)
    rows = [{"source": m.source, "external_id": m.external_id, "text": m.text,
             "created_at": m.created_at, "author": m.author, "url": m.url} for m in mentions]
    workdir = Path(tempfile.mkdtemp(prefix="mentionwatch-bench-"))
    try:
        first, repeat, inserted, present = _time_save_mentions(workdir / "project.db", mentions)
        raw_default = _time_insert_all(workdir / "raw-default.db", rows, wal=False)
        raw_wal = _time_insert_all(workdir / "raw-wal.db", rows, wal=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rate = count / first
    click.echo(f"synthetic mentions:                          {count:,}")
    click.echo(f"mentionwatch save_mentions (dedupe + FTS5 + watch links): {rate:,.0f} mentions/s "
               f"({inserted:,} inserted)")
    click.echo(f"same rows again (all duplicates):            {count / repeat:,.0f} mentions/s "
               f"({present:,} already present)")
    for label, seconds in (("default database (rollback journal)", raw_default),
                           ("WAL + synchronous=NORMAL, as mentionwatch", raw_wal)):
        raw_rate = count / seconds
        click.echo(f"sqlite-utils insert_all, {label}: {raw_rate:,.0f} rows/s; "
                   f"ratio mentionwatch / insert_all: {rate / raw_rate:.2f}x")


def _time_save_mentions(path: Path, mentions) -> tuple[float, float, int, int]:
    from storage import open_db, save_mentions

    db = open_db(path)
    started = time.perf_counter()
    first = save_mentions(db, mentions)
    middle = time.perf_counter()
    again = save_mentions(db, mentions)
    finished = time.perf_counter()
    db.close()
    return middle - started, finished - middle, first.inserted, again.present


def _time_insert_all(path: Path, rows: list[dict], *, wal: bool) -> float:
    from sqlite_utils import Database

    raw = Database(path)
    if wal:
        raw.enable_wal()
        raw.execute("PRAGMA synchronous = NORMAL")
    started = time.perf_counter()
    raw["mentions"].insert_all(rows)
    seconds = time.perf_counter() - started
    raw.close()
    return seconds
