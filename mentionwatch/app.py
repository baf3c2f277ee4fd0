"""The click groups every command hangs on, and the shared state a command needs (config, database).

Command modules in `mentionwatch/commands/` attach themselves to `main` (or to `bench`); `cli.py`
imports them all. User mistakes raise `UserMistake` or `ConfigError` (exit code 2), other failures
`click.ClickException` (exit code 1): one line, no traceback.
"""
from __future__ import annotations

import errno
import getpass
import logging
import os
import sqlite3
import sys
import unicodedata
from functools import cached_property
from pathlib import Path

import click

from mentionwatch.cli_types import GivenPath, fits_sqlite
from mentionwatch.config import (
    CONFIG_ENV, DB_ENV, DEFAULT_CONFIG_NAME, DEFAULT_DB_NAME, KEEP_UNSET_IN_SOURCES, KEEP_UNSET_IN_SOURCES_AND_URLS,
    KEEP_UNSET_IN_URLS, Config, ConfigError,
    database_setting,
    load_config,
)
from storage.db import database_problem, file_in_the_way

MISTAKE_EXIT = 2  # a mistake in the command, the watchlist or an input file
INTERRUPTED_EXIT = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C
BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE, what a shell reports for `yes | head`


def end_on_broken_pipe() -> None:
    """A reader that stopped early (`| head`): end quietly, with the exit code of other Unix tools.
    Standard output goes to /dev/null first: Python would report the broken pipe again when it
    flushes standard output at exit."""
    import io

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass
    raise SystemExit(BROKEN_PIPE_EXIT)


class UserMistake(click.ClickException):
    """A mistake in the command or in an input file: one line and exit code 2, as for the watchlist.

    Plain `click.ClickException` (exit code 1) is for what the user did not get wrong: a folder
    that cannot be written, a model that cannot be fetched.
    """

    exit_code = MISTAKE_EXIT


# Commands that only work on mentions already stored: on a database file that does not exist they
# say so (a mistyped --db) instead of creating an empty one and reporting nothing.
NEED_AN_EXISTING_DATABASE = frozenset(
    {"alerts", "backtest", "backup", "browse", "detect", "export", "forget", "mark", "rematch", "rename", "report",
     "score", "search", "stats", "status"})


# Commands that only read the database. On one they cannot write to (a backup on read-only storage, a
# file without write permission) they open it read-only instead of failing, and on any they leave its
# journal mode as it is: a backup stays one file. Every other command may write.
ONLY_READ_THE_DATABASE = frozenset(
    {"alerts list", "alerts show", "backtest", "backup", "browse", "export", "report", "search", "stats",
     "status"})


# Commands that poll the sources need the sources' secrets (`${TOKEN}` in a source's settings) to be
# set; the others read the watchlist with such a value left as written (a PR lead resolving an alert
# needs no API token). A notification url's unset ${VARIABLE} is left as written by every command:
# that target cannot send (and says why), as one whose url_env is unset. The commands that send need
# a notification's other settings (its name) set: see load_config.
POLL_THE_SOURCES = frozenset({"crawl", "run"})
SEND_MESSAGES = frozenset({"detect", "notify"})


def unset_variables_kept_by(command: str | None) -> str:
    """load_config's keep_unset_env for this command."""
    if command in POLL_THE_SOURCES:
        return KEEP_UNSET_IN_URLS
    return KEEP_UNSET_IN_SOURCES_AND_URLS if command in SEND_MESSAGES else KEEP_UNSET_IN_SOURCES


class App:
    """What the global options point at; config and database are opened on first use."""

    def __init__(self, config_path: Path | None, db_path: Path | None, *, db_must_exist: bool = False,
                 keep_unset_env: str = KEEP_UNSET_IN_URLS):
        # named by --config or $MENTIONWATCH_CONFIG: if that file does not exist, it is a mistake
        # (a typo), not the empty watchlist of a folder without one
        self.config_path_given = config_path is not None or bool(os.environ.get(CONFIG_ENV))
        self.config_path = Path(config_path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_NAME)
        self._db_path = db_path
        self.db_must_exist = db_must_exist
        self.keep_unset_env = keep_unset_env
        self.config_mistake: str | None = None  # set when the database was found despite a mistake

    @cached_property
    def config(self) -> Config:
        """The validated watchlist; a missing default file (none named) means an empty watchlist."""
        if not self.config_path_given and not self.config_path.exists():
            return Config()
        return load_config(self.config_path, keep_unset_env=self.keep_unset_env)

    @property
    def has_config_file(self) -> bool:
        return self.config_path.exists()

    @property
    def db_path_given(self) -> bool:
        """Whether --db or $MENTIONWATCH_DB names the database (else the watchlist does)."""
        return self._db_path is not None or bool(os.environ.get(DB_ENV))

    def config_if_readable(self) -> Config | None:
        """The watchlist, or None when it has a mistake, for a command that can go on without it:
        the mistake is then said on a warning line after the command's output (config_mistake)."""
        try:
            return self.config
        except ConfigError as mistake:
            if (self.has_config_file or self.config_path_given) and self.config_mistake is None:
                self.config_mistake = str(mistake)  # a file named but not there is one too
            return None

    @property
    def db_path_named_by(self) -> str:
        """Where to look to change the database's path, for an error line: 'check --db' ..."""
        if self._db_path is not None:
            return "check --db"
        if os.environ.get(DB_ENV):
            return f"check {DB_ENV}"
        if self.has_config_file:
            return f"check database: in {self.config_path}"
        return "check --db"  # the built-in default, mentionwatch.db in this folder

    def require_config_file(self) -> None:
        """For commands that do nothing without a watchlist (crawl, run): a missing one is a mistake,
        not an empty watchlist, so a scheduled job started in the wrong folder does not pass silently."""
        if not self.has_config_file:
            raise ConfigError(f"{self.config_path}: no such file (create one with 'mentionwatch init', "
                              "or give --config)")

    @cached_property
    def db_path(self) -> Path:
        if self._db_path is not None:
            return self._db_path
        if os.environ.get(DB_ENV):
            return Path(os.environ[DB_ENV])
        if self.has_config_file or self.config_path_given:
            try:
                return self.config.database
            except ConfigError as mistake:
                database = database_setting(self.config_path) if self.has_config_file else None
                if database is None or not database.is_file():  # nothing stored to show: the mistake
                    raise
                self.config_mistake = str(mistake)  # the commands that go on say so
                return database
        return Path(DEFAULT_DB_NAME)

    @cached_property
    def db(self):
        """The database, opened as the command running needs it (see ONLY_READ_THE_DATABASE)."""
        self.check_db_path()
        try:
            db = self._open_db()
        except OSError as exc:  # its folder cannot be made: under a file, or a missing mount
            raise click.ClickException(f"cannot create the database {self.db_path}: "
                                       f"{describe_os_error(exc)}") from None
        context = click.get_current_context(silent=True)
        if context is not None:  # closed when the command ends, not whenever Python collects it
            context.call_on_close(db.close)
        return db

    def check_db_path(self) -> None:
        """A folder, or a missing file where the command needs an existing database, is a mistake."""
        if Path(self.db_path).is_dir():
            raise UserMistake(f"{self.db_path}: is a folder, not a database file ({self.db_path_named_by})")
        in_the_way = file_in_the_way(self.db_path)
        if in_the_way is not None:
            raise UserMistake(f"{self.db_path}: {in_the_way} is a file, not a folder ({self.db_path_named_by})")
        if self.db_must_exist and not Path(self.db_path).exists():
            if not (self.has_config_file or self.config_path_given or self.db_path_given):
                # most likely run in another folder than the watchlist's: `init` here would start afresh
                raise UserMistake(f"{self.db_path}: no such database, and no {self.config_path} in "
                                  f"{Path.cwd()}: run the command in your watchlist's folder, or give "
                                  "--config (run 'mentionwatch init' only to start a new watchlist here)")
            raise UserMistake(f"{self.db_path}: no such database (run 'mentionwatch init' first, or check --db)")

    def _open_db(self):
        """open_db_to_read for a command that only reads, else open_db, which refuses a read-only file."""
        from storage.db import ReadOnlyDatabaseError, open_db, open_db_to_read

        command = running_command()
        if command in ONLY_READ_THE_DATABASE:
            return open_db_to_read(self.db_path)
        try:
            return open_db(self.db_path)
        except ReadOnlyDatabaseError as exc:
            raise click.ClickException(
                f"{exc} ({self.db_path}): '{command or 'this command'}' writes to it; the commands that "
                "only read it (status, stats, search, export, report, alerts list/show, browse) work") from None

    def require_configured_watch(self, name: str | None) -> None:
        """For commands that need the watch's settings (crawl, backtest): it must be in the watchlist."""
        if name is not None and name not in {watch.name for watch in self.config.watches}:
            raise UserMistake(f"no watch named {name!r} in {self.config_path}")

    def require_watches(self, names) -> None:
        """A watch named on the command line that neither the watchlist nor the database knows is a typo."""
        configured = {watch.name for watch in self.config.watches}
        for name in names:
            if name in configured or self.db.execute(
                    "SELECT 1 FROM mention_watches WHERE watch = ? UNION ALL "
                    "SELECT 1 FROM alerts WHERE watch = ? LIMIT 1", [name, name]).fetchone():
                continue
            from storage.rename import stored_watch_names

            stored = stored_watch_names(self.db)
            known = ", ".join(sorted(configured | stored)) or "none yet"
            raise UserMistake(f"no watch named {name!r} in {self.config_path} or the database (known: {known})")

    def require_alerts(self, alert_ids) -> None:
        """Each id must be an alert's; one SQLite cannot hold is no alert's, and never reaches it."""
        for alert_id in alert_ids:
            if not fits_sqlite(alert_id) or not self.db.execute(
                    "SELECT 1 FROM alerts WHERE id = ?", [alert_id]).fetchone():
                raise UserMistake(f"no alert with id {alert_id}")


def running_command() -> str | None:
    """The command being run, without 'mentionwatch' ('stats', 'alerts list'); None outside click."""
    ctx = click.get_current_context(silent=True)
    names = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.command.name)
        ctx = ctx.parent
    return " ".join(reversed(names)) or None


def person_name(value: str | None, option: str) -> str | None:
    """A name given with `option` (--actor, --owner), stripped; None when none or only blanks.

    A name with control characters (a newline, a tab, an escape) is refused: it would forge rows
    in tables and timelines printed later.
    """
    name = (value or "").strip()
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise UserMistake(f"{option}: a name cannot hold control characters (newline, tab, escape): {name!r}")
    return name or None


def actor_or_login_name(actor: str | None) -> str:
    """Who does something by hand (acknowledges an alert, marks a mention): the name given (--actor,
    also spelled --by), else the login name, else 'cli' (a container may have no login name)."""
    name = person_name(actor, "--actor")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):  # no $USER and no password entry; no pwd module
        return "cli"


SHARED_DATA_ENV = "MENTIONWATCH_SHARED_DATA"


def shared_data_folder() -> Path:
    """The shared data folder the benchmarks read: $MENTIONWATCH_SHARED_DATA, else ../shared/data."""
    return Path(os.environ.get(SHARED_DATA_ENV) or "../shared/data")


def describe_os_error(exc: OSError) -> str:
    """'PATH: why' for a file-system error, in plain words where the system's own misleads
    (creating a folder under a regular file says 'File exists')."""
    reason = exc.strerror or str(exc)
    if isinstance(exc, FileExistsError) and exc.filename and not Path(exc.filename).is_dir():
        reason = "is a file, not a folder"
    elif isinstance(exc, NotADirectoryError):
        reason = "a part of this path is a file, not a folder"
    return f"{exc.filename}: {reason}" if exc.filename else reason


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: Python's stand-ins for undecodable bytes
        return False
    return True


def _warn_of_the_watchlist_mistake(ctx: click.Context) -> None:
    """stats, alerts list … went on with what is stored: the watchlist's mistake is still there."""
    mistake = getattr(ctx.obj, "config_mistake", None)
    if mistake:
        if not ctx.obj.has_config_file:  # a --config file that is not there: nothing to mend
            click.echo(f"Warning: {mistake} (the watchlist was not used)", err=True)
            return
        read = "the watchlist was not used" if ctx.obj.db_path_given else "only the database setting was read"
        click.echo(f"Warning: {mistake} ({read}; mend the file before the commands that need the rest)", err=True)


class _NamesItselfInUsageErrors:
    """A usage error found while parsing this command's own arguments names this command: click
    leaves the context out of some ("Option '--status' requires an argument"), and the one-line
    error would then point at `mentionwatch --help` instead of `mentionwatch alerts list --help`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if exc.ctx is None:
                exc.ctx = ctx
            raise


class Command(_NamesItselfInUsageErrors, click.Command):
    """Every mentionwatch command (see _NamesItselfInUsageErrors)."""


class Group(_NamesItselfInUsageErrors, click.Group):
    """Every group of commands below `mentionwatch` (alerts, bench, notify ...)."""

    command_class = Command
    group_class = type  # groups inside it are of this class too


class MainGroup(click.Group):
    """Turns configuration errors into one line and exit code 2, database and file-system errors
    into one line and exit code 1. Commands word the errors they expect better themselves; this
    is the backstop, so that no traceback reaches the user."""

    command_class = Command
    group_class = Group

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for arg in args:
            if not _is_text(arg):
                # bytes the terminal's encoding could not read (a name typed in a Latin-1 terminal):
                # SQLite refuses them deep inside a search or an export, with a traceback
                shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                click.echo(f"Error: the argument {shown!r} holds bytes that are not UTF-8 text "
                           "(check the terminal's encoding)", err=True)
                ctx.exit(MISTAKE_EXIT)
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:  # mentionwatch --bogus, mentionwatch --config (no file)
            _one_line_usage_error(ctx, exc)

    def invoke(self, ctx: click.Context):
        try:
            result = super().invoke(ctx)
            _warn_of_the_watchlist_mistake(ctx)
            return result
        except SystemExit:  # a command ending with its own exit code (import with rejected rows)
            _warn_of_the_watchlist_mistake(ctx)
            raise
        except click.NoSuchOption as exc:
            if exc.option_name not in ("--config", "--db", "-v", "--verbose"):
                _one_line_usage_error(ctx, exc)
            command = ctx.invoked_subcommand or "COMMAND"
            value = " FILE" if exc.option_name in ("--config", "--db") else ""
            click.echo(f"Error: {exc.option_name} goes before the command: mentionwatch "
                       f"{exc.option_name}{value} {command} ...", err=True)
            ctx.exit(MISTAKE_EXIT)
        except click.UsageError as exc:
            _one_line_usage_error(ctx, exc)
        except ConfigError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(MISTAKE_EXIT)
        except sqlite3.DatabaseError as exc:  # locked for longer than the busy timeout, disk full ...
            where = (vars(ctx.obj).get("db_path") if ctx.obj else None) or "the database"
            click.echo(f"Error: {database_problem(exc)} ({where})", err=True)
            ctx.exit(1)
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # output piped into `head`
                end_on_broken_pipe()
            click.echo(f"Error: {describe_os_error(exc)}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:  # click would print "Aborted!" and exit 1, as for a failure
            click.echo("\nInterrupted.", err=True)
            ctx.exit(INTERRUPTED_EXIT)


NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click 8.2 and later


def _one_line_usage_error(ctx: click.Context, exc: click.UsageError) -> None:
    """A wrong option value, a missing option or an unknown command as one line (click's own
    message, then where the help is) instead of click's usage block. A group given no command
    (`mentionwatch alerts`) still shows its help: click signals that with a UsageError too."""
    if isinstance(exc, NO_ARGS_IS_HELP):
        raise exc
    command_path = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
    message = " ".join(exc.format_message().split())  # click lists choices on lines, with tabs
    click.echo(f"Error: {message} (see '{command_path} --help')", err=True)
    ctx.exit(MISTAKE_EXIT)


@click.group(cls=MainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=GivenPath(path_type=Path), default=None,
              help=f"Watchlist file [default: ${CONFIG_ENV} or ./{DEFAULT_CONFIG_NAME}].")
@click.option("--db", "db_path", type=GivenPath(path_type=Path), default=None,
              help=f"SQLite database [default: ${DB_ENV}, the config's 'database', or ./{DEFAULT_DB_NAME}].")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="mentionwatch")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, db_path: Path | None, verbose: int) -> None:
    """mentionwatch: collect public mentions, score their sentiment, alert on negative spikes."""
    level = logging.WARNING - 10 * min(verbose, 2)
    from mentionwatch.logging_setup import TextFormatter

    # the service's line format (time in UTC), not logging's default local time without a zone
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setFormatter(TextFormatter())
    logging.basicConfig(level=level, handlers=[to_stderr])
    hide_secrets_in_logs(level)
    ctx.obj = App(config_path, db_path, db_must_exist=ctx.invoked_subcommand in NEED_AN_EXISTING_DATABASE,
                  keep_unset_env=unset_variables_kept_by(ctx.invoked_subcommand))


@main.group()
def bench() -> None:
    """Benchmarks that print measured speed and accuracy figures."""


pass_app = click.make_pass_decorator(App)


def hide_secrets_in_logs(level: int) -> None:
    """Command-line logs get the service's protections: secrets are redacted (see
    logging_setup.redact), and httpx's request lines stay quiet even with -vv."""
    from mentionwatch.logging_setup import SecretFilter, quiet_libraries

    quiet_libraries(level)
    secret_filter = SecretFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(secret_filter)

