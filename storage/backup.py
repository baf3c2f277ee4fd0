"""A consistent copy of the database while the service keeps writing (`mentionwatch backup`).

Copying the file with `cp` while the service runs can miss what is still in its write-ahead log
(`mentionwatch.db-wal`) or catch a batch half-written. SQLite's `VACUUM INTO` reads one snapshot
(committed batches only) without stopping writers, and writes a compact copy: no free pages, so no
leftovers of erased posts. The copy is written under a temporary name, checked, switched out of WAL
mode (one self-contained file) and only then given its name.
"""
from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from storage.db import BUSY_TIMEOUT_SECONDS, create_private_file


@dataclass
class BackupSummary:
    """What the copy holds."""

    path: Path
    size_bytes: int
    mentions: int
    alerts: int


class BackupError(Exception):
    """The copy could not be made or is not sound; nothing was left under the backup's name."""


def backup_database(source: Path, destination: Path, *, replace: bool = False) -> BackupSummary:
    """Copy the database at `source` to `destination` (refused if it exists, unless `replace`)."""
    source, destination = Path(source), Path(destination)
    if destination.resolve() == source.resolve():
        raise BackupError(f"{destination}: is the database itself: give the backup another name")
    if destination.exists() and not replace:
        raise BackupError(f"{destination}: already exists (give another name, or --force to replace it)")
    partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    try:
        create_private_file(partial)  # 0600 while it fills (VACUUM INTO accepts an empty file)
        _vacuum_into(source, partial)
        summary = _checked(partial)
        os.chmod(partial, os.stat(source).st_mode & 0o777)  # as private as the database itself
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    summary.path = destination
    return summary


def _vacuum_into(source: Path, partial: Path) -> None:
    connection = sqlite3.connect(source, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        connection.execute("VACUUM INTO ?", (str(partial),))
    finally:
        connection.close()


def _checked(partial: Path) -> BackupSummary:
    """Integrity of the copy, its counts, and rollback-journal mode (no -wal file beside it)."""
    connection = sqlite3.connect(partial)
    try:
        connection.execute("PRAGMA journal_mode = DELETE")
        problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise BackupError(f"the copy failed SQLite's check: {'; '.join(problems[:3])}")
        mentions = _count(connection, "mentions")
        alerts = _count(connection, "alerts")
    finally:
        connection.close()
    return BackupSummary(partial, partial.stat().st_size, mentions, alerts)


def _count(connection: sqlite3.Connection, table: str) -> int:
    exists = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] if exists else 0
