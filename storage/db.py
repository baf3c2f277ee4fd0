"""Opening the database: one connection setup (WAL, busy timeout, migrations) used everywhere.

`open_db` is for commands that write; `open_db_to_read` for those that only read, which also work on
a database that cannot be written (a backup on read-only storage, a file without write permission).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import errno
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


class OlderSchemaError(sqlite3.DatabaseError):
    """A database that cannot be written has migrations still to apply: it cannot be brought up to date."""


class ReadOnlyDatabaseError(sqlite3.OperationalError):
    """The database cannot be written (file, folder or storage read-only); the message says why."""


def database_problem(exc: BaseException) -> str | None:
    """A plain-words line for a database error (locked, disk full ...); None for other errors."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return None
    if isinstance(exc, (NewerSchemaError, OlderSchemaError, ReadOnlyDatabaseError)):
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

    access = "read-write"  # or "read-only" (mode=ro), "immutable" (immutable=1): see open_db_to_read

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
    permissions. One that cannot be written raises ReadOnlyDatabaseError, saying why.
    """
    path = Path(path)
    in_the_way = file_in_the_way(path)
    if in_the_way is not None:  # SQLite would say only "unable to open database file"
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(in_the_way))
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    in_memory = str(path) == ":memory:"  # a throw-away database: no file, and no WAL to switch to
    if not in_memory:
        create_private_file(path)
        refuse_unwritable(path)
    db = _connect(str(path))
    try:
        refuse_newer_schema(db)  # before anything is written, even the journal mode
        if not in_memory:  # SQLite keeps ':memory:' in journal mode 'memory': waiting for WAL never ends
            _enable_wal(db)
        db.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: a crash loses no committed batch
        if migrate:
            migrate_schema(db)
    except BaseException:
        # a connection left open to a damaged file holds a lock: `restore` found the database
        # "open in another program" and could not replace it
        db.close()
        raise
    return db


def open_db_to_read(path: str | Path) -> Database:
    """Open an existing database for a command that only reads it.

    If it can be written: as open_db (WAL, migrations), so that a reader never holds up a writer.
    If not: opened read-only (see _connect_read_only), nothing written, and a schema older than the
    code raises OlderSchemaError.
    """
    path = Path(path)
    if not path.is_file() or unwritable_reason(path) is None:
        # as open_db: a live database left in rollback-journal mode (a backup moved into place by
        # hand) would let a reader hold up the service's writes
        return open_db(path)
    db = _connect_read_only(path)
    try:
        refuse_newer_schema(db)
        refuse_older_schema(db)
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


def _connect(target: str, *, uri: bool = False) -> _Database:
    """A connection with the settings every use shares (busy timeout, foreign keys, secure delete)."""
    conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False, uri=uri)
    db = _Database(conn)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
    db.execute("PRAGMA foreign_keys = ON")
    # Freed space is overwritten with zeros, as SQLite builds with SQLITE_SECURE_DELETE do anyway: a
    # full-text merge or a page split leaves no old copy of a post in free pages, where an erasure
    # (`mentionwatch forget`), which zeroes only what it deletes itself, could not reach it.
    db.execute("PRAGMA secure_delete = ON")
    return db


def unwritable_reason(path: str | Path) -> str | None:
    """Why the existing database file at `path` cannot be written, in a few words; None if it can.

    SQLite writes its -journal (or -wal and -shm) files beside the database, so a folder that
    cannot be written blocks writing too, unless the WAL files are there already and writable.
    """
    path = Path(path)
    if not path.is_file():
        return None
    if _on_read_only_storage(path):
        return "it is on read-only storage"
    if not os.access(path, os.W_OK):  # chmod, chattr +i (even for root)
        return "check file permissions"
    if not os.access(path.parent, os.W_OK) and not all(
            os.access(f"{path}{suffix}", os.W_OK) for suffix in ("-wal", "-shm")):
        return "its folder cannot be written, and SQLite keeps its journal files beside it"
    return None


def refuse_unwritable(path: str | Path) -> None:
    """Raise ReadOnlyDatabaseError for an existing database file that cannot be written."""
    reason = unwritable_reason(path)
    if reason is not None:
        raise ReadOnlyDatabaseError(f"database is read-only ({reason})")


def _on_read_only_storage(path: Path) -> bool:
    """Whether the file system holding `path` is mounted read-only."""
    if not hasattr(os, "statvfs"):  # Windows
        return False
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def unsaved_changes_beside(path: str | Path) -> str | None:
    """The name of a non-empty -wal or -journal file beside the database (changes not yet in the
    file itself, which an immutable reader would miss); None when there is none."""
    for suffix in ("-wal", "-journal"):
        side = Path(f"{path}{suffix}")
        try:
            if side.stat().st_size > 0:
                return side.name
        except OSError:
            continue
    return None


def _connect_read_only(path: Path) -> _Database:
    """A read-only connection (SQLite mode=ro); immutable=1 where even that cannot open the file.

    A WAL-mode database needs a -shm file beside it, even to read, which read-only storage cannot
    hold. immutable=1 reads the file alone: fine when nothing waits in a -wal or -journal file,
    refused otherwise (what is there would be missed).
    """
    uri = path.resolve().as_uri()
    try:
        return _read_only_connection(f"{uri}?mode=ro", "read-only")
    except sqlite3.OperationalError as exc:
        if not _cannot_open(exc):
            raise
    pending = unsaved_changes_beside(path)
    if pending:
        raise ReadOnlyDatabaseError(
            f"database is read-only, and changes in {pending} beside it cannot be read without write "
            f"access: copy {path.name} and {pending} together somewhere writable, and open the copy")
    return _read_only_connection(f"{uri}?immutable=1", "immutable")


def _read_only_connection(uri: str, access: str) -> _Database:
    """Connect to `uri` and read the schema, where SQLite says whether it can open the file at all."""
    db = _connect(uri, uri=True)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError:
        db.close()
        raise
    db.access = access
    return db


def _cannot_open(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_CANTOPEN (or a read-only refusal) from opening a WAL-mode database read-only."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY)
    return "unable to open" in str(exc) or "readonly" in str(exc)


def file_in_the_way(path: str | Path) -> Path | None:
    """The folder above `path` that is a file instead (`afile/mw.db` with `afile` a file), or None."""
    for folder in Path(path).parents:
        if folder.exists():
            return None if folder.is_dir() else folder
    return None


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


def refuse_older_schema(db: Database) -> None:
    """Raise OlderSchemaError when migrations are pending (for a database opened read-only)."""
    if not migrations.pending(db):
        return
    if not migrations.applied(db):
        raise OlderSchemaError("not a mentionwatch database yet (no tables), and it cannot be written")
    raise OlderSchemaError(
        "database was written by an older mentionwatch and cannot be brought up to date read-only: "
        "open it once with write access (any command, where it can be written), or copy it somewhere "
        "writable and use the copy")


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
