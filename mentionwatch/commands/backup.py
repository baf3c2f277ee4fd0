"""`mentionwatch backup FILE`: a safe copy of the database, also while the service runs;
`mentionwatch restore FILE`: put such a copy back, with the service stopped."""
from __future__ import annotations

from pathlib import Path

import click

from mentionwatch.app import App, UserMistake, actor_or_login_name, describe_os_error, main, pass_app
from mentionwatch.cli_types import GivenPath
from storage.db import file_in_the_way


@main.command()
@click.argument("file", type=GivenPath(path_type=Path, dir_okay=False))
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
    in_the_way = file_in_the_way(file)
    if in_the_way is not None:
        raise UserMistake(f"{file}: {in_the_way} is a file, not a folder")
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
@click.argument("file", type=GivenPath(path_type=Path, dir_okay=False))
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
    from storage.backup import BackupError, check_backup, refuse_the_database_itself, restore_database
    from storage.later_erasures import find

    target = Path(app.db_path)
    in_the_way = file_in_the_way(target)
    if in_the_way is not None:
        raise UserMistake(f"{target}: {in_the_way} is a file, not a folder ({app.db_path_named_by})")
    if target.is_dir():  # it would be set aside as "the replaced database", the backup in its place
        raise UserMistake(f"{target}: is a folder, not a database file ({app.db_path_named_by})")
    try:
        backup = check_backup(file)
        refuse_the_database_itself(file, target)
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
    kept = done.backup.mentions - done.erased_again
    click.echo(f"Restored {file} into {target}: {_counted(kept, 'mention')}"
               + (f" (of the backup's {done.backup.mentions:,})" if done.erased_again else "")
               + f", {_counted(done.backup.alerts, 'alert')}.")
    if done.set_aside:
        click.echo(f"The database it replaced is kept as {done.set_aside[0]}"
                   + (" (with its log files)" if len(done.set_aside) > 1 else "")
                   + ": delete it once you are sure.")
        erased = len(done.later.mention_ids) if bring_back_erased else done.erased_again
        for line, is_warning in _later_erasure_lines(done.later, erased, bring_back_erased, done=True):
            click.echo(("Warning: " if is_warning else "") + line, err=is_warning)


def _later_erasure_lines(later, erased: int, bring_back_erased: bool, done: bool) -> list[tuple[str, bool]]:
    """What becomes (`done`: became) of the erasures the replaced database made after the backup:
    (line, is a warning)."""
    if later.unreadable:
        return [(f"the replaced database {'could not' if done else 'cannot'} be read ({later.unreadable}): posts "
                 f"erased after this backup, if any, {'are' if done else 'would be'} back; run those "
                 "`mentionwatch forget` commands again.", True)]
    if later.unrelated:
        return [(f"the replaced database is not a later state of this backup ({later.unrelated}): no erasure "
                 f"it records {'was' if done else 'would be'} carried; run the `mentionwatch forget` commands "
                 "made since the backup again.", True)]
    if not later.carried:
        return []
    lines = []
    posts = _counted(erased, "post")
    keeping = later.keeping_out
    if bring_back_erased and erased:
        lines.append((f"{posts} kept out by erasures made since this backup {_verb(erased, done, 'back')}, as "
                      "--bring-back-erased asked; those erasures no longer keep them out.", True))
    elif bring_back_erased:
        lines.append(("--bring-back-erased: what the erasures made since this backup keep out is not carried "
                      "into the restored database.", True))
    elif erased:
        lines.append((f"{posts} erased since this backup {_verb(erased, done, 'erased again')}; what those "
                      "erasures keep out stays out (--bring-back-erased keeps them).", False))
    elif keeping:
        lines.append((f"The {_counted(keeping, 'erasure')} made since this backup removed none of its posts; "
                      f"what {'it keeps' if keeping == 1 else 'they keep'} out stays out.", False))
    if later.keeping_nothing_out:
        one = later.keeping_nothing_out == 1
        lines.append((f"{_counted(later.keeping_nothing_out, 'erasure')} made since this backup (or under way when "
                      f"it was taken) kept nothing out (forget --allow-again): {'its' if one else 'their'} posts "
                      f"cannot be found in it and may be back; run {'it' if one else 'them'} again if so.", True))
    if later.cutoff_lifted and not bring_back_erased:
        lines.append(("History before an erasure's date, let in again since this backup (forget "
                      "--lift-cutoff), stays let in.", False))
    return lines


def _verb(count: int, done: bool, what: str) -> str:
    if not done:
        return f"would be {what}"
    return f"{'was' if count == 1 else 'were'} {what}" if what != "back" else f"{'is' if count == 1 else 'are'} back"


def _restore_preview(file: Path, target: Path, backup, later, bring_back_erased: bool) -> str:
    lines = [f"Would restore {file} ({_counted(backup.mentions, 'mention')}, "
             f"{_counted(backup.alerts, 'alert')}) into {target}."]
    if target.exists():
        lines.append(f"The database there now would be kept as {target}.before-restore-TIME.")
        service = _running_service(target)
        if service:
            lines.append(f"The service is running on it ({service}): stop it first.")
        if later is not None:
            lines += [("Warning: " if is_warning else "") + line for line, is_warning
                      in _later_erasure_lines(later, len(later.mention_ids), bring_back_erased, done=False)]
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
