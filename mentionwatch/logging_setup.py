"""Log output of the background service: one line per event, as text or as JSON for log shippers.

A log call may carry structured fields with `extra={"fields": {...}}`; the text format appends them
as `key=value`, the JSON format puts them at the top level of the object. A `SecretFilter` on the
handler replaces any known secret (notification URLs, tokens from the environment) with
`[redacted]`, so a secret that slips into an error message still never reaches the log.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
from collections.abc import Iterable

REDACTED = "[redacted]"
_SECRET_ENV_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|KEY|URL|WEBHOOK)", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(\w+://)[^/\s:@]+:[^/\s@]+@")
_MIN_SECRET_LENGTH = 6  # shorter values would redact ordinary words


class SecretFilter(logging.Filter):
    """Replaces known secret values, and user:password in URLs, in every record's text."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets: list[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        found = {s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}
        # longest first, so a secret containing another is replaced whole
        self.secrets = sorted(set(self.secrets) | found, key=len, reverse=True)

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _URL_CREDENTIALS.sub(rf"\1{REDACTED}@", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.clean(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {k: self.clean(v) if isinstance(v, str) else v for k, v in fields.items()}
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.clean(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def secrets_from_environment(environ: dict[str, str] | None = None) -> list[str]:
    """Values of MENTIONWATCH_* variables whose names say they hold a token, key, password or URL."""
    environ = os.environ if environ is None else environ
    return [value for name, value in environ.items()
            if name.upper().startswith("MENTIONWATCH_") and _SECRET_ENV_NAME.search(name)
            and name.upper() not in ("MENTIONWATCH_CONFIG", "MENTIONWATCH_DB")]


def _utc_timestamp(record: logging.LogRecord) -> str:
    moment = dt.datetime.fromtimestamp(record.created, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    """`2026-01-01T10:00:00.123Z INFO mentionwatch.service: message key=value ...`."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_utc_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            line += " " + " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


def _text_value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if (not text or any(c in text for c in ' ="\n')) else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": _utc_timestamp(record), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(key, value)
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(log_format: str = "text", level: int = logging.INFO,
                      secrets: Iterable[str] = (), stream=None) -> SecretFilter:
    """Send every log record to stderr (or `stream`) in the chosen format; returns the secret filter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    secret_filter = SecretFilter([*secrets_from_environment(), *secrets])
    handler.addFilter(secret_filter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler's own lines ("Running job", "skipped: maximum number of running instances",
    # "raised an exception") would double the service's: its event listener logs those
    logging.getLogger("apscheduler").setLevel(max(level, logging.ERROR))
    logging.getLogger("apscheduler.executors").setLevel(logging.CRITICAL)
    quiet_libraries(level)
    return secret_filter


def quiet_libraries(level: int) -> None:
    """Libraries log at WARNING and above only: httpx's INFO lines carry full request URLs."""
    for noisy in ("httpx", "httpcore", "urllib3", "filelock", "transformers", "onnx_model",
                  "onnx_model_bert", "fusion_base", "fusion_utils", "fusion_options"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
