"""Command modules; each attaches its commands to the groups in `mentionwatch.app` when imported by `cli.py`."""
