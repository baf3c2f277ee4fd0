"""Notification commands: `notify test`, a test message to each notification target of the watchlist."""
from __future__ import annotations

import socket

import click

from mentionwatch.app import App, UserMistake, main, pass_app
from mentionwatch.terminal import terminal_safe


@main.group(name="notify")
def notify_group() -> None:
    """Check the watchlist's notification targets (`notifications:`)."""


@notify_group.command(name="test")
@click.option("--target", "target_name", default=None, metavar="NAME",
              help="Only the notification with this name [default: every one].")
@pass_app
def test_cmd(app: App, target_name: str | None) -> None:
    """Send a test message (no alert) to each notification target, and say which got it.

    It goes the way alerts go (apprise, the same timeouts, secrets kept out of the output), with
    the URLs this shell sees: run it where the service runs, with its environment, to check the
    service's. Nothing is stored. Exit code 1 when a target did not get it.
    """
    from alerts.notify import send_test

    app.require_config_file()
    configured = app.config.notifications
    known = ", ".join(target.name for target in configured) or "none"
    targets = [target for target in configured if target_name is None or target.name == target_name]
    if target_name is not None and not targets:
        raise UserMistake(f"no notification named {target_name!r} in {app.config_path} (known: {known})")
    if not targets:
        raise UserMistake(f"no notification targets in {app.config_path}: add one under `notifications:`")
    watchlist, host = str(app.config_path.resolve()), socket.gethostname()
    click.echo(f"Sending a test message to {len(targets)} notification target(s) of {app.config_path}:")
    failed = 0
    for target in targets:
        outcome, reason = send_test(target, watchlist, host)
        failed += outcome != "sent"
        click.echo(terminal_safe(f"  {target.name}: {outcome}" + (f": {reason}" if reason else "")))
    if failed:
        click.echo(f"{len(targets) - failed} of {len(targets)} got the test message.")
        raise SystemExit(1)
    click.echo("Every target got the test message: check that it arrived where you expect it.")
