"""A consistent copy of the database while the service keeps writing (`mentionwatch backup`).

Copying the file with `cp` while the service runs can miss what is still in its write-ahead log
(`mentionwatch.db-wal`) or catch a batch half-written. SQLite's `VACUUM INTO` reads one snapshot
(committed batches only) without stopping writers, and writes a compact copy: no free pages, so no
leftovers of erased posts. The copy is written under a temporary name, checked, switched out of WAL
mode (one self-contained file) and only then given its name.

`restore_database` (`mentionwatch restore`) puts a copy of a backup in the database's place, with
the service stopped; the database it replaces is renamed together with its write-ahead log, which
SQLite would otherwise apply to the restored file and damage it. Erasures the replaced database
made after the backup are carried into the copy (storage/later_erasures.py).
"""
from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from storage.db import (BUSY_TIMEOUT_SECONDS, create_private_file, open_db, open_db_to_read, unwritable_reason,
                        utc_now_iso)
from storage.later_erasures import LaterErasures, carry_into, find


@dataclass
class BackupSummary:
    """What the copy holds."""

    path: Path
    size_bytes: int
    mentions: int
    alerts: int


DATABASE_COMPANIONS = ("-wal", "-shm", "-journal")  # SQLite's own files beside the database


def is_one_of_its_files(path: Path, database: Path) -> bool:
    """Whether `path` is the database or one of SQLite's files beside it (its -wal, -shm, -journal),
    through links too: writing there would destroy what is stored."""
    target = Path(path).resolve()
    database = Path(database).resolve()
    return target == database or any(target == database.with_name(database.name + suffix)
                                     for suffix in DATABASE_COMPANIONS)


class BackupError(Exception):
    """The copy could not be made or is not sound; nothing was left under the backup's name."""


def backup_database(source: Path, destination: Path, *, replace: bool = False) -> BackupSummary:
    """Copy the database at `source` to `destination` (refused if it exists, unless `replace`)."""
    source, destination = Path(source), Path(destination)
    if destination.resolve() == source.resolve():
        raise BackupError(f"{destination}: is the database itself: give the backup another name")
    if is_one_of_its_files(destination, source):
        raise BackupError(f"{destination}: is one of the database's own files: give the backup another name")
    if destination.exists() and not replace:
        raise BackupError(f"{destination}: already exists (give another name, or --force to replace it)")
    partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    try:
        create_private_file(partial)  # 0600 while it fills (VACUUM INTO accepts an empty file)
        try:
            _vacuum_into(source, partial)
        except sqlite3.OperationalError as exc:
            _refuse_where_the_copy_goes(exc, destination)
            raise
        summary = _checked(partial)
        os.chmod(partial, os.stat(source).st_mode & 0o777)  # as private as the database itself
        if replace:
            os.replace(partial, destination)
        else:
            _put_where_nothing_is(partial, destination)
    finally:
        _remove_with_journals(partial)
    summary.path = destination
    return summary


def _put_where_nothing_is(partial: Path, destination: Path) -> None:
    """The finished copy at `destination`, refused if a file appeared there while it was made (two
    backups to one new name at once: the second must not replace the first unasked)."""
    already = BackupError(f"{destination}: already exists: another backup wrote it meanwhile (give another "
                          "name, or --force to replace it)")
    try:
        os.link(partial, destination)  # fails where a file is, as a rename would not
    except FileExistsError:
        if destination.is_symlink() and not destination.exists():
            raise BackupError(f"{destination}: is a link to a file that does not exist (give another name, "
                              "or --force to replace the link)") from None
        raise already from None
    except OSError:  # a file system without hard links (FAT, some network shares)
        if destination.exists():
            raise already from None
        os.replace(partial, destination)


def _refuse_where_the_copy_goes(exc: sqlite3.OperationalError, destination: Path) -> None:
    """A full disk or a folder SQLite cannot write while copying is the backup's, not the database's:
    said so (the generic line would name the database, and send the user to free space there)."""
    text = str(exc).lower()
    if "full" in text:
        raise BackupError(f"{destination}: disk full: the backup does not fit there (free some space on "
                          "that disk, or give a folder on another one); nothing was left under its name")
    if "disk i/o" in text:
        raise BackupError(f"{destination}: could not be written (disk I/O error: a full or failing "
                          "disk, or a file size limit?); nothing was left under its name")
    if "unable to open" in text or "readonly" in text or "read-only" in text:
        raise BackupError(f"{destination}: cannot be written ({exc}); nothing was left under its name")


def _vacuum_into(source: Path, partial: Path) -> None:
    if unwritable_reason(source) is not None:  # a backup on read-only storage: read it as it is
        connection = open_db_to_read(source).conn
    else:
        connection = sqlite3.connect(source, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        connection.execute("VACUUM INTO ?", (str(partial),))
    finally:
        connection.close()


def _checked(partial: Path) -> BackupSummary:
    """Integrity of the copy, its counts, and rollback-journal mode (no -wal file beside it). Its
    service row says stopped: the service running when it was taken runs on the database, not on
    the copy (`status` on the backup said it ran there, and a service or a restore into a copy of
    it was refused)."""
    connection = sqlite3.connect(partial)
    try:
        connection.execute("PRAGMA journal_mode = DELETE")
        _service_stopped(connection)
        return _summary_if_sound(connection, partial, "the copy")
    finally:
        connection.close()


def _summary_if_sound(connection: sqlite3.Connection, path: Path, named: str) -> BackupSummary:
    """The file's counts, after SQLite's own check (BackupError naming the file as `named`)."""
    problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise BackupError(f"{named} failed SQLite's check: {'; '.join(problems[:3])}")
    return BackupSummary(path, path.stat().st_size, _count(connection, "mentions"), _count(connection, "alerts"))


def _count(connection: sqlite3.Connection, table: str) -> int:
    return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] if _has_table(connection, table) else 0


@dataclass
class RestoreSummary:
    """What `restore_database` did."""

    backup: BackupSummary
    set_aside: list[Path]  # the files of the database it replaced, renamed (empty: there was none)
    later: LaterErasures  # what the replaced database erased after the backup was taken
    erased_again: int  # the backup's posts erased again in the restored copy (0 with bring_back_erased)


class ServiceStillRunning(BackupError):
    """A service works on the database to be replaced: it must be stopped first."""


def refuse_the_database_itself(backup: Path, target: Path) -> None:
    """A 'backup' that is the database to be replaced (restore's preview says so too)."""
    if Path(backup).resolve() == Path(target).resolve():
        raise BackupError(f"{backup}: is the database itself: nothing to restore")


def restore_database(backup: Path, target: Path, *, now: str, running_service=None,
                     bring_back_erased: bool = False, actor: str | None = None) -> RestoreSummary:
    """Put a copy of `backup` at `target`; the database there, with its write-ahead log, is renamed
    (`<name>.before-restore-<now>`, `-wal` and `-shm` alike), never deleted and never mixed with the
    copy: a log left beside the restored file would be applied to it and damage it.

    `running_service(target) -> str | None` says which service works on the database (refused), and
    a database another program has open (`browse`, a crawl) is refused too: it would go on with the
    replaced file. A link at `target` is followed: the file it points to is restored, the link
    stays. The restored file gets the permissions and owner of the one it replaces. The backup
    file itself is left as it is.

    Posts the replaced database erased after the backup was taken are erased again in the copy, and
    what those erasures keep out is kept out (see storage/later_erasures.py), unless
    `bring_back_erased` (restoring to undo an erasure made by mistake)."""
    backup, target = Path(backup), Path(target).resolve()
    checked = check_backup(backup)
    refuse_the_database_itself(backup, target)
    if target.exists():
        _refuse_if_in_use(target, running_service)
    state_before = _written_state(target)
    later = find(backup, target, count_posts=bring_back_erased) if target.exists() else LaterErasures()
    erased_again = 0
    partial = target.with_name(f".{target.name}.restoring-{os.getpid()}")
    _remove_with_journals(partial)
    try:
        try:
            _copy_through_sqlite(backup, partial)
            if later.carried and not bring_back_erased:
                erased_again = _erase_again(partial, later, actor)
            _settled(partial)
            _same_access_as(partial, target)
        except (OSError, sqlite3.Error) as exc:
            raise BackupError(f"{target.parent}: not restored, the copy could not be written there "
                              f"({getattr(exc, 'strerror', None) or exc}); nothing was changed") from None
        _refuse_if_written_meanwhile(target, state_before, running_service)
        set_aside = _set_aside(target, f"before-restore-{now}")
        os.replace(partial, target)
    finally:
        _remove_with_journals(partial)
    return RestoreSummary(checked, set_aside, later, erased_again)


def _erase_again(copy: Path, later: LaterErasures, actor: str | None) -> int:
    db = open_db(copy)  # a backup from an older version is brought up to date first, as its next use would
    try:
        return carry_into(db, later, actor)
    finally:
        db.close()


def _written_state(target: Path) -> tuple:
    """What changes when anything writes to the database: its header (SQLite's change counter, the
    journal mode a new connection switches back to WAL), its size, whether a write-ahead log is there."""
    try:
        with open(target, "rb") as database:
            header = database.read(100)
        return header, target.stat().st_size, Path(f"{target}-wal").exists()
    except OSError:
        return ()


def _refuse_if_written_meanwhile(target: Path, state_before: tuple, running_service) -> None:
    """A command that opened the database while the copy was made (a `forget`, an `import`) would
    have its work set aside with the replaced file, silently: refused, nothing replaced."""
    written = _written_state(target) != state_before  # before the check below rewrites the header
    if target.exists():
        _refuse_if_in_use(target, running_service)
    if written:
        raise BackupError(f"{target}: not restored: another command wrote to it while the copy was made "
                          "(an import, a forget ...); nothing was changed: run restore again")


def _refuse_if_in_use(target: Path, running_service) -> None:
    """The service, or any program with the database open, would go on with the replaced file."""
    if running_service is not None:
        service = running_service(target)
        if service:
            raise ServiceStillRunning(f"the service is running on {target} ({service}): stop it first")
    try:
        connection = sqlite3.connect(target, timeout=1)
    except sqlite3.Error:
        return  # damaged beyond opening: nothing can be using it well
    try:
        # leaving WAL needs the database to itself: it fails while another connection is open (and
        # writes what waits in the log into the file, which is then set aside as one file)
        mode = connection.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise BackupError(f"another program has {target} open (mentionwatch browse, a crawl, an "
                              "export ...): close it, then restore") from None
        return
    except sqlite3.DatabaseError:
        return  # damaged: it is being replaced
    finally:
        connection.close()
    if mode != "delete":
        raise BackupError(f"another program has {target} open (mentionwatch browse, a crawl, an "
                          "export ...): close it, then restore")


def _copy_through_sqlite(backup: Path, partial: Path) -> None:
    """A copy made by SQLite: a backup copied by hand with its -wal beside it holds what is in that
    log too (a file copy would lose it). 0600 while it is made."""
    create_private_file(partial)
    source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    destination = sqlite3.connect(partial)
    try:
        source.backup(destination)
    finally:
        destination.close()
        source.close()


def _same_access_as(copy: Path, target: Path) -> None:
    """The permissions and owner of the database it replaces (the service's user must write it)."""
    if not target.exists() or os.name == "nt":
        return
    status = os.stat(target)
    os.chmod(copy, status.st_mode & 0o777)
    if (status.st_uid, status.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.chown(copy, status.st_uid, status.st_gid)
        except PermissionError:
            pass  # not ours to give away: the permissions at least are kept


def _remove_with_journals(path: Path) -> None:
    for extra in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{extra}").unlink(missing_ok=True)


def check_backup(path: Path) -> BackupSummary:
    """A backup's counts, after SQLite's check; BackupError for a file that is not a sound
    mentionwatch database."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot be opened ({exc})") from None
    try:
        summary = _summary_if_sound(connection, path, f"{path}: not restored:")
        if not _has_table(connection, "mentions"):
            raise BackupError(f"{path}: is not a mentionwatch database (no mentions table)")
        unknown = _unknown_migrations(connection)
        if unknown:
            raise BackupError(f"{path}: was written by a newer mentionwatch (unknown migration "
                              f"{', '.join(unknown)}): upgrade mentionwatch first")
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: is not a database SQLite can read ({exc})") from None
    finally:
        connection.close()
    return summary


def _settled(copy: Path) -> None:
    """The copy's service row says stopped: the service that was running when the backup was taken
    is not this database's any more (`status` called it crashed). And the copy is switched back to
    WAL, as a live database is (a backup is one file, in rollback-journal mode), so that commands
    that only read it do not hold up the service's writes."""
    connection = sqlite3.connect(copy)
    try:
        _service_stopped(connection)
        connection.execute("PRAGMA journal_mode = WAL")
    finally:
        connection.close()  # the last connection: its -wal and -shm go with it


_TAKEN_DURING_IT = "the backup was taken during this run"


def _service_stopped(connection: sqlite3.Connection) -> None:
    """In a copy, no service runs: its row says stopped, and the runs going on when the copy was
    taken are closed as interrupted (as a start closes a stopped service's; status on the copy
    showed them running under a stopped service)."""
    now = utc_now_iso()
    with connection:
        if _has_table(connection, "service_process"):
            connection.execute("UPDATE service_process SET state = 'stopped' "
                               "WHERE state IN ('running', 'starting', 'stopping')")
        if _has_table(connection, "job_runs"):
            connection.execute("UPDATE job_runs SET status = 'interrupted', finished_at = ?, detail = ? "
                               "WHERE status = 'running'", [now, _TAKEN_DURING_IT])
        if _has_table(connection, "crawl_runs"):
            connection.execute("UPDATE crawl_runs SET status = 'failed', finished_at = ?, errors = ? "
                               "WHERE status = 'running'", [now, json.dumps([f"interrupted: {_TAKEN_DURING_IT}"])])


def _set_aside(target: Path, suffix: str) -> list[Path]:
    """Rename the database file and its -wal, -shm and -journal files, keeping them a set SQLite
    can open together (`X.suffix`, `X.suffix-wal` ...), under names no file has yet (a second
    restore within the same second gets `X.suffix-2`)."""
    extras = ("", "-wal", "-shm", "-journal")
    name, number = f"{target}.{suffix}", 1
    while any(Path(f"{name}{extra}").exists() for extra in extras):
        number += 1
        name = f"{target}.{suffix}-{number}"
    moved = []
    for extra in extras:
        path = Path(f"{target}{extra}")
        if path.exists():
            new_name = Path(f"{name}{extra}")
            os.replace(path, new_name)
            moved.append(new_name)
    return moved


def _unknown_migrations(connection: sqlite3.Connection) -> list[str]:
    from storage.migrations import migrations

    if not _has_table(connection, "_sqlite_migrations"):
        return []
    known = {migration.name for migration in migrations._migrations}  # as storage.db reads them
    applied = connection.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = ?",
                                 (migrations.name,)).fetchall()
    return [name for (name,) in applied if name not in known]


def _has_table(connection: sqlite3.Connection, table: str) -> bool:
    return connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                              (table,)).fetchone() is not None
