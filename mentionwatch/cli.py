"""Entry point of the `mentionwatch` command: the groups from app.py with every command module attached."""
from mentionwatch.app import main
from mentionwatch.commands import core  # noqa: F401  (init, import, search, stats, bench ingest)
from mentionwatch.commands import load_optional_commands

load_optional_commands()

__all__ = ["main"]
