"""Opening the database: one connection setup (WAL, busy timeout, migrations) used everywhere."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import time
from pathlib import Path

from sqlite_utils import Database

from storage.migrations import migrations
from storage.timeutil import to_iso

BUSY_TIMEOUT_SECONDS = 30


def utc_now_iso() -> str:
    """The current time as stored text."""
    return to_iso(dt.datetime.now(dt.timezone.utc))


class NewerSchemaError(sqlite3.DatabaseError):
    """The database has migrations this mentionwatch does not know: a newer version wrote it.

    A DatabaseError, so every place that reports database errors in one line reports this one too.
    """


def database_problem(exc: BaseException) -> str | None:
    """A plain-words line for a database error (locked, disk full ...); None for other errors."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return None
    if isinstance(exc, NewerSchemaError):
        return str(exc)
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return "database is locked by another process"
    if "full" in text:
        return "disk full: the database cannot grow (free some space)"
    if "readonly" in text or "read-only" in text:
        return "database is read-only (check file permissions)"
    if "disk i/o" in text:
        return "disk I/O error while writing the database"
    return f"database error: {exc}"


class _Database(Database):
    """sqlite-utils' Database whose transactions take the write lock when they begin.

    `atomic()` of sqlite-utils starts with a plain (deferred) BEGIN. Every transaction here reads
    before it writes (the highest id, existing rows), and in WAL mode a transaction that read and
    then wants to write while another connection has committed meanwhile fails at once with
    'database is locked', without waiting out the busy timeout. BEGIN IMMEDIATE takes the write
    lock first, waiting for it, so concurrent writers (the service's jobs, a command typed by hand)
    queue up instead of failing.
    """

    @contextlib.contextmanager
    def atomic(self):
        if self.conn.in_transaction:  # nested: a savepoint, as sqlite-utils does
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


def open_db(path: str | Path, *, migrate: bool = True) -> Database:
    """Open (creating if needed) a mentionwatch database and bring its schema up to date.

    The connection waits up to 30 s for a lock held by another process (the service and the
    CLI may share one file), and WAL lets readers go on while a writer commits. A new database file
    is created private to its owner (0600, see create_private_file); an existing one keeps its
    permissions.
    """
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    in_memory = str(path) == ":memory:"  # a throw-away database: no file, and no WAL to switch to
    if not in_memory:
        create_private_file(path)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
    db = _Database(conn)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
    db.execute("PRAGMA foreign_keys = ON")
    # Freed space is overwritten with zeros, as SQLite builds with SQLITE_SECURE_DELETE do anyway: a
    # full-text merge or a page split leaves no old copy of a post in free pages, where an erasure
    # (`mentionwatch forget`), which zeroes only what it deletes itself, could not reach it.
    db.execute("PRAGMA secure_delete = ON")
    try:
        refuse_newer_schema(db)  # before anything is written, even the journal mode
    except NewerSchemaError:
        db.close()
        raise
    if not in_memory:  # SQLite keeps ':memory:' in journal mode 'memory': waiting for WAL never ends
        _enable_wal(db)
    db.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: a crash loses no committed batch
    if migrate:
        migrate_schema(db)
    return db


def create_private_file(path: str | Path) -> bool:
    """Create `path` as an empty file its owner alone may read and write (0600); True if created.

    Done before SQLite opens a new database, which would otherwise create it readable by everyone
    (0644 under the usual umask 022): the file holds collected posts, authors and alert notes.
    SQLite gives the `-wal`, `-shm` and `-journal` files the database file's permissions, so they
    follow. An empty file is a new, empty database to SQLite. A file that already exists (made
    by another process a moment ago too: O_EXCL) is left exactly as it is, permissions included:
    a team may have given its group access on purpose. Any other failure (a folder that cannot be
    written) is left for SQLite to report in its own words, as before. Nothing is done on Windows,
    where these permission bits mean nothing.
    """
    if os.name == "nt":
        return False
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError:
        return False
    os.close(descriptor)
    return True


def _enable_wal(db: Database) -> None:
    """Switch the file to WAL (it stays so), retrying while another process holds a lock.

    Changing the journal mode needs an exclusive lock, and SQLite answers 'database is locked' at
    once instead of waiting out the busy timeout when another connection is opening the same new
    file; WAL set by that other connection counts too.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            if db.journal_mode == "wal":
                return
            db.enable_wal()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def refuse_newer_schema(db: Database) -> None:
    """Raise NewerSchemaError when the database records a migration this code does not have.

    Writing to a schema this version does not know could corrupt data the newer version relies on.
    """
    known = {migration.name for migration in migrations._migrations}  # sqlite-utils has no public list
    unknown = [applied.name for applied in migrations.applied(db) if applied.name not in known]
    if unknown:
        raise NewerSchemaError(
            f"database was written by a newer mentionwatch (unknown migration "
            f"{', '.join(unknown)}); upgrade mentionwatch")


def migrate_schema(db: Database) -> None:
    """Apply pending migrations, safely when several processes open the same file at once.

    The write lock is taken first (BEGIN IMMEDIATE, waiting out the busy timeout for another
    process that is migrating), and only then is the list of applied migrations read, so a
    process that waited sees the other's work and applies nothing twice. All pending migrations
    commit together: a database is never left half-migrated. (A migration registered with
    transactional=False, e.g. one that runs VACUUM, would need to run outside this transaction.)
    An up-to-date database takes no write lock at all.
    """
    if not migrations.pending(db):
        return
    with db.atomic():  # BEGIN IMMEDIATE (see _Database)
        migrations.apply(db)  # re-reads what is applied, now under the write lock


@contextlib.contextmanager
def read_snapshot(db: Database):
    """A series of reads that see one state of the database (in WAL mode: what was committed when
    the first of them ran), while the service goes on writing. Inside a transaction already: that one."""
    if db.conn.in_transaction:
        yield
        return
    db.conn.execute("BEGIN")  # deferred: takes no lock, only pins the snapshot at the first read
    try:
        yield
    finally:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")  # nothing was written: ends the read
