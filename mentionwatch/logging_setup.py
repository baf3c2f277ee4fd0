"""Log output of the background service, and the redaction of secrets from logs and stored errors.

A log call may carry structured fields with `extra={"fields": {...}}`; the text format appends them
as `key=value`, the JSON format puts them at the top level of the object.

`redact` hides secrets in any text: the values the watchlist read with `${VAR}`, notification URLs,
tokens named by `token_env` (all announced with `remember_secrets`), the `MENTIONWATCH_*` variables
that hold a token, key, password or URL, credentials in URLs (`user:password@`) and the values of
query parameters named like a key, token, secret, password, signature or auth. Every stored error
text goes through it (`redact_data` for lists and dicts), and a `SecretFilter` on each log handler
applies it to a record's message, arguments, fields and traceback, so a secret that slips into an
error message still never reaches the log or the database.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
import urllib.parse
from collections.abc import Iterable

REDACTED = "[redacted]"
_SECRET_ENV_NAME = re.compile(r"(TOKEN|SECRET|PASS|KEY|URL|WEBHOOK|AUTH|CREDENTIAL)", re.IGNORECASE)
_NOT_SECRET_ENV = ("MENTIONWATCH_CONFIG", "MENTIONWATCH_DB")  # paths, named in ordinary messages
# user:password@ in an address; '[' and ']' cannot stand in that part of a URL, and stop the match
# in an XPath selector written in a message (xpath://div[@class='reviews'] is no address)
_URL_CREDENTIALS = re.compile(r"(\w+://)[^/?#\s@\[\]]+@")
# an Authorization header's credentials quoted by a server's error: Basic is base64 of "id:secret",
# which no stored secret matches as written
# (with a digit and a letter in them, and 12 characters or more with a small letter, 16 without:
# 'Basic training', 'Basic 2024-06-01T12:00Z' and 'Bearer 1000000000000 shares' are left alone)
_TOKEN_CHARS = "[A-Za-z0-9+/=._~-]"
_AUTHORIZATION = re.compile(rf"\b((?i:basic|bearer))(\s+)(?={_TOKEN_CHARS}*\d)(?={_TOKEN_CHARS}*[A-Za-z])"
                            rf"(?:(?={_TOKEN_CHARS}*[a-z]){_TOKEN_CHARS}{{12,}}|{_TOKEN_CHARS}{{16,}})")
_QUERY_PARAMETER = re.compile(r"(?P<lead>[?&;](?P<name>[\w.\-\[\]%]+)=)(?P<value>[^&#\s\"'<>]+)")
_SECRET_PARAMETER_WORDS = {"key", "apikey", "token", "secret", "password", "passwd", "pwd", "pass",
                           "signature", "sig", "auth", "authorization", "credential", "credentials"}
_SECRET_PARAMETER_ENDINGS = ("key", "token", "secret", "password", "signature")  # apiKey, accessToken
_TRAILING_PUNCTUATION = re.compile(r"[.,:;)\]]+$")  # ends a sentence, not the value
_MIN_SECRET_LENGTH = 6  # shorter values would redact ordinary words

_remembered: set[str] = set()  # secrets this process has met (see remember_secrets)
# secret URLs' paths (see _remember_path): hidden anywhere when token-shaped, else where they stand
# alone; in what is logged and in stored errors, never in a collected post's own address
_remembered_token_paths: set[str] = set()
_remembered_paths: dict[str, re.Pattern] = {}


def remember_secrets(values: Iterable[str | None]) -> None:
    """Hide these values from now on, in this process's logs and in what it stores.

    Also their percent-encoded forms (a URL-encoded copy of a secret is as good as the secret) and,
    for a URL, its password and secret query values, which an error may quote on their own.
    """
    for given in values:
        if not given:
            continue
        # as given, and without the line ending an env file saved on Windows leaves (the value used)
        for value in dict.fromkeys((given, given.strip())):
            for secret in (value, *_secret_parts_of_url(value)):
                if len(secret) >= _MIN_SECRET_LENGTH:
                    _remembered.update(form for form in _written_forms(secret) if len(form) >= _MIN_SECRET_LENGTH)
            _remember_path(value)


def _written_forms(secret: str) -> set[str]:
    """The ways a line may quote a secret: as it is; decoded, when it was written percent-encoded
    ('Tok%2B9abc'); encoded whole, or as an address's path encodes it (non-ASCII, braces)."""
    return {secret, urllib.parse.unquote(secret), urllib.parse.unquote_plus(secret),
            urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret, safe=""),
            urllib.parse.quote(secret, safe="/:@!$&'()*+,;=%~")}


def _secret_parts_of_url(value: str) -> list[str]:
    if "://" not in value:
        return []
    try:
        parts = urllib.parse.urlsplit(value.strip())
        password = parts.password
    except ValueError:  # not a URL after all
        return []
    query = urllib.parse.parse_qsl(parts.query)
    # error lines quote an address as host/path, without its scheme
    without_scheme = value.strip().split("://", 1)[1]
    return [part for part in (without_scheme, without_scheme.rstrip("/"), password, *_with_ports(parts),
                              *(v for k, v in query if is_secret_parameter(k))) if part]


def _with_ports(parts: urllib.parse.SplitResult) -> list[str]:
    """The URL without its scheme, written with the default port it lacks, or without the default
    port it has: an HTTP library's error names the port it connected to ('ntfy.sh:443/topic'),
    and a line from mentionwatch leaves a default port out. All of what follows the host is kept
    (a secret in the query stays part of it); the path alone too when the query holds no secret
    (`?priority=high`: the path is what is secret)."""
    rest = urllib.parse.urlunsplit(("", "", parts.path, parts.query, parts.fragment)).rstrip("/")
    try:
        port = parts.port
    except ValueError:
        return []
    host = parts.hostname
    if not host or len(rest.strip("/?#")) < _MIN_SECRET_LENGTH:
        return []
    host = f"[{host}]" if ":" in host else host
    rests = [rest]
    path = parts.path.rstrip("/")
    query_secret = any(is_secret_parameter(name) for name, _ in urllib.parse.parse_qsl(parts.query))
    if path != rest and not query_secret and len(path.strip("/")) >= _MIN_SECRET_LENGTH:
        rests.append(path)  # the path is the secret (a topic, a hook), the query only options
    if port is None:
        return [f"{host}:{default}{tail}" for tail in rests for default in (443, 80)]
    # without its port only as written: 'host/path' alone would cut the host's other addresses
    return [f"{host}{rest}"] if port in (443, 80) else []


# a part of a path shaped like a token: 8 or more letters, digits, '_', '-' or ':' (a Telegram bot's
# has one), with a digit and a letter
_TOKEN_SHAPED = re.compile(r"(?=[\w:-]*\d)(?=[\w:-]*[A-Za-z])[\w:-]{8,}", re.ASCII)


def _remember_path(value: str) -> None:
    """A server's error may quote a secret URL's path alone (a web hook's path holds its token; a
    secret base_url may hide a key there). A path with a part shaped like a token is hidden
    wherever it is, percent-encoded too; another (`/feed.xml`, `/webhook`) only where it stands as
    a path of its own, not after another host or inside a longer word: those are common words of
    other sources' lines and stored addresses."""
    if "://" not in value:
        return
    try:
        path = urllib.parse.urlsplit(value.strip()).path.rstrip("/")
    except ValueError:
        return
    if len(path.strip("/")) < _MIN_SECRET_LENGTH:
        return
    if any(_TOKEN_SHAPED.fullmatch(part) for part in path.split("/")):
        _remembered_token_paths.update({path, urllib.parse.quote(path, safe=""),
                                        urllib.parse.quote_plus(path, safe="")})
    else:
        _remembered_paths[path] = re.compile(rf"(?<![\w.~%:/-]){re.escape(path)}(?![\w~%-])(?!\.\w)")


def secrets_from_environment(environ: dict[str, str] | None = None) -> list[str]:
    """Values of MENTIONWATCH_* variables whose names say they hold a token, key, password or URL."""
    environ = os.environ if environ is None else environ
    return [value for name, value in environ.items()
            if name.upper().startswith("MENTIONWATCH_") and _SECRET_ENV_NAME.search(name)
            and name.upper() not in _NOT_SECRET_ENV]


def known_secrets() -> list[str]:
    """Every secret value to hide now, longest first (a secret containing another is hidden whole).

    The environment is read at each call: a variable set after start-up is covered too.
    """
    found = {*_remembered, *secrets_from_environment()}
    return sorted((s for s in found if s and len(s) >= _MIN_SECRET_LENGTH), key=len, reverse=True)


def redact(text: str, *, paths: bool = True) -> str:
    """The text with every known secret, URL credential and secret query parameter replaced; with
    `paths`, the paths of secret URLs too (see _remember_path): not in a collected post's address,
    where another site's '/feeds/2024-rss' is the post's own."""
    for secret in known_secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    if paths:
        text = _without_secret_paths(text)
    text = _URL_CREDENTIALS.sub(rf"\1{REDACTED}@", text)
    text = _AUTHORIZATION.sub(rf"\1\2{REDACTED}", text)
    return _QUERY_PARAMETER.sub(_redact_parameter, text)


def _without_secret_paths(text: str) -> str:
    # longest first, as known_secrets: a path that begins another must not hide only its start
    for path in sorted(_remembered_token_paths, key=len, reverse=True):
        if path in text:
            text = text.replace(path, REDACTED)
    for path, standing_alone in sorted(_remembered_paths.items(), key=lambda item: len(item[0]), reverse=True):
        if path in text:
            text = standing_alone.sub(REDACTED, text)
    return text


def redact_data(value):
    """`redact` applied to every text inside lists, tuples and dicts (fields, stored JSON details);
    other objects become their redacted text, as they would be written anyway."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return {key: redact_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(item) for item in value]
    return redact(value if isinstance(value, str) else str(value))


def is_secret_parameter(name: str) -> bool:
    """`key`, `api_key`, `apiKey`, `access_token`, `X-Amz-Signature`, `auth` ... but not `keyword`
    or `author`."""
    words = [word for word in re.split(r"[^a-z0-9]+", urllib.parse.unquote(name).lower()) if word]
    return any(word in _SECRET_PARAMETER_WORDS or word.endswith(_SECRET_PARAMETER_ENDINGS) for word in words)


def _redact_parameter(match: re.Match) -> str:
    if not is_secret_parameter(match["name"]):
        return match[0]
    value = match["value"]
    rest = value.removeprefix(REDACTED)  # a known secret there was already replaced
    trailing = _TRAILING_PUNCTUATION.search(rest)
    ending = trailing[0] if trailing and (trailing.start() > 0 or rest != value) else ""
    return f"{match['lead']}{REDACTED}{ending}"


class SecretFilter(logging.Filter):
    """Redacts every record's message, arguments, fields, traceback and stack (see `redact`);
    the values to hide are announced with `remember_secrets`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = redact_data(fields)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


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


LOG_FILE_MAX_BYTES = 10 * 1024 * 1024  # a log file is renamed FILE.1 when it reaches this size ...
LOG_FILE_BACKUPS = 5  # ... and at most this many old ones are kept: 60 MB in all, for months of lines


def _private_rotating_handler(log_file: str | os.PathLike) -> logging.Handler:
    """A log file rotated at LOG_FILE_MAX_BYTES, created readable by its owner alone, as the
    database is: its lines name sources, watches and alerts. A log file that already exists keeps
    its permissions, and the file begun after a rotation gets those of the one rotated (a team may
    have given a log reader's group access on purpose)."""
    from logging.handlers import RotatingFileHandler

    from storage.db import create_private_file

    class PrivateRotatingFileHandler(RotatingFileHandler):
        def doRollover(self):
            kept_mode = _mode_of(self.baseFilename)
            super().doRollover()  # renames the file and opens a new one through _open
            if kept_mode is not None and os.path.exists(self.baseFilename):
                os.chmod(self.baseFilename, kept_mode)

        def _open(self):
            create_private_file(self.baseFilename)
            return super()._open()

        def emit(self, record):
            self.failed = False
            super().emit(record)
            if not self.failed:
                self.failures_said.clear()  # written again: a later failure is said again

        def handleError(self, record):
            """A log file that cannot be written (a full disk): one line on standard error for each
            kind of failure while it lasts, not Python's traceback for every line logged. Other
            errors (a logging call with the wrong arguments) keep Python's report."""
            failure = sys.exc_info()[1]
            if not isinstance(failure, OSError):
                return super().handleError(record)
            self.failed = True
            said = f"{type(failure).__name__}:{failure.errno}"
            if said not in self.failures_said:
                self.failures_said.add(said)
                sys.stderr.write(f"mentionwatch: cannot write the log file {self.baseFilename} "
                                 f"({failure.strerror or failure}); lines are lost until it can be "
                                 "written again\n")

    PrivateRotatingFileHandler.failures_said = set()
    PrivateRotatingFileHandler.failed = False

    return PrivateRotatingFileHandler(log_file, maxBytes=LOG_FILE_MAX_BYTES, backupCount=LOG_FILE_BACKUPS,
                                      encoding="utf-8")


def _mode_of(path: str) -> int | None:
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return None


def configure_logging(log_format: str = "text", level: int = logging.INFO, stream=None,
                      log_file: str | os.PathLike | None = None) -> SecretFilter:
    """Send every log record to stderr (or `stream`, or `log_file`: rotated, so that a service left
    running for months never fills the disk) in the chosen format; returns the secret filter.
    An OSError (the file's folder missing or not writable) is raised before anything changes."""
    if log_file is not None:
        handler = _private_rotating_handler(log_file)
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    secret_filter = SecretFilter()
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
