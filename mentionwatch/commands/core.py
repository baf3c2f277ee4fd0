"""Foundation commands: init, import, search, stats, and the ingest and search benchmarks."""
from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path

import click

from mentionwatch.app import INTERRUPTED_EXIT, App, UserMistake, bench, describe_os_error, main, pass_app
from mentionwatch.cli_types import GivenPath
from mentionwatch.importer import (
    DEFAULT_ENCODING, ColumnMap, ImportFileError, ImportNotes, ReadOptions, check_encoding, delimiter_option,
    file_name_problem, read_mentions,
)
from mentionwatch.terminal import json_line, terminal_safe
from storage.mentions import MAX_TEXT_CHARS
from storage.timeutil import DATE_ORDERS

REJECTED_ROWS_EXIT = 3
MAX_SOURCE_CHARS = 100  # as storage accepts
SHOWN_PROBLEMS = 20
ALERT_STATUSES = ("open", "acknowledged", "resolved")  # as the alerts table allows them, in `stats`'s order


@main.command()
@click.option("--force", is_flag=True, help="Overwrite an existing watchlist file.")
@pass_app
def init(app: App, force: bool) -> None:
    """Write a commented starter watchlist (mentionwatch.yaml) and create the database."""
    target = app.config_path
    if app.db_path_given:
        app.check_db_path()  # a path that cannot be a database is refused before the watchlist names it
    if target.exists() and not force:
        click.echo(f"{target} already exists; keeping it (use --force to overwrite).")
        _say_if_it_names_another_database(app)
    else:
        named = _write_starter_watchlist(target, app.db_path if app.db_path_given else None)
        click.echo(f"Wrote {target}: edit its watches, sources and notifications.")
        if not named:
            click.echo(f"Note: {target} names mentionwatch.db: a watchlist cannot name a path with '$' in it; "
                       f"give --db {shlex.quote(str(app.db_path))} to the commands", err=True)
    app.db  # creates the database file and its tables
    click.echo(f"Database ready at {app.db_path}")


def _say_if_it_names_another_database(app: App) -> None:
    """init --db beside a watchlist that names another database: the commands run without --db
    would use that one."""
    from mentionwatch.config import database_setting

    named = database_setting(app.config_path) if app.db_path_given else None  # the rest may have a mistake
    if named is not None and named.resolve() != Path(app.db_path).resolve():
        from mentionwatch.config import names_a_database

        written = names_a_database(app.config_path)
        path = str(Path(app.db_path).resolve())  # a path in the watchlist is read from its own folder
        # a watchlist cannot name a path with '$' (read as a variable) or a control character in it
        nameable = "$" not in path and path.isprintable()
        how = ("" if not nameable else ", or edit its database: line" if written else
               f", or add a line database: {_yaml_text(path)} to it")
        click.echo(terminal_safe(f"Note: {app.config_path} {'names' if written else 'has no database: line, so it means'} "
                                 f"the database {named}: give --db {shlex.quote(str(app.db_path))} to the "
                                 f"commands{how}"), err=True)  # one line, whatever the path holds


def _yaml_text(text: str) -> str:
    """`text` as a YAML value to paste into the watchlist: as it is, or double-quoted when YAML would
    read it otherwise (a quote, a colon, a '#')."""
    return text if re.fullmatch(r"[\w./@+~-]+", text) else json.dumps(text, ensure_ascii=False)


def _write_starter_watchlist(target: Path, database: Path | None = None) -> bool:
    """The starter file at `target`; naming `database` (init --db) when given, so the commands run
    after it without --db find the database init made. False when it cannot name it: a '$' in a
    watchlist's value is read as an environment variable."""
    import yaml

    starter = resources.files("mentionwatch").joinpath("starter.yaml").read_text("utf-8")
    named = True
    if database is not None:
        where = Path(os.path.relpath(Path(database).absolute(), target.absolute().parent))
        shown = where if not where.as_posix().startswith("../") else Path(database).absolute()
        named = "$" not in str(shown)
        if named:
            line = yaml.safe_dump({"database": str(shown)}, allow_unicode=True, width=1_000_000).strip()
            if yaml.safe_load(line) != {"database": str(shown)}:  # a NEL (U+0085) is written as a line break
                line = yaml.safe_dump({"database": str(shown)}, width=1_000_000).strip()  # escaped instead
            starter = starter.replace("\ndatabase: mentionwatch.db\n", f"\n{line}\n", 1)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(starter, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write the watchlist {target}: {describe_os_error(exc)}") from None
    return named


@main.command(name="import")
@click.argument("file", type=GivenPath(path_type=Path, dir_okay=False))
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
@click.option("--title-col", default="title", show_default=True,
              help="Column with the post's title (a review's, a news story's headline).")
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--encoding", default=DEFAULT_ENCODING, show_default=True,
              help="Text encoding of FILE, e.g. cp1252 for a CSV saved by older Excel as plain "
                   "'CSV' (Excel's 'CSV UTF-8' needs none).")
@click.option("--delimiter", help="Column separator: ',', ';', 'tab' or '|' (default: the one "
                                  "that makes the header hold the expected columns).")
@click.option("--date-order", type=click.Choice(DATE_ORDERS, case_sensitive=False),
              help="Order of day and month in dates such as 03/05/2026 (dmy: 3 May; mdy: 5 March).")
@click.option("--timezone", "time_zone",
              help="Time zone of the times written without one, e.g. Europe/Paris or America/New_York "
                   "(as the export's account shows them) [default: UTC].")
@click.option("--keep-entities", is_flag=True,
              help="Store HTML entities (&amp;) in text and title as written, not unescaped.")
@click.option("--update", is_flag=True,
              help="Rows already stored (same --source and id) take the file's values: to correct an "
                   "import made with the wrong --date-order, or a file edited since. A changed text "
                   "is scored again by the next 'score'.")
@pass_app
def import_(app: App, file: Path, source: str, watches: tuple[str, ...], id_col: str, text_col: str,
            time_col: str, author_col: str, url_col: str, lang_col: str, reach_col: str, title_col: str,
            batch_size: int, encoding: str, delimiter: str | None, date_order: str | None,
            time_zone: str | None, keep_entities: bool, update: bool) -> None:
    """Import mentions from a CSV, TSV or JSONL FILE (columns id,text,created_at[,author,author_reach,url,lang,title]).

    Rows already stored are counted, not duplicated; broken rows are listed with their line and
    skipped. Exit code 3 when some rows were rejected, 2 when the file cannot be used at all.
    """
    from storage import save_mentions
    from storage.mentions import SaveResult

    name_problem = file_name_problem(file)
    if name_problem:  # before the database is created
        raise UserMistake(name_problem)
    source = _import_source(source)
    database_is_new = not Path(app.db_path).exists()
    new_watch_warnings = _check_import_watches(app, watches)
    new_database_without_a_watchlist = _new_database_without_a_watchlist(app)
    options = _read_options(encoding, delimiter, date_order, keep_entities, time_zone)
    columns = ColumnMap(id=id_col, text=text_col, created_at=time_col, author=author_col,
                        url=url_col, lang=lang_col, reach=reach_col, title=title_col,
                        named=_named_optional_columns(click.get_current_context()))
    notes = ImportNotes()
    highest_id = app.db.execute("SELECT coalesce(max(id), 0) FROM mentions").fetchone()[0]
    saved_so_far = [SaveResult()]  # what the batches committed so far did (for Ctrl-C)
    repeats = [0]
    try:
        rows = read_mentions(file, columns, source, watches, notes, options)
        clashes: list[set[int]] = [set(), set()]  # stored ids: with another text, with another time
        mentions = (mention for _, mention in rows)
        # only a file's first row with an id is stored: a later one is neither compared with it
        # once stored nor (--update) stored over it
        mentions = _first_row_of_each_id(mentions, repeats)
        if not update:  # with --update, the texts replaced are counted as they are stored
            mentions = _counting_id_clashes(app.db, mentions, clashes, highest_id)
        result = save_mentions(app.db, mentions, batch_size=batch_size,
                               update_up_to_id=highest_id if update else None,
                               on_batch=lambda so_far: saved_so_far.__setitem__(0, so_far))
    except ImportFileError as exc:
        if database_is_new:  # a file it cannot use leaves no empty database behind
            _remove_new_database(app)
        raise UserMistake(str(exc)) from None
    except KeyboardInterrupt:
        _say_what_the_interrupted_import_stored(app, highest_id, source, saved_so_far[0].updated)
        click.get_current_context().exit(INTERRUPTED_EXIT)
    result.present += repeats[0]
    _show_rejects_and_warnings(file, notes)
    if notes.stopped:
        stored = (f"the {result.inserted} new mention before it was stored" if result.inserted == 1
                  else f"the {result.inserted} new mentions before it were stored")
        raise UserMistake(f"{notes.stopped}: {stored}, nothing after it; check --encoding or the "
                          "end of the file")
    rejected = len(notes.problems) + result.rejected
    forgotten = (f", {result.forgotten} not stored (erased before and kept out: see mentionwatch forget)"
                 if result.forgotten else "")
    cut = _stored_cut_texts(app.db, highest_id, source, notes.cut_ids, result.updated_ids)
    if cut:
        forgotten += f", {cut} text{'s' if cut > 1 else ''} cut to {MAX_TEXT_CHARS:,} characters"
    updated = f" ({result.updated} updated)" if update else ""
    click.echo(f"{file}: {result.inserted} inserted, {result.present} already present{updated}, "
               f"{rejected} rejected" + forgotten
               + _newly_linked_text(result.linked_stored))
    for line in new_watch_warnings:
        click.echo(line, err=True)
    if new_database_without_a_watchlist:
        click.echo(f"Note: there is no {app.config_path} in {Path.cwd()}, so the mentions went into a new "
                   f"database, {app.db_path}; to add them to your watchlist's, run the command in its folder "
                   "or give --config", err=True)
    _show_what_stored_rows_became(app.db, file, source, result, clashes if not update else None)
    if rejected:
        raise SystemExit(REJECTED_ROWS_EXIT)


def _show_what_stored_rows_became(db, file: Path, source: str, result, clashes: list[set[int]] | None) -> None:
    """The lines about rows whose id was stored already: with another text or time (`clashes`,
    without --update), replaced, kept out by an erasure, or behind open alerts (--update). A row
    kept out is named once, as kept out: --update would change nothing for it."""
    update = clashes is None
    kept_out = set(result.kept_out_stored)
    other_texts, other_times = (0, 0) if update else (len(clashes[0] - kept_out), len(clashes[1] - kept_out))
    _show_id_clashes(file, source, result.texts_replaced if update else other_texts, update)
    if other_times:
        click.echo(f"{file}: warning: {other_times} row{'s' if other_times > 1 else ''} had the id and text of a "
                   f"stored {source} mention with another time, and {'were' if other_times > 1 else 'was'} kept "
                   "as stored: to store the file's times (a corrected --timezone or --date-order), run it again "
                   "with --update", err=True)
    _show_alerts_of_updated(db, file, result.recounted_ids)
    if result.kept_out_stored:
        shown = " ".join(str(mention_id) for mention_id in result.kept_out_stored[:10])
        more = " …" if len(result.kept_out_stored) > 10 else ""
        click.echo(f"{file}: warning: {len(result.kept_out_stored)} row(s) fall under an erasure (mentionwatch "
                   f"forget) while a mention with their id is stored, which was left as it is (ids {shown}{more}): "
                   "if the erasure covers it, erase it too with mentionwatch forget ID --yes", err=True)


def _show_id_clashes(file: Path, source: str, clashes: int, update: bool) -> None:
    """The rows whose id a stored mention of the source has with another text: not stored, or with
    --update stored over it (a file numbered as another one was would replace its posts)."""
    if not clashes:
        return
    rows = f"{clashes} row{'s' if clashes > 1 else ''}"
    if update:
        click.echo(f"{file}: {rows} had the id of a stored {source} mention with another text, which "
                   f"{'they' if clashes > 1 else 'it'} replaced (--update)", err=True)
        return
    click.echo(f"{file}: warning: {rows} had the id of a stored {source} mention with another text, and "
               f"{'were' if clashes > 1 else 'was'} not stored: if the file is a newer export of the same posts, "
               "run it again with --update; a file that numbers its rows as another one did needs its own "
               "--source", err=True)


def _show_alerts_of_updated(db, file: Path, mention_ids: list[int]) -> None:
    """The alerts not resolved raised on mentions whose time, text or title `--update` changed:
    their counts, windows and posts are what the old values made them, and `detect` would raise
    others beside them. (A resolved alert is left out: it is closed already.)"""
    alert_ids: set[int] = set()
    for start in range(0, len(mention_ids), 500):
        chunk = mention_ids[start:start + 500]
        alert_ids.update(row[0] for row in db.execute(
            "SELECT DISTINCT am.alert_id FROM alert_mentions am JOIN alerts a ON a.id = am.alert_id "
            f"WHERE a.status != 'resolved' AND am.mention_id IN ({', '.join('?' * len(chunk))})", chunk))
    if not alert_ids:
        return
    shown = " ".join(f"#{alert_id}" for alert_id in sorted(alert_ids)[:10]) + (" …" if len(alert_ids) > 10 else "")
    click.echo(f"{file}: warning: {len(alert_ids)} open alert(s) hold posts whose time or text this update "
               f"changed ({shown}): they keep the counts and windows the old values gave them, and the next detect "
               "may raise corrected ones beside them: resolve these (mentionwatch alerts resolve ID)", err=True)


def _first_row_of_each_id(mentions, repeats: list[int]):
    """The mentions, but for a later row with an id an earlier row of the file had (`repeats[0]`
    counts them): as without --update, where the first row is the one stored."""
    seen: set[str] = set()
    for mention in mentions:
        if mention.external_id in seen:
            repeats[0] += 1
            continue
        seen.add(mention.external_id)
        yield mention


def _say_what_the_interrupted_import_stored(app: App, highest_id: int, source: str, updated: int) -> None:
    """After Ctrl-C: how many new mentions the batches committed before it hold (the batch in
    flight is rolled back), and how many stored ones they updated (--update), and that running
    the same import again adds the rest."""
    if app.db.conn.in_transaction:
        app.db.conn.rollback()
    stored = app.db.execute("SELECT count(*) FROM mentions WHERE id > ? AND source = ?",
                            [highest_id, source]).fetchone()[0]
    mentions = "new mention was" if stored == 1 else "new mentions were"
    changed = f" and {updated:,} stored one{'s' if updated != 1 else ''} updated" if updated else ""
    click.echo(f"\nInterrupted: {stored:,} {mentions} stored{changed} before it; the same import run again "
               "adds the rest (rows already stored are counted, not stored twice)", err=True)


def _remove_new_database(app: App) -> None:
    """Delete the database this import created, nothing stored in it yet (with SQLite's files beside it)."""
    app.db.close()
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{app.db_path}{suffix}").unlink(missing_ok=True)


def _new_database_without_a_watchlist(app: App) -> bool:
    """Whether this import is about to create the default database in a folder without a watchlist:
    most likely a command run in the wrong folder (the Downloads folder the CSV is in)."""
    named = app.has_config_file or app.config_path_given or app.db_path_given
    return not named and not Path(app.db_path).exists()


def _counting_id_clashes(db, mentions, clashes: list[set[int]], stored_up_to: int, chunk_size: int = 1000):
    """The mentions, unchanged; `clashes[0]` collects the stored mentions (ids up to `stored_up_to`)
    whose (source, id) a row has with another text: "already present", but a different post (two
    files numbered alike), or a newer export; `clashes[1]` those with the same text and another
    time. (A row repeating an id of the file itself has its own warning.)"""
    chunk: list = []
    for mention in mentions:
        chunk.append(mention)
        if len(chunk) >= chunk_size:
            _add_clashes(clashes, _clashing(db, chunk, stored_up_to))
            yield from chunk
            chunk = []
    _add_clashes(clashes, _clashing(db, chunk, stored_up_to))
    yield from chunk


def _add_clashes(clashes: list[set[int]], found: tuple[list[int], list[int]]) -> None:
    clashes[0].update(found[0])
    clashes[1].update(found[1])


def _clashing(db, chunk: list, stored_up_to: int) -> tuple[list[int], list[int]]:
    """(the stored mentions of the source with a row's id and another text, those with a row's id
    and text and another time)."""
    rows_by_source: dict[str, dict[str, tuple]] = {}  # an import has one source: one query per chunk
    for mention in chunk:
        rows_by_source.setdefault(mention.source, {})[str(mention.external_id)] = (
            mention.text[:MAX_TEXT_CHARS], str(mention.created_at))
    texts: list[int] = []
    times: list[int] = []
    for source, rows in rows_by_source.items():
        marks = ", ".join("?" * len(rows))
        stored = db.execute(f"SELECT id, external_id, text, created_at FROM mentions WHERE source = ? AND id <= ? "
                            f"AND external_id IN ({marks})", [source, stored_up_to, *rows]).fetchall()
        for mention_id, external_id, text, created_at in stored:
            imported_text, imported_time = rows[external_id]
            if not _same_text(imported_text, text):
                texts.append(mention_id)
            elif imported_time != created_at:
                times.append(mention_id)
    return texts, times


def _same_text(imported: str, stored: str) -> bool:
    """Equal, or equal once the entities of one side are read: versions before 2026-12-05 stored an
    import's `&amp;` as written, which this one reads (unless --keep-entities). One level only: an
    old `&amp;amp;` is the `&amp;` read now."""
    from mentionwatch.importer import read_entities

    return imported in (stored, read_entities(stored)) or read_entities(imported) == stored


def _show_rejects_and_warnings(file: Path, notes: ImportNotes) -> None:
    """The rejected rows (the first SHOWN_PROBLEMS), then one line for each kind of warning."""
    problems = notes.problems
    for problem in problems[:SHOWN_PROBLEMS]:
        click.echo(f"{file}:{problem.line}: rejected: {terminal_safe(problem.reason)}", err=True)
    if len(problems) > SHOWN_PROBLEMS:
        click.echo(f"... and {len(problems) - SHOWN_PROBLEMS} more rejected rows", err=True)
    for warning in notes.warning_lines():
        click.echo(f"{file}: warning: {terminal_safe(warning)}", err=True)


def _read_options(encoding: str, delimiter: str | None, date_order: str | None,
                  keep_entities: bool, time_zone: str | None = None) -> ReadOptions:
    """The import's reading options, checked: an unknown encoding, separator or time zone is one mistake."""
    from zoneinfo import ZoneInfo

    from mentionwatch.config import time_zone_name

    zone = None
    if time_zone is not None:
        try:
            zone = ZoneInfo(time_zone_name(time_zone))
        except ValueError as exc:
            raise UserMistake(f"--timezone: {exc}") from None
    try:
        encoding = check_encoding(encoding)
    except ValueError as exc:
        raise UserMistake(f"--encoding: {exc}") from None
    try:
        delimiter = delimiter_option(delimiter) if delimiter is not None else None
    except ValueError as exc:
        raise UserMistake(f"--delimiter: {exc}") from None
    return ReadOptions(encoding=encoding, delimiter=delimiter, date_order=date_order,
                       keep_entities=keep_entities, time_zone=zone)


def _stored_cut_texts(db, highest_id: int, source: str, cut_ids: set[str], updated_ids: list[int]) -> int:
    """How many of the texts cut to MAX_TEXT_CHARS this import stored (new rows get ids above
    the highest before it) or updated (`updated_ids`); those of mentions already present and left
    as they were are not counted."""
    if not cut_ids:
        return 0
    stored = db.execute("SELECT external_id FROM mentions WHERE id > ? AND source = ? "
                        "AND length(text) = ?", [highest_id, source, MAX_TEXT_CHARS]).fetchall()
    found = {row[0] for row in stored}
    for start in range(0, len(updated_ids), 500):
        chunk = updated_ids[start:start + 500]
        found.update(row[0] for row in db.execute(
            f"SELECT external_id FROM mentions WHERE length(text) = ? AND id IN ({', '.join('?' * len(chunk))})",
            [MAX_TEXT_CHARS, *chunk]))
    return len(cut_ids & found)


_OPTIONAL_COLUMN_OPTIONS = {"author_col": "--author-col", "url_col": "--url-col",
                            "lang_col": "--lang-col", "reach_col": "--reach-col", "title_col": "--title-col"}


def _named_optional_columns(ctx: click.Context) -> tuple[tuple[str, str], ...]:
    """(option, column) of the optional columns given on the command line: a column the user
    names must be in the file, while a default one (author, url ...) may be absent."""
    from click.core import ParameterSource

    return tuple((option, ctx.params[param]) for param, option in _OPTIONAL_COLUMN_OPTIONS.items()
                 if ctx.get_parameter_source(param) is not ParameterSource.DEFAULT)


def _newly_linked_text(linked_stored: dict[str, int]) -> str:
    """'; 2759 already-stored mentions added to watch united': mentions stored before that an
    import with a new --watch linked to it (every inserted mention is linked as well). Counted by
    the links the import made: the service or another import may link mentions meanwhile."""
    parts = [f"{count} already-stored mention{'s' if count != 1 else ''} added to watch {watch}"
             for watch, count in linked_stored.items() if count > 0]
    return "".join(f"; {part}" for part in parts)


def _import_source(source: str) -> str:
    """--source as stored; an unusable one is one mistake, not a rejection of every row."""
    source = source.strip()
    if not source:
        raise UserMistake("--source: must not be empty")
    if len(source) > MAX_SOURCE_CHARS:
        raise UserMistake(f"--source: longer than {MAX_SOURCE_CHARS} characters")
    return source


def _check_import_watches(app: App, watches: tuple[str, ...]) -> list[str]:
    """--watch must follow the watchlist's rule for watch names, or no watchlist could declare it,
    and must not differ only in capitals from a watch there is ('Acme' beside 'acme' would be two).
    Returns a warning line for each name neither the watchlist nor the database has (a typo?),
    said once the import is done."""
    from mentionwatch.config import watch_name_problem

    for watch in watches:
        problem = watch_name_problem(watch)
        if problem:
            raise UserMistake(f"--watch: {problem}")
    if not watches:
        return []
    config = app.config_if_readable()  # the import itself does not need the watchlist
    known = {watch.name for watch in config.watches} if config is not None else set()
    if Path(app.db_path).is_file():
        known |= {name for (name,) in app.db.execute("SELECT DISTINCT watch FROM mention_watches")}
    warnings = []
    for watch in watches:
        same_but_case = sorted(name for name in known if name.lower() == watch.lower() and name != watch)
        if same_but_case and watch not in known:
            raise UserMistake(f"--watch {watch}: there is a watch named {same_but_case[0]!r} (names that differ "
                              f"only in capitals would be two watches): use --watch {same_but_case[0]}")
        if known and watch not in known:  # a typo ('acmee') would file the mentions under a watch of their own
            close = difflib.get_close_matches(watch, sorted(known), n=1)
            hint = f" (did you mean --watch {close[0]}?)" if close else ""
            warnings.append(f"Warning: --watch {watch} is a new watch: neither the watchlist nor the database "
                            f"had one of that name{hint}; its mentions are filed under it all the same")
    return warnings


@main.command()
@click.argument("query")
@click.option("--watch", "watches", multiple=True,
              help="Only mentions of this watch (repeatable: mentions of any of them).")
@click.option("--since", help="Only mentions from this time on: 2015-02-20, 2015-02-20T08:00:00Z, "
                              "or 7d / 12h ago.")
@click.option("--sort", "order", type=click.Choice(["newest", "oldest", "relevance"], case_sensitive=False), default="newest",
              show_default=True, help="Time order, or relevance (best match first; not for Chinese, "
                                      "Japanese or Korean words).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_app
def search(app: App, query: str, watches: tuple[str, ...], since: str | None, order: str, limit: int,
           as_json: bool) -> None:
    """Full-text search over stored mentions, newest first: words, "phrases", OR, NOT, prefix*.

    Chinese, Japanese and Korean words are found wherever they stand in a post. Each line starts
    with the mention id, as `mark` takes it.
    """
    from mentionwatch.triage.query import FilterError, MentionFilters, search_rows
    from mentionwatch.triage.query_syntax import lowercase_operator_hint

    app.require_watches(watches)
    filters = MentionFilters(watches=watches, since=_since_option(since), query=query, limit=limit)
    try:
        rows = search_rows(app.db, filters, order)
    except FilterError as exc:  # an empty query is a mistake, not a database error
        raise UserMistake(str(exc)) from None
    for row in rows:
        click.echo(json_line(_search_json(row)) if as_json else _search_line(row))
    if not as_json:
        click.echo(_found_line(len(rows), limit, order), err=True)
    hint = None if rows else (lowercase_operator_hint(query) or _older_than_since_hint(app.db, filters.since))
    if hint:
        click.echo(hint, err=True)


def _older_than_since_hint(db, since: str | None) -> str | None:
    """Nothing found with --since, and every stored mention is older (imported history, say)."""
    if since is None:
        return None
    newest = db.execute("SELECT max(created_at) FROM mentions").fetchone()[0]
    if newest is None or newest >= since:
        return None
    return f"hint: the newest stored mention is from {newest}, before --since {since}"


def _search_json(row: dict) -> dict:
    """A found mention for --json: `mention_id` too, the name export gives the id (`id` stays)."""
    return {"id": row["id"], "mention_id": row["id"], **row}


def _search_line(row: dict) -> str:
    """One found mention on one line; what posts hold is shown, never obeyed by the terminal."""
    from alerts.explain import entry_text

    text = " ".join(entry_text(row).split())  # a link post's words may be in its title alone
    return terminal_safe(f"{row['id']}  {row['created_at']}  {row['source']}  {row['author'] or '-'}  "
                         f"{text[:160]}")


def _since_option(since: str | None) -> str | None:
    from mentionwatch.commands.triage import _time_option

    return _time_option(since, "--since")


def _found_line(count: int, limit: int, order: str) -> str:
    """'3 mentions found, newest first (...)': how many, in which order, what the first column is."""
    from mentionwatch.triage.query import SEARCH_ORDERS

    if count == 0:
        return "0 mentions found"
    found = f"{count} mention{'s' if count != 1 else ''} found"
    if count == limit:
        found = f"{count} mention{'s' if count != 1 else ''} shown (--limit {limit}: there may be more)"
    return f"{found}, {SEARCH_ORDERS[order]} (the first column is the mention id)"


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@pass_app
def stats(app: App, as_json: bool) -> None:
    """Counts of stored mentions per source and watch, scores, alerts per status and crawl runs.

    Unscored mentions are those without a score from the configured sentiment model, as `score`
    and `status` count them.
    """
    figures = collect_stats(app.db, _configured_model_id(app))
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    click.echo(f"Database: {app.db_path}")
    period = f" ({figures['first']} .. {figures['last']})" if figures["mentions"] else ""
    click.echo(f"Mentions: {figures['mentions']}{period}")
    for title, key in (("per source", "per_source"), ("per watch", "per_watch"),
                       (f"sentiment ({figures['unscored_model']})", "per_label")):
        if figures[key]:
            click.echo(f"  {title}: " + ", ".join(f"{terminal_safe(k)} {v}" for k, v in figures[key].items()))
    click.echo(_unscored_line(figures))
    click.echo("Alerts: " + ", ".join(f"{count} {status}" for status, count in figures["alerts_by_status"].items()))
    click.echo(f"Crawl runs: {figures['crawl_runs']}")


def _configured_model_id(app: App) -> str | None:
    """The watchlist's model; None when the watchlist or the model's file cannot be read (the
    other figures do not need them)."""
    from mentionwatch.config import ConfigError
    from sentiment.scorer import configured_model_id

    config = app.config_if_readable()
    if config is None:
        return None
    try:
        return configured_model_id(config.sentiment)
    except ConfigError:  # the model's own file
        return None


def _unscored_line(figures: dict) -> str:
    if figures["unscored_model"] is None:
        return ("Unscored mentions: not counted (the configured sentiment model is unknown: "
                "check the watchlist and 'mentionwatch model info')")
    return f"Unscored mentions: {figures['unscored']} (no score from {figures['unscored_model']})"


def collect_stats(db, model_id: str | None) -> dict:
    """The figures of `stats`; the label and unscored counts are for `model_id` (None: not counted)."""
    from sentiment.store import count_unscored

    one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    pairs = lambda sql: dict(db.execute(sql).fetchall())  # noqa: E731
    return {
        "mentions": one("SELECT count(*) FROM mentions"),
        "first": one("SELECT min(created_at) FROM mentions"),
        "last": one("SELECT max(created_at) FROM mentions"),
        "per_source": pairs("SELECT source, count(*) FROM mentions GROUP BY source ORDER BY 2 DESC"),
        "per_watch": pairs("SELECT watch, count(*) FROM mention_watches GROUP BY watch ORDER BY 2 DESC"),
        # labels from the configured model only: scores of other models never mix with them
        "per_label": {} if model_id is None else dict(db.execute(
            "SELECT label, count(*) FROM scores WHERE model_id = ? GROUP BY label ORDER BY 2 DESC",
            [model_id]).fetchall()),
        "unscored": None if model_id is None else count_unscored(db, model_id),
        "unscored_model": model_id,
        # alerts_open counts the alerts not resolved (acknowledged ones too), as it always has;
        # alerts_by_status has each status apart, as `stats` prints them
        "alerts_open": one("SELECT count(*) FROM alerts WHERE status != 'resolved'"),
        "alerts_total": one("SELECT count(*) FROM alerts"),
        "alerts_by_status": {status: 0 for status in ALERT_STATUSES} | pairs(
            "SELECT status, count(*) FROM alerts GROUP BY status"),
        "crawl_runs": one("SELECT count(*) FROM crawl_runs"),
    }


@bench.command(name="ingest")
@click.option("--count", default=200_000, show_default=True, type=click.IntRange(1000, 10_000_000))
@click.option("--seed", default=7, show_default=True, type=click.IntRange(0, 2**32 - 1))
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


@bench.command(name="search")
@click.option("--count", default=1_000_000, show_default=True, type=click.IntRange(1000, 10_000_000))
@click.option("--seed", default=7, show_default=True, type=click.IntRange(0, 2**32 - 1))
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000),
              help="As search --limit.")
@click.option("--keep", "keep_path", type=GivenPath(path_type=Path, dir_okay=False),
              help="Reuse this database if it exists, else fill and keep it (a million takes under a minute).")
def bench_search(count: int, seed: int, limit: int, keep_path: Path | None) -> None:
    """Time `search` on synthetic mentions (one in 10 Chinese): words, phrases, Chinese words.

    Chinese words are found as text, so a query with one reads every mention that the other
    filters (--watch, --since, the index's words) leave; an absent word shows that worst case.
    """
    from mentionwatch.search_bench import fill_database, time_cases

    workdir = None
    if keep_path is None:
        workdir = Path(tempfile.mkdtemp(prefix="mentionwatch-bench-"))
        path = workdir / "search.db"
    else:
        path = keep_path
    try:
        if not path.exists():
            seconds = fill_database(path, count, seed)
            click.echo(f"stored {count:,} synthetic mentions in {seconds:.1f} s")
        click.echo(f"search, newest first, --limit {limit}; median of 3 runs:")
        for case in time_cases(path, limit):
            click.echo(f"  {case['label']:<40} {case['ms']:>8.1f} ms  {case['rows']:>3} found  "
                       f"{case['query']}")
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
