"""Every command and group has help text, and `--help` works for each."""
from __future__ import annotations

import click
import pytest

from mentionwatch.cli import main


def _commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


ALL_COMMANDS = list(_commands(main))


@pytest.mark.parametrize("path, command", ALL_COMMANDS, ids=[" ".join(p) for p, _ in ALL_COMMANDS])
def test_command_has_help(path, command, cli):
    assert command.help and command.help.strip(), f"{' '.join(path)} has no help text"
    result = cli(*path, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_foundation_commands_present():
    names = {" ".join(p) for p, _ in ALL_COMMANDS}
    assert {"init", "import", "search", "stats", "bench", "bench ingest"} <= names
