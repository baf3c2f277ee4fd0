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


def _interrupted_while_loading(_signum, _frame) -> None:
    """Ctrl-C during the imports below (half a second or more): the line every command ends with
    on Ctrl-C, not a traceback through the import machinery."""
    sys.stderr.write("\nInterrupted.\n")
    raise SystemExit(130)


def _quiet_ctrl_c_while_loading() -> bool:
    """Install `_interrupted_while_loading` where Ctrl-C would raise KeyboardInterrupt; not where it
    is ignored (a job a script started in the background must survive a Ctrl-C meant for the
    script), nor outside the main thread (where signal handlers cannot be set)."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return False
    try:
        signal.signal(signal.SIGINT, _interrupted_while_loading)
    except ValueError:
        return False
    return True


ignore_hangup_until_the_service_handles_it(sys.argv[1:])  # before the slow imports below
_LOADING_HANDLER = _quiet_ctrl_c_while_loading()

from mentionwatch.app import main  # noqa: E402
from mentionwatch.commands import (  # noqa: E402,F401  (importing a module registers its commands)
    alerts, backup, core, crawl, erasure, notify, rematch, sentiment, service, triage,
)

if _LOADING_HANDLER:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # KeyboardInterrupt again: each command handles it

__all__ = ["main"]
