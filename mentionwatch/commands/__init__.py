"""Command modules; each attaches its commands to the groups in `mentionwatch.app` when imported."""
import importlib

# One module per area; each registers its own commands. Listed here so `cli.py` stays one line.
COMMAND_MODULES = (
    "mentionwatch.commands.crawl",
    "mentionwatch.commands.sentiment",
    "mentionwatch.commands.alerts",
    "mentionwatch.commands.triage",
    "mentionwatch.commands.service",
)


def load_optional_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but something it imports is missing
                raise
