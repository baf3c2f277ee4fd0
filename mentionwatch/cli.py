"""Entry point of the `mentionwatch` command: the groups from app.py with every command module attached."""
from mentionwatch.app import main
from mentionwatch.commands import (  # noqa: F401  (importing a module registers its commands)
    alerts, core, crawl, sentiment, service, triage,
)

__all__ = ["main"]
