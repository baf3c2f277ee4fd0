"""Read-only web view of the database: Datasette with titles, descriptions and canned queries.

Datasette opens the file read-only (SQLite `mode=ro`, or `immutable=1` for an archived copy), so
nothing typed in the browser can change it; `serve` binds to 127.0.0.1 unless told otherwise.

This module is also a small Datasette plugin (`register_plugin`) that fits Datasette 0.65 to a
read-only view: a POST, PUT or DELETE gets 405 (Datasette itself fails with a 500 on a POST to a
table or to a canned query that does not write), a refused request prints no traceback (Datasette
prints ~300 lines with `rich` installed, for a statement that is not a SELECT too), and a text
with control or invisible formatting characters (a bidi override such as U+202E) is shown with
them escaped ('\\u202e'), as on the terminal, instead of in another order than it is stored.
A mistyped search ('"unbalanced', 'refund AND') is told on the page in the line `mentionwatch
search` gives, and a failed query is one short line on the console, never its whole SQL.
"""
from __future__ import annotations

import contextlib
import csv
import errno
import io
import re
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path

from datasette import Response, hookimpl
from datasette.database import QueryInterrupted
from markupsafe import escape

from mentionwatch.terminal import LINE_BREAKS, is_hidden, terminal_safe
from mentionwatch.triage.fulltext import NO_SPACE_RANGES, has_no_space_script
from mentionwatch.triage.query import FilterError, fts_query

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8015
PLUGIN_NAME = "mentionwatch-browse"

_MENTION_COLUMNS = ("m.id AS mention_id, m.created_at, m.source, m.author, m.author_reach, m.url, "
                    "m.text, s.label AS sentiment, round(s.p_negative, 3) AS p_negative, "
                    "t.state AS triage_state")


def _sql_text(value: str | None) -> str:
    """A SQL string literal (the model id is baked into the canned queries)."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _search_sql(scores: str, triage: str) -> str:
    """The "Search mentions" query (Datasette runs it; nothing is added to the database).

    A query with a character of a script written without spaces (fulltext.NO_SPACE_RANGES) is
    matched as text, every space-separated part contained in the title or text (LIKE: ASCII
    letters in any case, as the index and `search` do), because the index holds a whole run of
    such characters as one word. Any other query goes to the index as `:_fts_q`, the box read as
    `mentionwatch search` reads it (see _fts_parameter: a mistyped query is refused in its line).
    A branch that does not apply never runs: the text one starts from `typed`, one row, and the
    index one is skipped when `:_fts_q` is NULL (a query read as text, or a blank box, which finds
    nothing). The 500 newest are chosen by id and time alone, then joined: 1.5-2x quicker than
    sorting whole rows when a word is in every other post (measured on a million).
    """
    is_no_space = " OR ".join(f"code BETWEEN {low} AND {high}" for low, high in NO_SPACE_RANGES)
    return f"""WITH RECURSIVE
  position(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM position WHERE i < length(:q)),
  typed(as_text) AS (SELECT EXISTS (SELECT 1 FROM (SELECT unicode(substr(:q, i, 1)) AS code
                                                   FROM position) WHERE {is_no_space})),
  part(word, rest) AS (
    SELECT '', trim(replace(replace(replace(:q, '"', ' '), '*', ' '), char(12288), ' ')) || ' '
    UNION ALL
    SELECT substr(rest, 1, instr(rest, ' ') - 1), ltrim(substr(rest, instr(rest, ' ') + 1))
    FROM part WHERE rest != ''),
  words(pattern) AS MATERIALIZED (
    SELECT '%' || replace(replace(replace(word, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'
    FROM part WHERE word != ''),
  found(id, created_at) AS (
    SELECT m.id, m.created_at FROM mentions_fts JOIN mentions m ON m.id = mentions_fts.rowid
      WHERE :_fts_q IS NOT NULL AND mentions_fts MATCH :_fts_q
    UNION ALL
    SELECT m.id, m.created_at FROM typed CROSS JOIN mentions m
      WHERE typed.as_text AND NOT EXISTS (
        SELECT 1 FROM words WHERE NOT m.text LIKE pattern ESCAPE '\\'
                              AND NOT ifnull(m.title LIKE pattern ESCAPE '\\', 0))
    ORDER BY created_at DESC, id DESC LIMIT 500)
SELECT {_MENTION_COLUMNS} FROM found JOIN mentions m ON m.id = found.id {scores} {triage}
ORDER BY found.created_at DESC, found.id DESC"""


# The newest mentions read first for the latest negative mentions of a watch (about 0.03 s)
NEWEST_WALKED = 50_000
LATEST_NEGATIVES = 500


def _negative_mentions_sql(scores: str, triage: str, model: str) -> str:
    """The "Latest negative mentions of a watch" query.

    The newest NEWEST_WALKED mentions (and any as old as the last of them) are read first, newest
    first through the created_at index, checking each one's score and watch, up to the 500th
    negative mention of the watch: when there are 500, they are the answer (for a busy watch, found
    after a few thousand). Otherwise the 500 are found among the model's negative scores or the
    watch's links, whichever are fewer (counted from their indexes): the other two parts of `found`
    have a LIMIT of 0 and read nothing. Only ids and times are sorted, then the rows are joined;
    mentions of the same second come newest id first (the query before left their order open).

    On a million mentions: 0.006 s for a watch of 500,000 (or all watches), 0.06 s for one of 200,
    0.26 s for a watch of 200,000 whose mentions all predate the newest 800,000. The query before
    (every negative score of the model, whole rows sorted) took 0.3-3.8 s for any watch.
    """
    negative = f"s.model_id = {model} AND s.label = 'negative'"
    of_watch = ("(:watch = '' OR EXISTS (SELECT 1 FROM mention_watches w "
                "WHERE w.watch = :watch AND w.mention_id = m.id))")
    latest = "ORDER BY m.created_at DESC, m.id DESC LIMIT"
    return f"""WITH
  walked(id, created_at) AS MATERIALIZED (
    SELECT m.id, m.created_at FROM mentions m CROSS JOIN scores s ON s.mention_id = m.id AND {negative}
    WHERE m.created_at >= coalesce((SELECT created_at FROM mentions ORDER BY created_at DESC
                                    LIMIT 1 OFFSET {NEWEST_WALKED - 1}), '')
      AND {of_watch} {latest} {LATEST_NEGATIVES}),
  route(way) AS MATERIALIZED (
    SELECT CASE
      WHEN (SELECT count(*) FROM walked) = {LATEST_NEGATIVES} THEN 'walked'
      WHEN :watch = '' OR (SELECT count(*) FROM scores s WHERE {negative})
                          <= (SELECT count(*) FROM mention_watches WHERE watch = :watch)
        THEN 'scores'
      ELSE 'watch' END),
  found(id, created_at) AS (
    SELECT id, created_at FROM walked WHERE (SELECT way FROM route) = 'walked'
    UNION ALL
    SELECT * FROM (
      SELECT m.id, m.created_at FROM scores s CROSS JOIN mentions m ON m.id = s.mention_id
      WHERE {negative} AND {of_watch}
      {latest} (SELECT {LATEST_NEGATIVES} * (way = 'scores') FROM route))
    UNION ALL
    SELECT * FROM (
      SELECT m.id, m.created_at FROM mention_watches w CROSS JOIN mentions m ON m.id = w.mention_id
        CROSS JOIN scores s ON s.mention_id = m.id AND {negative}
      WHERE w.watch = :watch
      {latest} (SELECT {LATEST_NEGATIVES} * (way = 'watch') FROM route)))
SELECT {_MENTION_COLUMNS} FROM found JOIN mentions m ON m.id = found.id {scores} {triage}
ORDER BY found.created_at DESC, found.id DESC"""


def canned_queries(model_id: str | None) -> dict:
    """The named queries shown on the database page; `:name` parameters become form fields."""
    scores = f"LEFT JOIN scores s ON s.mention_id = m.id AND s.model_id = {_sql_text(model_id)}"
    triage = "LEFT JOIN triage t ON t.mention_id = m.id"
    return {
        "open_alerts": {
            "title": "Open alerts",
            "description": "Alerts not yet resolved, newest first, with their summary and how many "
                           "mentions are behind each. Open 'Mentions of an alert' with an id.",
            # a threshold rule expects nothing: its `expected` is the rule's own count (as in
            # `alerts list`, where it shows as '-')
            "sql": "SELECT a.id, a.watch, a.source, a.status, a.severity, a.opened_at, "
                   "a.window_start, a.window_end, a.observed, CASE WHEN a.rule LIKE 'threshold:%' "
                   "THEN NULL ELSE round(a.expected, 1) END AS expected, "
                   "a.owner, json_extract(a.explanation, '$.summary') AS summary, "
                   "(SELECT count(*) FROM alert_mentions am WHERE am.alert_id = a.id) AS mentions "
                   "FROM alerts a WHERE a.status != 'resolved' ORDER BY a.opened_at DESC",
        },
        # not "alert_mentions": a canned query of a table's name hides the table
        "mentions_of_alert": {
            "title": "Mentions of an alert",
            "description": "The posts behind one alert, in the order the detector ranked them.",
            "sql": f"SELECT am.rank, {_MENTION_COLUMNS} FROM alert_mentions am "
                   f"JOIN mentions m ON m.id = am.mention_id {scores} {triage} "
                   "WHERE am.alert_id = :alert_id ORDER BY am.rank IS NULL, am.rank, s.p_negative DESC",
        },
        "search": {
            "title": "Search mentions",
            "description": 'Full-text search, newest first: words, "exact phrases", OR, NOT, prefix*. '
                           "With Chinese, Japanese or Korean characters in it, the query is read as "
                           "text instead: each part between spaces must appear in the post (quotes "
                           "and * are left out; OR and NOT work only in `mentionwatch search`).",
            "sql": _search_sql(scores, triage),
        },
        "negative_mentions": {
            "title": "Latest negative mentions of a watch",
            "description": "Negative mentions of one watch (leave it empty for all), newest first.",
            "sql": _negative_mentions_sql(scores, triage, _sql_text(model_id)),
        },
        "follow_up": {
            "title": "Flagged for follow-up",
            "description": "Mentions marked 'flagged' with `mentionwatch mark`, oldest mark first.",
            "sql": f"SELECT t.at AS flagged_at, t.actor AS flagged_by, t.note, {_MENTION_COLUMNS} "
                   f"FROM triage t JOIN mentions m ON m.id = t.mention_id {scores} "
                   "WHERE t.state = 'flagged' ORDER BY t.at",
        },
        "alert_timings": {
            "title": "Alerts: time to acknowledge and resolve",
            "description": "Hours from opening to acknowledgement and to resolution, per alert "
                           "(counted from when the alert was recorded, for an alert found later by "
                           "a replay or in imported history, as `alerts show` does).",
            # the clock starts at the 'opened' event when it was recorded more than an hour after
            # opened_at (found late), else at opened_at; and a resolve that filled in acknowledged_at
            # without an 'acknowledged' event is no acknowledgement (alerts/postcrisis.py)
            "sql": "WITH recorded AS (SELECT a.*, (SELECT min(e.at) FROM alert_events e "
                   "WHERE e.alert_id = a.id AND e.kind = 'opened') AS recorded_at FROM alerts a), "
                   "timed AS (SELECT r.*, CASE WHEN julianday(recorded_at) - julianday(opened_at) > 1.0 / 24 "
                   "THEN recorded_at ELSE opened_at END AS clock_start, "
                   "(SELECT min(e.at) FROM alert_events e WHERE e.alert_id = r.id "
                   "AND e.kind = 'acknowledged') AS ack_event FROM recorded r) "
                   "SELECT id, watch, severity, status, opened_at, "
                   "round((julianday(coalesce(nullif(acknowledged_at, CASE WHEN ack_event IS NULL "
                   "THEN resolved_at END), ack_event)) - julianday(clock_start)) * 24, 2) "
                   "AS hours_to_acknowledge, "
                   "round((julianday(resolved_at) - julianday(clock_start)) * 24, 2) "
                   "AS hours_to_resolve FROM timed ORDER BY opened_at DESC",
        },
    }


_TABLES = {
    "mentions": "Every stored post or review: source, author, reach, link, text, time (UTC).",
    "mention_watches": "Which watch (customer, brand, topic) each mention matched.",
    "scores": "Sentiment of each mention per model: label and probabilities.",
    "alerts": "Negative spikes detected per watch, with status, severity and explanation (JSON).",
    "alert_events": "Lifecycle of each alert: opened, acknowledged, notes, resolved.",
    "alert_mentions": "The mentions behind each alert.",
    "notifications": "Alert notifications; target is a name from the config, never a URL.",
    "triage": "Triage marks: flagged, handled or ignored, by whom and when.",
    "crawl_runs": "One row per collection run of a watch and source.",
    "erasures": "Mentions erased with mentionwatch forget or by service.keep_mentions: when, by whom, "
                "what kind, how many (never whose).",
}
_HIDDEN = ("mentions_fts", "mentions_fts_config", "mentions_fts_data", "mentions_fts_docsize",
           "mentions_fts_idx", "_sqlite_migrations", "cursors", "service_process", "service_jobs",
           "job_runs", "forgotten")


def build_metadata(database_name: str, model_id: str | None) -> dict:
    """Datasette metadata: titles, table descriptions, hidden internals, canned queries."""
    tables = {name: {"description": text} for name, text in _TABLES.items()}
    tables.update({name: {"hidden": True} for name in _HIDDEN})
    return {
        "title": "mentionwatch",
        "description": "Read-only view of collected mentions, sentiment, alerts and triage marks. "
                       f"Sentiment shown from model {model_id or '(none scored yet)'}.",
        "databases": {database_name: {"tables": tables, "queries": canned_queries(model_id)}},
    }


# Datasette hooks: this module is registered as a Datasette plugin (see register_plugin).
@hookimpl
def render_cell(value):
    """A text with a control or invisible formatting character, shown with those escaped."""
    if isinstance(value, str) and any(is_hidden(c) and c not in LINE_BREAKS for c in value):
        return escape(terminal_safe(value))
    return None


class SearchMistake(sqlite3.DatabaseError):
    """The search box holds a query that cannot be searched; the message is the line shown.

    A DatabaseError, so that Datasette shows it on the query's page, above the form, as it shows
    a failed query."""


@hookimpl
def register_magic_parameters(datasette):
    """`:_fts_<box>` in a canned query: the box read as the index is to read it (_fts_parameter)."""
    return [("fts", _fts_parameter)]


# what the text branch of "Search mentions" would look for as letters: an operator (brackets are
# left to mean themselves: '苹果(Apple)' is how a brand is written)
_SYNTAX_AS_TEXT = re.compile(r"(?<!\S)(?:AND|OR|NOT)(?!\S)")


def _fts_parameter(box: str, request) -> str | None:
    """The query typed in the box `box` as `mentionwatch search` would give it to FTS5 (stray
    punctuation as word separators), or None when the index is not asked: for a blank box, and
    for a query with Chinese, Japanese or Korean characters, which the search query reads as text.

    Raises SearchMistake with the line `search` shows for a query it refuses: an unclosed quote or
    bracket, AND / OR / NOT without words on both sides, no word at all ('*'); and for a query read
    as text that has AND, OR or NOT, which that branch would look for as letters (the
    opposite of what was typed: `search` reads them, this box does not)."""
    text = request.args.get(box) or ""
    if has_no_space_script(text) and _SYNTAX_AS_TEXT.search(text):
        raise SearchMistake(f"the search query {text[:60]!r}: this box finds Chinese, Japanese and Korean "
                            "words (and emoji) as text, every word typed: AND, OR and NOT are not read "
                            "with them here ('mentionwatch search' reads them)")
    if not text.strip() or has_no_space_script(text):
        return None
    # fts_query tries the query on an index with the columns of mentions_fts; an empty one will do
    with contextlib.closing(sqlite3.connect(":memory:")) as probe:
        probe.execute("CREATE VIRTUAL TABLE mentions_fts USING fts5 (title, text)")
        try:
            return fts_query(probe, text)
        except FilterError as exc:
            raise SearchMistake(str(exc)) from None


def _one_line_errors(database):
    """database.execute, printing a failed query as one short line on the console instead of the
    whole SQL with the connection and parameters (~2,300 characters for "Search mentions"); a
    SearchMistake is the visitor's typing, told on the page, so it prints nothing.

    A query stopped by its time limit while SQLite opens the search index says "vtable
    constructor failed", not "interrupted" (Datasette's 10 ms table counts on the first pages
    of a loaded machine); past its time limit it is told to Datasette as the interruption it is,
    which Datasette expects and does not print.
    """
    execute = database.execute

    async def execute_quietly(sql, params=None, *, log_sql_errors=True, **options):
        started = time.perf_counter()
        try:
            return await execute(sql, params, log_sql_errors=False, **options)
        except SearchMistake:
            raise
        except sqlite3.DatabaseError as exc:
            if _interrupted_opening_the_index(exc, time.perf_counter() - started,
                                              _time_limit_ms(database, options)):
                raise QueryInterrupted(exc, sql, params) from None
            if log_sql_errors:
                print(f"ERROR: a query failed: {exc}", file=sys.stderr, flush=True)
            raise

    return execute_quietly


def _time_limit_ms(database, options: dict) -> float:
    """The time limit Datasette's execute gives a query (its own setting, or a shorter one asked)."""
    limit = database.ds.sql_time_limit_ms
    asked = options.get("custom_time_limit")
    return min(limit, asked) if asked else limit


def _interrupted_opening_the_index(exc: sqlite3.DatabaseError, elapsed_s: float, limit_ms: float) -> bool:
    return str(exc).startswith("vtable constructor failed") and elapsed_s * 1000 >= limit_ms


@hookimpl
def asgi_wrapper(datasette):
    """Answers 405 to a request that would change something (the view only reads), and makes every
    CSV download safe to open in a spreadsheet."""
    return lambda app: _reading_only(_spreadsheet_safe_csv(app))


READING_METHODS = ("GET", "HEAD", "OPTIONS")


def _reading_only(app):
    """The ASGI app `app`, answering 405 to any method but GET, HEAD and OPTIONS."""

    async def guarded(scope, receive, send):
        if scope["type"] == "http" and scope["method"] not in READING_METHODS:
            refusal = Response.text("405 Method Not Allowed: this view is read-only\n", status=405,
                                    headers={"Allow": ", ".join(READING_METHODS)})
            await refusal.asgi_send(send)
            return
        await app(scope, receive, send)

    return guarded


def _spreadsheet_safe_csv(app):
    """The ASGI app `app`, its CSV answers written as `mentionwatch export` writes CSV: a text that
    a spreadsheet would run as a formula (=HYPERLINK(…), @SUM(…), '-cmd|…') gets a leading quote,
    every field is quoted, and a download has a byte-order mark (Excel reads UTF-8 without one
    as the local code page). Datasette writes a CSV of one page (streaming all rows is off in
    make_datasette), so the whole answer is held and written again."""

    async def guarded(scope, receive, send):
        if scope["type"] != "http" or not _asks_for_csv(scope):
            await app(scope, receive, send)
            return
        held: dict = {"start": None, "body": []}

        async def send_when_whole(message):
            if message["type"] == "http.response.start":
                held["start"] = message
            elif message["type"] == "http.response.body":
                held["body"].append(message.get("body", b""))
                if not message.get("more_body"):
                    await _send_csv_made_safe(send, held["start"], b"".join(held["body"]))
            else:
                await send(message)

        await app(scope, receive, send_when_whole)

    return guarded


def _asks_for_csv(scope) -> bool:
    query = scope.get("query_string", b"").decode("latin-1")
    return scope["path"].endswith(".csv") or "_format=csv" in query


async def _send_csv_made_safe(send, start: dict, body: bytes) -> None:
    headers = dict(start.get("headers", []))
    content_type = headers.get(b"content-type", b"")
    if start["status"] == 200 and content_type.startswith((b"text/plain", b"text/csv")):
        try:
            body = _csv_made_safe(body.decode("utf-8"),
                                  with_mark=b"attachment" in headers.get(b"content-disposition", b""))
        except (UnicodeDecodeError, csv.Error):
            start, body = {"status": 500}, ("the CSV could not be made safe for spreadsheets; "
                                            "use `mentionwatch export` instead\n").encode()
            headers = {b"content-type": b"text/plain; charset=utf-8"}
    headers[b"content-length"] = str(len(body)).encode()
    await send({"type": "http.response.start", "status": start["status"], "headers": list(headers.items())})
    await send({"type": "http.response.body", "body": body})


_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")  # -0.5 stays a number, as in export


def _csv_made_safe(text: str, with_mark: bool) -> bytes:
    from mentionwatch.triage.export import neutralise

    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a group_concat of long posts is one cell
    written = io.StringIO()
    writer = csv.writer(written, quoting=csv.QUOTE_ALL)
    for row in csv.reader(io.StringIO(text, newline=""), strict=True):
        writer.writerow([cell if _NUMBER.fullmatch(cell) else neutralise(cell) for cell in row])
    return (("\ufeff" if with_mark and text else "") + written.getvalue()).encode("utf-8")


def register_plugin() -> None:
    """Registers this module's hooks with Datasette once, and keeps Datasette from printing a
    long traceback for each refused request: without `rich` it prints none for a refusal (a 4xx)
    and a plain one for a real failure, so it is told `rich` is not there."""
    from datasette.plugins import pm

    pm.get_plugin("datasette.handle_exception").rich = None  # Datasette's own exception handler
    if not pm.is_registered(sys.modules[__name__]):
        pm.register(sys.modules[__name__], name=PLUGIN_NAME)


def make_datasette(db_path: Path, model_id: str | None, *, immutable: bool = False):
    """A Datasette for the database, read-only, with the canned queries and this module's hooks."""
    from datasette.app import Datasette

    register_plugin()

    path = str(db_path)
    settings = {"default_page_size": 50, "sql_time_limit_ms": 5000, "allow_download": False,
                "suggest_facets": False,
                "allow_csv_stream": False}  # a CSV holds one page, made safe whole (_spreadsheet_safe_csv)
    datasette = Datasette(files=[] if immutable else [path],
                          immutables=[path] if immutable else [],
                          metadata=build_metadata(db_path.stem, model_id), settings=settings)
    for database in datasette.databases.values():  # Datasette logs a failed query's whole SQL
        database.execute = _one_line_errors(database)
    return datasette


class ListenError(OSError):
    """The address cannot be listened on (port taken, no such address); the message is the line shown."""


def listen(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> socket.socket:
    """A socket listening on host:port, bound before anything says the view is served."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn decides
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind((host, port))
        sock.listen()
    except OSError as exc:  # socket.gaierror (a bad host name) is an OSError too
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {_reason(exc)}") from None
    return sock


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "address already in use"
    return exc.strerror or str(exc)


def serve(db_path: Path, model_id: str | None, sock: socket.socket, *,
          immutable: bool = False) -> None:
    """Run the web view on a socket from `listen` until interrupted (Ctrl+C)."""
    import asyncio

    import uvicorn

    datasette = make_datasette(db_path, model_id, immutable=immutable)
    asyncio.run(datasette.invoke_startup())
    host, port = sock.getsockname()[:2]
    app = only_for_addresses_and_own_names(datasette.app())
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    _server_keeping_ignored_ctrl_c(uvicorn.Server)(config).run(sockets=[sock])


def _server_keeping_ignored_ctrl_c(server_class):
    """uvicorn's server, except that a Ctrl-C the process ignores stays ignored: `browse &` started
    by a script (SIGINT ignored, as shells do for background jobs) must not stop on a Ctrl-C meant
    for the script. SIGTERM still stops it."""
    class Server(server_class):
        @contextlib.contextmanager
        def capture_signals(self):
            ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            with super().capture_signals():
                if ignored:
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                yield

    return Server


def only_for_addresses_and_own_names(app):
    """The view answers only requests addressed to this computer: by an IP address, by localhost,
    or by this computer's own name. A web page elsewhere can point a domain of its own at 127.0.0.1
    or at your network address (DNS rebinding) and have your browser read the database through
    it; such a request names that domain in its Host header, and gets 400."""
    own_names = _own_names()

    async def checked(scope, receive, send):
        if scope["type"] in ("http", "websocket") and not _addressed_to_us(_host_name(scope), own_names):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
            await send({"type": "http.response.body",
                        "body": b"Bad Request: open this view by its address (http://127.0.0.1:PORT) or as "
                                b"http://localhost:PORT\n"})
            return
        await app(scope, receive, send)

    return checked


def _own_names() -> frozenset[str]:
    names = {"localhost", socket.gethostname().lower()}
    with contextlib.suppress(OSError):
        names.add(socket.getfqdn().lower())
    return frozenset(name.rstrip(".") for name in names if name)


def _addressed_to_us(host: str | None, own_names: frozenset[str]) -> bool:
    """A request without a Host header comes from no browser (browsers always send one)."""
    import ipaddress

    if host is None:
        return True
    host = host.rstrip(".")
    try:
        ipaddress.ip_address(host)
        return True  # an address: a rebinding page can only name a domain
    except ValueError:
        return host in own_names


def _host_name(scope) -> str | None:
    """The Host header without its port ('[::1]:8015' -> '::1'), lower case; None without one."""
    host = next((value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"host"), None)
    if host is None:
        return None
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
