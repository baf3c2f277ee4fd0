"""`mentionwatch backup FILE`: a safe copy of the database, also while the service runs."""
from __future__ import annotations

from pathlib import Path

import click

from mentionwatch.app import App, UserMistake, main, pass_app


@main.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@pass_app
def backup(app: App, file: Path, force: bool) -> None:
    """Copy the database to FILE: every mention, score, alert and setting stored, as one file.

    Safe while `mentionwatch run` is writing (a `cp` of the file is not): the copy is one
    consistent moment, checked before it gets its name. To restore it, stop the service and move
    it into place (`mv FILE mentionwatch.db`).
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
    click.echo(f"To restore it: stop the service, then move it into place (mv {summary.path} {app.db_path}).")


def _counted(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
