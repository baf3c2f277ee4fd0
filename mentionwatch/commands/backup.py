"""`mentionwatch backup FILE`: a safe copy of the database, also while the service runs;
`mentionwatch restore FILE`: put such a copy back, with the service stopped."""
from __future__ import annotations

from pathlib import Path

import click

from mentionwatch.app import App, UserMistake, actor_or_login_name, describe_os_error, main, pass_app


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
@click.option("--bring-back-erased", is_flag=True,
              help="Keep the posts that erasures made after the backup removed (to undo an erasure made by "
                   "mistake). Without it they are erased again in the restored copy.")
@pass_app
def restore(app: App, file: Path, yes: bool, bring_back_erased: bool) -> None:
    """Put a copy of the backup FILE in the database's place, with the service stopped.

    The database it replaces is kept beside it, renamed with its write-ahead log
    (mentionwatch.db.before-restore-TIME, -wal, -shm): moving a backup over the file instead
    would leave that log to be applied to the backup, which damages it. FILE is left as it is.

    Posts that `forget` erased after the backup was taken are erased again in the restored copy,
    and what those erasures keep out stays out, unless --bring-back-erased.
    """
    from storage import utc_now_iso
    from storage.backup import BackupError, check_backup, restore_database
    from storage.later_erasures import find

    target = Path(app.db_path)
    try:
        backup = check_backup(file)
        if not yes:
            later = find(file, target) if target.exists() else None
            click.echo(_restore_preview(file, target, backup, later, bring_back_erased))
            return
        done = restore_database(file, target, now=utc_now_iso().replace(":", ""), running_service=_running_service,
                                bring_back_erased=bring_back_erased, actor=actor_or_login_name(None))
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
        _say_later_erasures(done.later, done.erased_again, bring_back_erased)


def _say_later_erasures(later, erased_again: int, bring_back_erased: bool) -> None:
    """What became of the erasures the replaced database made after the backup."""
    erasures = _counted(len(later.log), "erasure")
    if later.unreadable:
        click.echo(f"Warning: the replaced database could not be read ({later.unreadable}): if posts were "
                   "erased after this backup, they are back; run those `mentionwatch forget` commands again.",
                   err=True)
    elif not later.log:
        return
    elif later.unrelated:
        click.echo(f"Warning: the replaced database records {erasures} made after this backup, but it does not "
                   f"descend from it ({later.unrelated}): nothing was erased again; run those `mentionwatch "
                   "forget` commands again.", err=True)
    elif bring_back_erased:
        click.echo(f"Warning: {_counted(len(later.mention_ids), 'post')} erased after this backup ({erasures}) "
                   "are back, as --bring-back-erased asked; what those erasures keep out is no longer kept out.",
                   err=True)
    elif not erased_again:
        click.echo(f"The {erasures} made after this backup removed none of its posts; what "
                   f"{'it keeps' if len(later.log) == 1 else 'they keep'} out stays out.")
    else:
        click.echo(f"{_counted(erased_again, 'post')} erased after this backup ({erasures}) "
                   f"{'was' if erased_again == 1 else 'were'} erased again, and what those erasures keep out "
                   "stays out (--bring-back-erased keeps them).")


def _restore_preview(file: Path, target: Path, backup, later, bring_back_erased: bool) -> str:
    lines = [f"Would restore {file} ({_counted(backup.mentions, 'mention')}, "
             f"{_counted(backup.alerts, 'alert')}) into {target}."]
    if target.exists():
        lines.append(f"The database there now would be kept as {target}.before-restore-TIME.")
        service = _running_service(target)
        if service:
            lines.append(f"The service is running on it ({service}): stop it first.")
        if later is not None and later.unreadable:
            lines.append(f"It cannot be read ({later.unreadable}): posts erased after this backup, if any, "
                         "would be back.")
        elif later is not None and later.unrelated and later.log:
            lines.append(f"It records {_counted(len(later.log), 'erasure')} made after this backup but does not "
                         f"descend from it ({later.unrelated}): their posts would not be erased again.")
        elif later is not None and later.carried:
            posts = _counted(len(later.mention_ids), "post")
            lines.append(f"It records {_counted(len(later.log), 'erasure')} made after this backup: "
                         + (f"their {posts} would be back (--bring-back-erased)." if bring_back_erased else
                            f"their {posts} would be erased again in the restored copy, and what they keep "
                            "out kept out (--bring-back-erased keeps them)."))
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
