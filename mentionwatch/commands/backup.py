"""`mentionwatch backup FILE`: a safe copy of the database, also while the service runs;
`mentionwatch restore FILE`: put such a copy back, with the service stopped."""
from __future__ import annotations

from pathlib import Path

import click

from mentionwatch.app import App, UserMistake, describe_os_error, main, pass_app


@main.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@pass_app
def backup(app: App, file: Path, force: bool) -> None:
    """Copy the database to FILE: every mention, score, alert and setting stored, as one file.

    Safe while `mentionwatch run` is writing (a `cp` of the file is not): the copy is one
    consistent moment, checked before it gets its name. To restore it, stop the service and run
    `mentionwatch restore FILE`.
    """
    from storage.backup import BackupError, backup_database

    app.db.close()  # refuses a missing database or one a newer mentionwatch wrote, as other commands do
    if file.parent and not file.parent.is_dir():
        raise UserMistake(f"{file.parent}: no such folder (make it first: mkdir -p {file.parent})")
    try:
        summary = backup_database(Path(app.db_path), file, replace=force)
    except BackupError as exc:
        raise UserMistake(str(exc)) from None
    click.echo(f"Backed up {app.db_path} to {summary.path}: {_counted(summary.mentions, 'mention')}, "
               f"{_counted(summary.alerts, 'alert')}, {summary.size_bytes / 1e6:.1f} MB.")
    click.echo(f"To restore it: stop the service, then run: mentionwatch restore {summary.path}")


@main.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--yes", is_flag=True, help="Restore. Without it, only say what would be done.")
@pass_app
def restore(app: App, file: Path, yes: bool) -> None:
    """Put a copy of the backup FILE in the database's place, with the service stopped.

    The database it replaces is kept beside it, renamed with its write-ahead log
    (mentionwatch.db.before-restore-TIME, -wal, -shm): moving a backup over the file instead
    would leave that log to be applied to the backup, which damages it. FILE is left as it is.
    """
    from storage import utc_now_iso
    from storage.backup import BackupError, check_backup, restore_database

    target = Path(app.db_path)
    try:
        backup = check_backup(file)
        if not yes:
            click.echo(_restore_preview(file, target, backup))
            return
        done = restore_database(file, target, now=utc_now_iso().replace(":", ""),
                                running_service=_running_service)
    except BackupError as exc:
        raise UserMistake(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{target}: not restored: {describe_os_error(exc)}") from None
    click.echo(f"Restored {file} into {target}: {_counted(done.backup.mentions, 'mention')}, "
               f"{_counted(done.backup.alerts, 'alert')}.")
    if done.set_aside:
        click.echo(f"The database it replaced is kept as {done.set_aside[0]}"
                   + (" (with its log files)" if len(done.set_aside) > 1 else "")
                   + ": delete it once you are sure.")
    if done.later_erasures:
        click.echo(f"Warning: the replaced database records {done.later_erasures} erasure(s) made after "
                   "this backup: their posts are back; run those `mentionwatch forget` commands again.",
                   err=True)


def _restore_preview(file: Path, target: Path, backup) -> str:
    lines = [f"Would restore {file} ({_counted(backup.mentions, 'mention')}, "
             f"{_counted(backup.alerts, 'alert')}) into {target}."]
    if target.exists():
        lines.append(f"The database there now would be kept as {target}.before-restore-TIME.")
        service = _running_service(target)
        if service:
            lines.append(f"The service is running on it ({service}): stop it first.")
    lines.append("Nothing is restored yet: run the same command with --yes to restore.")
    return "\n".join(lines)


def _running_service(target: Path) -> str | None:
    """Which service works on the database at `target` (alive, or hung with its process still
    there: `scheduler.other_live_service`); None when none does, or the database cannot be read (a
    damaged one is being replaced)."""
    import sqlite3

    from scheduler import other_live_service
    from storage import open_db

    try:
        db = open_db(target, migrate=False)
    except (sqlite3.Error, OSError):
        return None
    try:
        return other_live_service(db)
    except sqlite3.Error:
        return None
    finally:
        db.close()


def _counted(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
