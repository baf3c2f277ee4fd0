"""Entry point of the `mentionwatch` command: the groups from app.py with every command module attached."""
import signal
import sys


def _command_name(argv: list[str]) -> str | None:
    """The subcommand in `mentionwatch [--config X] [--db Y] [-v] COMMAND ...`, read before click runs."""
    words = iter(argv)
    for word in words:
        if word in ("--config", "--db"):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def ignore_hangup_until_the_service_handles_it(argv: list[str]) -> None:
    """`mentionwatch run` reloads its watchlist on SIGHUP, once its handler is in place: until then
    (a second or two of imports and set-up) the default action of SIGHUP would kill it."""
    if hasattr(signal, "SIGHUP") and _command_name(argv) == "run":
        signal.signal(signal.SIGHUP, signal.SIG_IGN)


ignore_hangup_until_the_service_handles_it(sys.argv[1:])  # before the slow imports below

from mentionwatch.app import main  # noqa: E402
from mentionwatch.commands import (  # noqa: E402,F401  (importing a module registers its commands)
    alerts, backup, core, crawl, erasure, notify, rematch, sentiment, service, triage,
)

__all__ = ["main"]
