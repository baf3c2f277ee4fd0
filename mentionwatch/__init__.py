"""mentionwatch: a self-hosted monitor of public mentions (CLI and configuration live here)."""

__version__ = "0.1.0"
