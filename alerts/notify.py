"""Alert notifications through apprise: queued per (alert, target, state), sent and retried later.

`queue_notifications` adds one `notifications` row per configured target that wants the event
('opened', 'escalated', 'resolved') and covers the watch; the UNIQUE (alert_id, target, state) key
makes the same state never queue twice. A target added after the alert opened gets its first
escalation as an opening at that severity (`_event_for`), or, while the alert is open and
unchanged, its opening at the severity of then (`queue_late_openings`); its 'resolved' only once
told.
`send_pending` delivers due rows, records failures with the reason apprise logged (its lines of
that send only) and schedules retries with exponential backoff. The target's URL is a secret: only
the notification's name is stored, and the URL is cut out of any error text before it is stored
or logged. Nothing here raises for a failed send.

Order and relevance, per alert and target: a message waits while an earlier one of the same alert to
the same target is still on its way, so a team never reads "escalated" before "opened". A message
that is no longer true when its turn comes is not sent but marked 'superseded' with the reason: an
'opened' or 'escalated' of an alert resolved meanwhile, an escalation a later one replaces, a
'resolved' for a target that was never told about the alert (a replay, `detect --no-notify`, an
opening that never got through), an escalation up to the severity a late opening already stated
(an opening is titled with the alert's severity when it goes; its row keeps the state it was
queued at, with 'sent as opened (critical)' noted in last_error). A web hook that takes the request
but does not answer within the read timeout may well have got it: the row is marked 'unconfirmed' and not sent again (a retry
would repeat the message, up to MAX_ATTEMPTS times). So is a send still going at its deadline (a
receiver that trickles its answer); nothing more goes to that URL until it has ended. Targets are
sent to side by side (`_SendRound`), each in its own order, so a slow one holds up no other; the
sends run in threads, the database is read and written by the caller's thread only.

Several processes may send at once (the service, and `mentionwatch detect` run by hand):
each row is claimed in its own write transaction before it is sent (`claimed_at` set, `attempts`
counted) and only the sender whose claim changed the row sends it. A send's deadline stays
CLAIM_MARGIN_SECONDS short of CLAIM_TIMEOUT (`_send_deadline`; one still going then is settled
unconfirmed) and each claim is stamped when its send begins, so a claim older than CLAIM_TIMEOUT
was left by a sender that died mid-send; the row is due again (it may then have gone out twice,
never zero times). A service that stops mid-send releases its own claims
(`settle_interrupted_sends`), and so does a send stopped by Ctrl-C, so the next start sends them
at once.

`send_test` sends `mentionwatch notify test`'s message through the same `deliver` (and the same
redaction of its reason), storing nothing.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import io
import json
import logging
import queue
import re
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from alerts.detector import severity_rank
from alerts.explain import entry_text
from mentionwatch.config import url_file_text
from mentionwatch.logging_setup import REDACTED, redact
from mentionwatch.terminal import cut_at_word
from storage.timeutil import from_iso, to_iso

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
ERROR_CHARS = 300
CLAIM_TIMEOUT = dt.timedelta(minutes=10)
UNUSABLE_URL = "apprise cannot use the notification URL (check its scheme and that no part is missing)"
# apprise takes "json://a json://b" as two targets, and counts the send failed when either fails:
# the one that worked would get the message again with every retry
SEVERAL_URLS = ("the notification URL holds several apprise URLs: give each its own notification "
                "target (with its own name), so that one failing is not retried through the others")
# Seconds to wait for a target to accept the connection and to answer, unless its URL says (cto=, rto=);
# apprise's own 4 s read timeout cut off web hooks that answer slowly, and each retry then repeated
# the message. A plugin whose own default is longer (e-mail: 15 s) keeps it.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
TOLD = ("sent", "unconfirmed")  # outcomes after which the target has (most likely) read the message
NOTIFY_TYPES = {"low": "info", "medium": "warning", "high": "failure", "critical": "failure"}
# notification rows this process is sending right now: a service that stops before the target
# answers releases their claims (settle_interrupted_sends) instead of leaving them for another
# sender to take up CLAIM_TIMEOUT later
_SENDING: set[int] = set()
_SENDING_LOCK = threading.Lock()
POST_CHARS = 200
URL_PART_CHARS = 4  # shorter user, password or path parts of a URL are not hidden in a reason
OPENING_SAID = "the opening already said the alert is"  # why an escalation it made redundant is not sent
# Zero-width space: after the "@" or "<" that would start a mention it leaves the text reading the
# same and stops the service from pinging anyone.
ZWSP = "\u200b"
# An "@" that starts a word: how Mattermost (@channel, @all, @name), Rocket.Chat (@all, @here),
# Telegram (@name), Matrix (@room) and Zulip (@**all**, @*group*) mention. One in an e-mail address
# or a URL's path (a Mastodon profile) follows a letter, a digit or "/": left as it is.
_MENTION_AT = re.compile(r"(?<![^\W_]|/)@(?=[\w*])")
# The mentions that ping everyone are defused anywhere, after a "/" too (Mattermost and Matrix split
# words there: https://mastodon.social/@channel would ping the channel)
# (after a letter or digit it is an e-mail address's, as in ops@here.io: left alone)
_BROADCAST_AT = re.compile(r"(?<![^\W_])@(?=(?:channel|all|here|room|everyone)\b)", re.IGNORECASE)
# What pings in Discord, in a link too: @everyone, @here, and <@123>, <@&123> (apprise's own mention
# finder, used for ?format=markdown, takes them without the brackets)
_DISCORD_MENTION = re.compile(r"@(?=everyone|here|[&!]?\d)", re.IGNORECASE)
# A link as the services' autolinkers take it (see _link_as_read); left as written: escaped, it
# would no longer work.
# A bracket ends it: https://x.org/[text](https://evil.example) must not carry a masked link through
_URL = re.compile(r"https?://[^\s<>\[\]]+", re.IGNORECASE)
# what ends a sentence rather than a link ('see https://x.org/a.'), as the services' autolinkers read it
_AFTER_LINK = ".,;:!?'\"*_~`|]"
_DISCORD_MARKUP = re.compile(r"([\\*_~`|\[\]>#])")
# Zulip has no backslash escapes: its markup characters become HTML character references, which it
# shows as the characters once it has parsed the markup (so they form none)
_ZULIP_MARKUP = str.maketrans({"&": "&amp;", "*": "&#42;", "`": "&#96;", "~": "&#126;", "$": "&#36;",
                               "[": "&#91;", "]": "&#93;", "<": "&lt;", ">": "&gt;", "#": "&#35;"})


@dataclass
class NotifyResult:
    sent: int = 0
    failed: int = 0  # given_up included
    given_up: int = 0  # failed at the last of MAX_ATTEMPTS tries: not tried again
    superseded: int = 0
    unconfirmed: int = 0
    # target name -> why this shell cannot send to it: its rows were left pending for the service
    # (send_pending(from_shell=True)); how many rows, per target
    left_for_service: dict[str, str] = dataclasses.field(default_factory=dict)
    left_rows: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclass
class Delivery:
    """What became of one send: error None means it went; unanswered means the request went out
    but no answer came within the read timeout (it may well have arrived)."""
    error: str | None = None
    unanswered: bool = False
    stated_severity: str | None = None  # the severity its title gave (an opening: the alert's, when sent)
    cut_off: bool = False  # still going at its deadline (unanswered too): nothing more to that target now


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def url_problem(target) -> str | None:
    """Why this target has no usable URL now (its variable unset, its file missing or empty, a
    scheme apprise does not know), or None. Never includes the URL itself."""
    import apprise

    url = target.resolve_url()
    if url is None:
        return _missing_url_problem(target)
    sender = apprise.Apprise()
    with _apprise_lines_kept_out():
        understood = sender.add(url)
    if not understood:
        return UNUSABLE_URL
    return SEVERAL_URLS if len(sender) > 1 else None


def _missing_url_problem(target) -> str:
    """Why target.resolve_url() found no URL: its variable unset, its file missing or empty."""
    if target.url:
        return f"no URL: environment variable {target.unset_variable()} (in its url) is not set"
    if target.url_env:
        return f"no URL: environment variable {target.url_env} is not set or empty"
    path = Path(target.url_file)
    if path.is_dir():
        return f"no URL: {target.url_file} is a folder, not a file"
    if not path.is_file():
        return f"no URL: file {target.url_file} does not exist"
    try:
        url_file_text(path.read_bytes())
    except UnicodeError:
        return f"no URL: file {target.url_file} is not UTF-8 text (save it as UTF-8)"
    except OSError as exc:
        return f"no URL: file {target.url_file} cannot be read ({exc.strerror or type(exc).__name__})"
    return f"no URL: file {target.url_file} is empty (or holds only # comment lines)"


_KEEPING_OUT = {"depth": 0, "propagating": True, "level": logging.NOTSET}
_KEEPING_OUT_LOCK = threading.Lock()


@contextlib.contextmanager
def _apprise_lines_kept_out():
    """apprise logs URLs (secrets): its lines stay out of our logs while it runs. The service sends
    and checks targets from several threads at once: the first to enter switches apprise's lines
    off, the last to leave switches them back (one thread leaving must not let another's through)."""
    apprise_log = logging.getLogger("apprise")
    with _KEEPING_OUT_LOCK:
        if _KEEPING_OUT["depth"] == 0:
            _KEEPING_OUT["propagating"] = apprise_log.propagate
            _KEEPING_OUT["level"] = apprise_log.level
            apprise_log.propagate = False
            apprise_log.setLevel(logging.DEBUG)  # for the failure kinds of its debug lines (sends)
        _KEEPING_OUT["depth"] += 1
    try:
        yield
    finally:
        with _KEEPING_OUT_LOCK:
            _KEEPING_OUT["depth"] -= 1
            if _KEEPING_OUT["depth"] == 0:
                apprise_log.propagate = _KEEPING_OUT["propagating"]
                apprise_log.setLevel(_KEEPING_OUT["level"])


def target_problems(config) -> list[str]:
    """A line for each notification target that could not send now."""
    return _problem_lines(config.notifications)


def event_target_problems(db, config, alert_id: int, event: str) -> list[str]:
    """target_problems, for only the targets that get this alert's `event`."""
    return _problem_lines(targets_for(config, _watch_of(db, alert_id), event))


def event_target_problem_pairs(db, config, alert_id: int, event: str) -> list[tuple[str, str]]:
    """(name, problem) of each target this alert's `event` is queued for that could not send it
    from this process (its environment, its files) now."""
    queued = {row[0] for row in db.execute("SELECT target FROM notifications WHERE alert_id = ? AND state LIKE ?",
                                           [alert_id, f"{event}:%"])}
    return [(target.name, problem) for target in targets_for(config, _watch_of(db, alert_id), event)
            if target.name in queued and (problem := url_problem(target))]


def _problem_lines(targets) -> list[str]:
    return [f"notification {target.name!r}: {problem}" for target in targets
            if (problem := url_problem(target))]


def warn_about_targets(config) -> None:
    """Logs target_problems: told when the service starts or reloads, not found out when the first
    alert fails to go out."""
    for line in target_problems(config):
        log.warning("%s: alerts for it will fail until this is fixed", line)


def targets_for(config, watch: str, event: str):
    return [n for n in config.notifications if event in n.events and (not n.watches or watch in n.watches)]


def _watch_of(db, alert_id: int) -> str:
    return db.execute("SELECT watch FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]


def queue_notifications(db, config, alert_id: int, event: str, severity: str,
                        now: dt.datetime | None = None) -> int:
    """Queue the alert's `event` for every target that wants it; returns how many rows were new.

    'resolved' is queued only for targets that heard (or may still hear) of the alert: the others
    would be told an incident is over that nobody told them about. An escalation is not queued for
    a target whose opening states that severity already (queued with it, or sent late at it), and
    is an opening for a target that never heard of the alert (`_event_for`). Called inside the transaction
    that wrote the alert's change, the rows commit with it (a savepoint); else in one of their own.
    """
    moment = to_iso(now or _utc_now())
    queued = 0
    with db.atomic():
        targets = targets_for(config, _watch_of(db, alert_id), event)
        if event == "escalated":
            targets = [target for target in targets if not _opening_stated(db, alert_id, target, severity)]
        if event == "resolved":
            _supersede_unsent_news(db, alert_id)
            targets = [target for target in targets if _may_have_heard(db, alert_id, target)]
        for target in targets:
            queued += _queue_row(db, alert_id, target, f"{_event_for(db, alert_id, target, event)}:{severity}",
                                 moment)
    return queued


RESOLVED_BEFORE_SENT = "the alert was resolved before this message went out"
NEVER_TOLD = "this target was never told about the alert"


def _supersede_unsent_news(db, alert_id: int) -> int:
    """At the alert's resolution, its openings and escalations still waiting for a (first or next)
    try will never go (`_hold_back` would drop them): marked superseded now, so they are not listed
    as undelivered meanwhile and a target that was never told gets no 'resolved' either. A message
    being sent right now (claimed) is left to its sender: it may get through."""
    return db.execute(
        "UPDATE notifications SET status = 'superseded', last_error = ?, next_attempt_at = NULL "
        "WHERE alert_id = ? AND state NOT LIKE 'resolved:%' AND status IN ('pending', 'failed') "
        "AND attempts < ? AND claimed_at IS NULL", [RESOLVED_BEFORE_SENT, alert_id, MAX_ATTEMPTS]).rowcount


def queue_late_openings(db, config, alert_id: int, now: dt.datetime | None = None) -> int:
    """Queue the opening of an open alert, at its severity of now, for each target that takes openings
    of its watch and has no message of it at all: one added to the watchlist while the alert went on
    unchanged would otherwise hear of it only if it grew. Returns how many rows were queued. An
    acknowledged alert is left alone: somebody is on it already."""
    status, severity, watch = db.execute("SELECT status, severity, watch FROM alerts WHERE id = ?",
                                         [alert_id]).fetchone()
    if status != "open":
        return 0
    moment = to_iso(now or _utc_now())
    queued = 0
    with db.atomic():
        state = f"opened:{severity}"
        for target in targets_for(config, watch, "opened"):
            if not _has_any_message(db, alert_id, target):
                queued += _revive(db, alert_id, target, state, moment) or _queue_row(db, alert_id, target, state, moment)
    return queued


def _has_any_message(db, alert_id: int, target) -> bool:
    """Whether the target has a message of the alert that was not dropped (one superseded while the
    target was out of the watchlist, say, told it nothing)."""
    return db.execute("SELECT 1 FROM notifications WHERE alert_id = ? AND target = ? "
                      "AND status != 'superseded' LIMIT 1", [alert_id, target.name]).fetchone() is not None


def _revive(db, alert_id: int, target, state: str, moment: str) -> int:
    """A dropped row of this very state made pending again (the key allows one row per state)."""
    return db.execute(
        "UPDATE notifications SET status = 'pending', attempts = 0, last_error = NULL, next_attempt_at = ?, "
        "sent_at = NULL, claimed_at = NULL WHERE alert_id = ? AND target = ? AND state = ? "
        "AND status = 'superseded'", [moment, alert_id, target.name, state]).rowcount


def _queue_row(db, alert_id: int, target, state: str, moment: str) -> int:
    return db.execute(
        """INSERT OR IGNORE INTO notifications (alert_id, target, state, status, attempts, next_attempt_at,
           created_at) VALUES (?, ?, ?, 'pending', 0, ?, ?)""",
        [alert_id, target.name, state, moment, moment],
    ).rowcount


def _event_for(db, alert_id: int, target, event: str) -> str:
    """The event to queue for `target`: an escalation is its opening (at the severity of now) for a
    target that takes openings but never heard of the alert (added to the watchlist since it opened):
    "escalated" would tell it of a change it never saw the start of."""
    if event == "escalated" and "opened" in target.events and not _may_have_heard(db, alert_id, target):
        return "opened"
    return event


def _opening_stated(db, alert_id: int, target, severity: str) -> bool:
    """Whether an opening of the alert to `target`, sent or still on its way, states `severity` or
    a higher one: then an escalation to it would tell the target nothing new."""
    rows = db.execute("SELECT state, last_error FROM notifications WHERE alert_id = ? AND target = ? "
                      "AND state LIKE 'opened:%' AND status != 'superseded'", [alert_id, target.name])
    return any(severity_rank(stated_severity(state, error)) >= severity_rank(severity) for state, error in rows)


def stated_severity(state: str, last_error: str | None) -> str:
    """The severity an 'opened'/'escalated' row told: the one it was queued at, or the one a late
    opening was sent with after the alert had grown ('sent as opened (critical)' in last_error)."""
    sent_as = re.search(r"sent as opened \((\w+)\)", last_error or "") if state.startswith("opened:") else None
    return sent_as[1] if sent_as else state.split(":", 1)[1]


def _announces_alerts(target) -> bool:
    """Whether the target takes the messages that announce an alert (not only 'resolved')."""
    return target is not None and bool({"opened", "escalated"} & set(target.events))


def _heard_of(db, alert_id: int, target, statuses: tuple[str, ...]) -> bool:
    """Whether an 'opened' or 'escalated' message of the alert has one of `statuses` for this target;
    for a target that takes only 'resolved': for any target (the alert was announced)."""
    # a failed row counts while it is still to be tried (its last try may be on its way, or due
    # again when its sender died: claimed, see _DUE): one given up on told nobody anything
    sql = (f"SELECT 1 FROM notifications WHERE alert_id = ? AND state NOT LIKE 'resolved:%' "
           f"AND status IN ({', '.join('?' * len(statuses))}) "
           f"AND NOT (status = 'failed' AND attempts >= ? AND claimed_at IS NULL)")
    params = [alert_id, *statuses, MAX_ATTEMPTS]
    if _announces_alerts(target):
        sql += " AND target = ?"
        params.append(target.name)
    return db.execute(sql + " LIMIT 1", params).fetchone() is not None


def _may_have_heard(db, alert_id: int, target) -> bool:
    return _heard_of(db, alert_id, target, (*TOLD, "pending", "failed"))


def _was_told(db, alert_id: int, target) -> bool:
    return _heard_of(db, alert_id, target, TOLD)


# --- the message -------------------------------------------------------------------------------------

def message_for(db, alert_id: int, state: str, target_name: str | None = None) -> tuple[str, str]:
    """Title and plain-text body of the message announcing `state` ('opened:high') of the alert.

    The body is plain text (deliver() makes it inert for the service that gets it: _inert_body);
    post text is public and untrusted.
    """
    alert = _alert_row(db, alert_id)
    event, severity = state.split(":", 1)
    # a late opening is titled with the severity of now, not the one it was queued at
    stated = alert["severity"] if event == "opened" else severity
    what = "negative mentions over a threshold" if alert["rule"].startswith("threshold:") else "negative spike"
    where = f"{alert['watch']}/{alert['source']}" if alert["source"] else alert["watch"]
    title = f"[mentionwatch] {where}: alert #{alert_id} {_headline(db, alert, event, stated, target_name)}"
    if event == "resolved":
        sections = [_resolved_lines(db, alert)]
    else:
        sections = [_status_lines(db, alert, event, severity), _explanation_lines(alert)]
    sections.append(_command_lines(alert))
    body = "\n\n".join("\n".join(lines) for lines in sections if lines)
    return f"{title} - {what}", body


def _alert_row(db, alert_id: int) -> dict:
    cursor = db.execute("SELECT id, watch, source, rule, status, severity, window_start, window_end, opened_at, "
                        "acknowledged_at, resolved_at, owner, explanation FROM alerts WHERE id = ?", [alert_id])
    return dict(zip([column[0] for column in cursor.description], cursor.fetchone()))


def _headline(db, alert: dict, event: str, severity: str, target_name: str | None) -> str:
    if event == "escalated":
        before = _severity_told_before(db, alert["id"], target_name, severity)
        return f"escalated {before} -> {severity}" if before else f"escalated to {severity}"
    if event == "resolved":
        return f"resolved (was {severity})"
    return f"opened ({severity})"


def _severity_told_before(db, alert_id: int, target_name: str | None, severity: str) -> str | None:
    """The severity this target last heard of the alert (what the escalation grew from): the highest
    told, since an alert's severity only rises. An escalation superseded because the opening already
    stated its severity counts as told."""
    rows = db.execute(
        "SELECT state, last_error FROM notifications WHERE alert_id = ? AND target = ? "
        "AND state NOT LIKE 'resolved:%' "
        f"AND (status IN ({', '.join('?' * len(TOLD))}) OR (status = 'superseded' AND last_error LIKE ?)) "
        "AND state != ?",
        [alert_id, target_name, *TOLD, f"{OPENING_SAID}%", f"escalated:{severity}"]).fetchall()
    told = [stated_severity(state, error) for state, error in rows]
    return max(told, key=severity_rank) if told else None


def _status_lines(db, alert: dict, event: str, severity: str) -> list[str]:
    """Severity now (when it moved on since the alert opened or this message was queued) and who owns
    the alert."""
    lines = []
    if event == "opened":
        first = _first_told(db, alert["id"], severity)
        if first != alert["severity"]:  # grown since, or a late target's opening: queued at a later severity
            lines.append(f"Opened at {first}; it has grown to {alert['severity']} since.")
    elif alert["severity"] != severity:
        lines.append(f"Severity is now {alert['severity']} (this message was queued at {severity}).")
    if alert["acknowledged_at"]:
        actor = _last_event_actor(db, alert["id"], "acknowledged")
        lines.append(f"Acknowledged by {actor} at {_utc_text(alert['acknowledged_at'])}, owner {alert['owner']}.")
    elif event == "escalated":
        lines.append("Not acknowledged yet.")
    return lines


def _first_told(db, alert_id: int, severity: str) -> str:
    """The severity the alert's first opening message (to any target) was queued at: a target added
    later has its own opening queued at the severity of then, not the one the alert opened at."""
    first = db.execute("SELECT state FROM notifications WHERE alert_id = ? AND state LIKE 'opened:%' "
                       "ORDER BY id LIMIT 1", [alert_id]).fetchone()
    return first[0].split(":", 1)[1] if first else severity


def _explanation_lines(alert: dict) -> list[str]:
    details = json.loads(alert["explanation"] or "{}")
    lines = [details.get("summary") or f"{alert['watch']} {alert['window_start']} - {alert['window_end']}"]
    mentions = details.get("top_mentions", [])[:3]
    if mentions:
        lines += ["", "Top negative mentions:"]
    for mention in mentions:
        who = mention.get("author") or mention.get("source")
        lines.append(f"- {who}: {_shortened(entry_text(mention))}")
        if mention.get("url"):
            lines.append(f"  {mention['url']}")
    return lines


def _shortened(text: str, limit: int = POST_CHARS) -> str:
    """The post on one line, cut at a word boundary with an ellipsis when longer than `limit`."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return cut_at_word(text, limit).rstrip(" ,.;:") + "…"


def _resolved_lines(db, alert: dict) -> list[str]:
    """Who resolved the alert, when, after how long, and the note they left."""
    actor, at, note = db.execute(
        "SELECT actor, at, detail FROM alert_events WHERE alert_id = ? AND kind = 'resolved' ORDER BY id DESC LIMIT 1",
        [alert["id"]]).fetchone() or (alert["owner"], alert["resolved_at"], None)
    resolved_at = alert["resolved_at"] or at
    lines = [f"The incident is over: resolved by {actor or '-'} at {_utc_text(resolved_at)}, "
             f"{_time_to_resolve(db, alert, resolved_at)}."]
    if note:
        lines.append(f"Note: {' '.join(note.split())}")
    return lines


def _time_to_resolve(db, alert: dict, resolved_at: str) -> str:
    """Counted from when the team could first know, as `alerts show` counts it: the opening, or, for
    an alert recorded late (a replay, imported history), its recording."""
    from alerts.postcrisis import clock_start

    start = clock_start(db, alert)
    counted_from = to_iso(start)
    if start == from_iso(alert["opened_at"]):
        return f"{_duration(alert['opened_at'], resolved_at)} after it opened ({_utc_text(alert['opened_at'])})"
    # the incident began with its window (the first hot hour), not at the opening that ends it
    began = alert.get("window_start") or alert["opened_at"]
    return (f"{_duration(counted_from, resolved_at)} after it was recorded ({_utc_text(counted_from)}; "
            f"the incident began {_utc_text(began)})")


def _command_lines(alert: dict) -> list[str]:
    lines = [] if alert["status"] != "open" else [f"Acknowledge: mentionwatch alerts ack {alert['id']}"]
    return lines + [f"Details: mentionwatch alerts show {alert['id']}"]


def _last_event_actor(db, alert_id: int, kind: str) -> str:
    row = db.execute("SELECT actor FROM alert_events WHERE alert_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
                     [alert_id, kind]).fetchone()
    return (row and row[0]) or "-"


def _utc_text(iso: str | None) -> str:
    """'2025-06-01 12:00 UTC' for a stored ISO time."""
    if not iso:
        return "-"
    return from_iso(iso).strftime("%Y-%m-%d %H:%M UTC")


def _duration(start: str, end: str | None) -> str:
    if not end:
        return "-"
    minutes = max(0, int((from_iso(end) - from_iso(start)).total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"]
    return " ".join(parts)


def notify_type_for(state: str) -> str:
    """apprise's notify type for a state: success when resolved, else by severity (info to failure)."""
    event, severity = state.split(":", 1)
    return "success" if event == "resolved" else NOTIFY_TYPES.get(severity, "info")


# --- sending -----------------------------------------------------------------------------------------

def deliver(url: str, title: str, body: str, notify_type: str = "info") -> Delivery:
    """Send one plain-text message; the error is apprise's logged reason (URL removed).

    The send runs in a worker thread with a deadline (see `_send_deadline`): one that has not ended
    by then is said unconfirmed and left to end on its own, and `still_sending(url)` holds until it
    has. Its lines stay out of our logs and of the next send's reasons meanwhile."""
    import apprise

    sender = apprise.Apprise(asset=_asset_without_service_deadline())
    with _apprise_lines_kept_out():
        if not sender.add(url):
            return Delivery(UNUSABLE_URL)
    if len(sender) > 1:
        return Delivery(SEVERAL_URLS)
    _apply_default_timeouts(sender, url)
    body, body_format = _inert_body(_schemes_of(next(iter(sender))), body)
    deadline = _send_deadline(sender)
    outcome = _send_within(url, deadline, sender, title=title, body=body,
                           body_format=body_format, notify_type=notify_type)
    if outcome is None:
        return Delivery(f"no complete answer within {deadline:.0f} s (the receiver kept the connection "
                        "open), so it may well have arrived; not sent again", unanswered=True, cut_off=True)
    delivered, text = outcome
    if isinstance(delivered, Exception):  # a plugin bug must not crash detection
        return Delivery(f"{type(delivered).__name__}: {delivered}".replace(url, "<url>")[:ERROR_CHARS])
    if delivered:
        return Delivery()
    reasons = [line.split(" - ", 2)[-1] for line in text.splitlines() if " - WARNING - " in line or " - ERROR - " in line]
    reason = "; ".join(reasons) or "apprise reported a failed delivery"
    # requests' ReadTimeout: the request was sent, the answer did not come in time. Only the lines
    # that log an exception are read: the debug log also holds the payload, and a post may say it
    unanswered = any("Read timed out" in line for line in text.splitlines()
                     if any(marker in line for marker in _EXCEPTION_LINES))
    if unanswered:
        reason = f"no answer within the read timeout, so it may well have arrived; not sent again ({reason})"
    else:
        reason = _with_failure_kind(reason, text)
    return Delivery(reason.replace(url, "<url>")[:ERROR_CHARS], unanswered=unanswered)


def _schemes_of(server) -> set[str]:
    """The URL schemes of the apprise plugin that sends: a service is known by its plugin, not by
    the URL's scheme (https://discord.com/api/webhooks/… loads the Discord plugin too)."""
    names = set()
    for value in (getattr(server, "protocol", None), getattr(server, "secure_protocol", None)):
        names.update([value] if isinstance(value, str) else value or ())
    return {name.lower() for name in names}


def _inert_body(schemes: set[str], body: str) -> tuple[str, str]:
    """The plain-text body made inert for the service of `schemes`, and the format to tell apprise.

    Post text is public and untrusted. apprise escapes plain text for the HTML and Markdown targets
    it knows (e-mail, Slack, Telegram, Google Chat, Rocket.Chat, Teams workflows), but sends it as it
    is to Mattermost, Discord and Zulip, which render Markdown (a disguised link, a heading): escaped
    here, and then said to be Markdown, so that apprise does not escape it a second time. Services
    that ping people for an "@" in the text get a zero-width space after it."""
    import apprise

    for scheme, escape in _MARKDOWN_ESCAPES.items():
        if scheme in schemes:
            return escape(body), apprise.NotifyFormat.MARKDOWN
    if schemes & _PINGING_SCHEMES:
        body = _without_mentions(body)
    return body, apprise.NotifyFormat.TEXT


def _without_mentions(text: str) -> str:
    """A zero-width space after each "@" that starts a word (see _MENTION_AT), and after every
    @channel, @all, @here, @room: nobody is pinged, and the text reads the same."""
    return _BROADCAST_AT.sub("@" + ZWSP, _MENTION_AT.sub("@" + ZWSP, text))


def _outside_links(text: str, escape) -> str:
    """`escape` applied to the text between links, each link left as written so that it still works
    (the services link it as a whole, so no markup forms inside it)."""
    parts, end = [], 0
    for link in _URL.finditer(text):
        address = _link_as_read(link[0])
        parts += [escape(text[end:link.start()]), address]
        end = link.start() + len(address)
    return "".join(parts + [escape(text[end:])])


def _link_as_read(candidate: str) -> str:
    """The link an autolinker takes from `candidate`: without the punctuation that ends a sentence,
    and without a closing bracket it did not open (Foo_(bar) keeps its own)."""
    while candidate and (candidate[-1] in _AFTER_LINK
                         or candidate[-1] == ")" and candidate.count(")") > candidate.count("(")):
        candidate = candidate[:-1]
    return candidate


def _mattermost_text(text: str) -> str:
    """Mattermost renders the text as Markdown and pings @channel, @all, @here and @name."""
    from apprise.conversion.format import text_to_markdown

    return _outside_links(_without_mentions(text), text_to_markdown)


def _discord_text(text: str) -> str:
    """Discord renders Markdown in a web hook's content ([masked](links), headings, quotes, spoilers)
    and pings @everyone and @here (web hooks do unless told not to; apprise does not tell them) and
    <@user>, <@&role>, <#channel>: markup characters get a backslash, Discord's escape, and each "<"
    and "@" a zero-width space (in a link, only the "@" of a mention: see _DISCORD_MENTION). Every
    "@", not only those of Discord's mentions: with ?format=markdown apprise itself takes any @word
    (an e-mail address's domain too) for a mention, allows it, and sends it as a ping of its own."""
    text = _outside_links(text, lambda part: _DISCORD_MARKUP.sub(r"\\\1", part).replace("<", "<" + ZWSP)
                          .replace("@", "@" + ZWSP))
    return _DISCORD_MENTION.sub("@" + ZWSP, text)


def _zulip_text(text: str) -> str:
    """Zulip renders its Markdown ([links](…), **bold**, $$TeX$$, <time:…>) and pings @**all**,
    @**everyone**, @**stream**, @**name** and @*group*: see _ZULIP_MARKUP."""
    return _outside_links(_without_mentions(text), lambda part: part.translate(_ZULIP_MARKUP))


# Services that render a plain-text body as Markdown unless it is escaped here (see _inert_body)
_MARKDOWN_ESCAPES = {"mmost": _mattermost_text, "mmosts": _mattermost_text, "discord": _discord_text,
                     "zulip": _zulip_text}
# Services apprise escapes the markup for, but that ping people mentioned with an "@" in the text
_PINGING_SCHEMES = {"rocket", "rockets", "tgram", "matrix", "matrixs"}


# What apprise's debug lines (the socket exception text of requests and urllib3) may say, and the
# plain words said instead. Only these fixed words and a port number are taken from those lines:
# the lines themselves quote the host, the path and the query of the URL (secrets).
_FAILURE_KINDS = (
    (("connection refused", "econnrefused", "errno 111]", "winerror 10061"), "connection refused"),
    (("name or service not known", "failed to resolve", "nodename nor servname", "name resolution",
      "getaddrinfo failed", "no address associated with hostname"), "host name not found in DNS"),
    (("connecttimeout", "connect timeout"), "no connection within the connect timeout"),
    (("no route to host",), "no route to the host"),
    (("network is unreachable",), "network unreachable"),
    (("certificate_verify_failed", "certificate verify failed"), "TLS certificate not trusted"),
    (("sslerror", "ssl:", "wrong version number"), "TLS handshake failed"),
    (("connection reset",), "connection reset by the receiver"),
    (("remotedisconnected", "connection aborted"), "the receiver closed the connection without an answer"),
)
_EXCEPTION_LINES = ("Socket Exception:", "I/O Exception:")  # how apprise's plugins log requests' errors
_PORT = re.compile(r"\bport=(\d{1,5})\b")
# the end _with_failure_kind() gives a reason: fixed words and a port, no part of the URL to hide
_FIXED_TAIL = re.compile(": (?:%s)(?: \\(port \\d{1,5}\\))?$"
                         % "|".join(re.escape(words) for _markers, words in _FAILURE_KINDS))


def _failure_kind(captured: str) -> str | None:
    """The kind of a connection failure in apprise's captured lines ('connection refused (port 9)'),
    built from fixed words and a port number only; None when the lines do not tell. Only the lines
    where apprise's plugins log the exception are read (not the payload: post text, public)."""
    exceptions = "\n".join(message for line in captured.splitlines()
                           if (message := line.split(" - ", 2)[-1]).startswith(_EXCEPTION_LINES))
    lowered = exceptions.lower()
    kind = next((words for markers, words in _FAILURE_KINDS if any(marker in lowered for marker in markers)), None)
    if kind is None:
        return None
    port = _PORT.search(exceptions)
    return f"{kind} (port {port[1]})" if port else kind


def _with_failure_kind(reason: str, captured: str) -> str:
    """apprise's warning ('A Connection error occurred sending JSON notification to …') with the
    kind of failure its debug lines give, unless the warning already says it."""
    kind = _failure_kind(captured)
    if kind is None or kind.split(" (", 1)[0].lower() in reason.lower():
        return reason
    return f"{reason.rstrip(' .')}: {kind}"


def _send_deadline(sender) -> float:
    """Seconds a whole send may take: the read timeout bounds each read, not the answer, so a
    receiver that sends a byte now and then would hold the service's notifying (and detecting) for
    as long as it liked. Twice a connection and an answer, and some seconds more; at most
    MAX_SEND_SECONDS (a huge rto= given in the URL), so that a send still going has not outlived
    its claim (another sender would take it for abandoned and send the same state again)."""
    slowest = max((server.socket_connect_timeout + server.socket_read_timeout for server in sender),
                  default=CONNECT_TIMEOUT + READ_TIMEOUT)
    return min(2 * slowest + 5, max_send_seconds())


# what a claimed row may still need after its send's deadline (its message read before the send,
# the outcome written after it, waiting up to storage's 30 s busy timeout for the write lock)
CLAIM_MARGIN_SECONDS = 90.0
MAX_SEND_SECONDS = CLAIM_TIMEOUT.total_seconds() - CLAIM_MARGIN_SECONDS  # 510 s


def max_send_seconds() -> float:
    """The longest deadline a send gets: CLAIM_MARGIN_SECONDS short of CLAIM_TIMEOUT (worked out
    when asked, so that a test that shortens CLAIM_TIMEOUT shortens it too)."""
    return CLAIM_TIMEOUT.total_seconds() - CLAIM_MARGIN_SECONDS


_STILL_SENDING: dict[str, threading.Thread] = {}  # URL -> its send cut off at the deadline (memory only)
_STILL_SENDING_LOCK = threading.Lock()


def still_sending(url: str) -> bool:
    """Whether a send to `url` cut off at its deadline is still going: nothing more is sent there
    until it has ended, so stuck sends do not pile up."""
    with _STILL_SENDING_LOCK:
        worker = _STILL_SENDING.get(url)
        if worker is not None and not worker.is_alive():
            del _STILL_SENDING[url]
            worker = None
    return worker is not None


def _asset_without_service_deadline():
    """apprise 2 keeps its own deadline per send (60 s), and sends in a thread pool of its own to keep
    it; the deadline here is ours (`_send_deadline`), so that the send runs in our worker thread and
    its log lines can be told from another send's."""
    import apprise

    try:
        return apprise.AppriseAsset(service_timeout=0)
    except (TypeError, AttributeError):  # apprise 1: no such deadline; it sends in the calling thread
        return apprise.AppriseAsset()


def _send_within(url: str, deadline: float, sender, **message) -> tuple[object, str] | None:
    """(sender.notify's result or the exception it raised, apprise's lines of that send), from a
    worker thread; None when the worker has not finished after `deadline` seconds."""
    outcome: dict = {}

    def send() -> None:
        with _apprise_lines_kept_out(), _this_threads_apprise_lines() as captured:
            try:
                outcome["delivered"] = sender.notify(**message)
            except Exception as exc:
                outcome["delivered"] = exc
            outcome["text"] = captured.getvalue()

    worker = threading.Thread(target=send, name="notification-send", daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        with _STILL_SENDING_LOCK:
            _STILL_SENDING[url] = worker
        return None
    return outcome["delivered"], outcome["text"]


@contextlib.contextmanager
def _this_threads_apprise_lines():
    """apprise's log lines written by this thread only, as text (another thread's send, one cut off
    at its deadline say, must not lend this one its failure)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s"))
    thread = threading.get_ident()
    handler.addFilter(lambda record: record.thread == thread)
    apprise_log = logging.getLogger("apprise")
    apprise_log.addHandler(handler)
    try:
        yield buffer
    finally:
        apprise_log.removeHandler(handler)


def _apply_default_timeouts(sender, url: str) -> None:
    """CONNECT_TIMEOUT and READ_TIMEOUT where the URL gives no cto= or rto= (never shortening a
    plugin's own longer default)."""
    from apprise.utils.parse import parse_url

    given = (parse_url(url, verify_host=False) or {}).get("qsd") or {}
    for server in sender:
        if "cto" not in given:
            server.socket_connect_timeout = max(server.socket_connect_timeout, CONNECT_TIMEOUT)
        if "rto" not in given:
            server.socket_read_timeout = max(server.socket_read_timeout, READ_TIMEOUT)


def backoff_seconds(attempts: int, config) -> float:
    return min(config.service.max_backoff, config.service.notify_retry_interval * 2 ** max(0, attempts - 1))


# a last try whose sender died mid-send (its claim gone stale) is due once more: it may have gone
# out twice, never zero times
_DUE = """status IN ('pending', 'failed') AND (attempts < :max_attempts OR claimed_at <= :stale)
           AND coalesce(next_attempt_at, '') <= :now AND (claimed_at IS NULL OR claimed_at <= :stale)"""


def _due_params(moment: dt.datetime) -> dict:
    return {"max_attempts": MAX_ATTEMPTS, "now": to_iso(moment), "stale": to_iso(moment - CLAIM_TIMEOUT)}


def _claim(db, notification_id: int, attempts: int, moment: dt.datetime) -> bool:
    """Take the row for this sender; False when another sender claimed or finished it meanwhile.

    One UPDATE in a write transaction (storage's `atomic()` takes the write lock first) re-checks
    that the row is still due and unchanged (same attempts), so of two senders only one sees
    rowcount 1. It also re-checks that the alert was not resolved since `_hold_back` looked: then
    the row stays as it is, and the next round supersedes it.
    """
    with db.atomic():
        return db.conn.execute(
            f"UPDATE notifications SET claimed_at = :now, attempts = attempts + 1 "
            f"WHERE id = :id AND attempts = :attempts AND {_DUE} "
            f"AND (state LIKE 'resolved:%' OR NOT EXISTS "
            f"(SELECT 1 FROM alerts WHERE alerts.id = notifications.alert_id AND alerts.status = 'resolved'))",
            {"id": notification_id, "attempts": attempts, **_due_params(moment)},
        ).rowcount == 1


def _supersede(db, notification_id: int, attempts: int, moment: dt.datetime, reason: str) -> bool:
    """Mark a due row 'superseded' (never sent) with the reason; False when another sender took it."""
    with db.atomic():
        return db.conn.execute(
            f"UPDATE notifications SET status = 'superseded', last_error = :reason, next_attempt_at = NULL "
            f"WHERE id = :id AND attempts = :attempts AND {_DUE}",
            {"id": notification_id, "attempts": attempts, "reason": reason, **_due_params(moment)},
        ).rowcount == 1


WAIT = "wait"


def _hold_back(db, target, notification_id: int, alert_id: int, target_name: str, state: str) -> str | None:
    """WAIT while an earlier message of the alert to this target is on its way; a reason when the
    message is no longer true (it is superseded); None to send it now."""
    earlier = db.execute(  # still to be tried, or on its last try (claimed: see _DUE)
        "SELECT 1 FROM notifications WHERE alert_id = ? AND target = ? AND id < ? "
        "AND status IN ('pending', 'failed') AND (attempts < ? OR claimed_at IS NOT NULL) LIMIT 1",
        [alert_id, target_name, notification_id, MAX_ATTEMPTS]).fetchone()
    if earlier:
        return WAIT
    event = state.split(":", 1)[0]
    if event != "resolved" and _is_resolved(db, alert_id):
        return RESOLVED_BEFORE_SENT
    if event == "escalated" and _later_escalation(db, notification_id, alert_id, target_name):
        return "a later escalation of the alert replaces it"
    if event == "resolved" and not _was_told(db, alert_id, target):
        return NEVER_TOLD
    return None


def _later_escalation(db, notification_id: int, alert_id: int, target_name: str) -> bool:
    return db.execute("SELECT 1 FROM notifications WHERE alert_id = ? AND target = ? AND id > ? "
                      "AND state LIKE 'escalated:%' AND status IN ('pending', 'failed') LIMIT 1",
                      [alert_id, target_name, notification_id]).fetchone() is not None


TEST_TITLE = "[mentionwatch] test message — no alert"


def notify_test_message(target_name: str, watchlist: str, host: str) -> tuple[str, str]:
    """Title and body of `mentionwatch notify test`'s message: clearly no alert."""
    return (f"{TEST_TITLE} ({target_name})",
            "mentionwatch test message — no alert. Nothing happened: this only checks that messages "
            f"reach you.\n\nSent by `mentionwatch notify test` on {host} to notification {target_name!r} "
            f"of the watchlist {watchlist}. Alerts for this target come the same way.")


def send_test(target, watchlist: str, host: str) -> tuple[str, str | None]:
    """Send the test message to `target` the way alerts go (deliver(): apprise's lines kept out of
    our logs; the reason without the address, redacted, as stored for an alert). Stores nothing.

    Returns ('sent', None), ('no URL', why), ('failed', reason) or ('unconfirmed', reason): no
    answer within the read timeout.
    """
    url = target.resolve_url()
    if url is None:
        return "no URL", _missing_url_problem(target).removeprefix("no URL: ")
    title, body = notify_test_message(target.name, watchlist, host)
    try:
        delivery = deliver(url, title, body, "info")
    except Exception as exc:  # never a traceback: said as a failure, as for an alert
        delivery = Delivery(f"{type(exc).__name__}: {exc}".replace(url, "<url>")[:ERROR_CHARS])
    error = _without_address(delivery.error, url, target.name)
    if error is None:
        return "sent", None
    return ("unconfirmed" if delivery.unanswered else "failed"), redact(error)


def _without_address(error: str | None, url: str, target_name: str) -> str | None:
    """apprise's reason names parts of the URL ('… sending JSON notification to hooks.acme.com',
    "… to topic 'acme-alerts-7f3k'"): the URL is a secret (a Slack token stands in the host's place,
    an ntfy topic in the path), so the host is named by the notification and the rest hidden.

    All in one pass (a replacement is never searched again), from URL_PART_CHARS on: shorter parts
    would hide ordinary words (how each part is found: _address_patterns). The failure kind
    deliver() added at the end is fixed words, kept as they are."""
    if error is None or "://" not in url:
        return error
    try:
        parts = urllib.parse.urlsplit(url.strip())
        host, user, password = parts.hostname, parts.username, parts.password
    except ValueError:  # not readable as a URL: apprise will not have quoted parts of it either
        return error
    hidden = _address_patterns(host, (user, password), parts.path.split("/"), target_name)
    if not hidden:
        return error
    tail = _FIXED_TAIL.search(error)
    said, kept = (error[:tail.start()], tail[0]) if tail else (error, "")
    pattern = re.compile("|".join(f"({source})" for source, _shown in hidden))
    return pattern.sub(lambda match: hidden[match.lastindex - 1][1], said) + kept


def _address_patterns(host: str | None, credentials, path_parts, target_name: str) -> list[tuple[str, str]]:
    """(regex, shown instead) for the host and each secret part of the URL (as written and unquoted),
    longest first, so that a part inside a longer one does not cut that one short.

    The host, user and password are found in any case and anywhere. So is a path part with a
    digit or a sign in it (a token, an ntfy topic such as acme-alerts-7f3k: a server may quote it in
    another case, or run into other text); a path part of letters alone (json, connection, team) is
    found only as written and as a whole word, so that it does not hide the same word in a reason."""
    hidden = {}
    if host and len(host) >= URL_PART_CHARS:
        hidden[host] = (f"(?i:{re.escape(host)})", f"the address of {target_name!r}")
    for secret, is_credential in [(part, True) for part in credentials] + [(part, False) for part in path_parts]:
        for form in {secret, urllib.parse.unquote(secret)} if secret else ():
            if len(form) < URL_PART_CHARS or form in hidden:
                continue
            if is_credential or not form.isalpha():
                hidden[form] = (f"(?i:{re.escape(form)})", REDACTED)
            else:
                hidden[form] = (rf"(?<!\w){re.escape(form)}(?!\w)", REDACTED)
    return [hidden[text] for text in sorted(hidden, key=len, reverse=True)]


def _stated_state(db, alert_id: int, state: str) -> str:
    """The state the message states: an opening gives the alert's severity at the time it is sent."""
    event = state.split(":", 1)[0]
    if event != "opened":
        return state
    return f"opened:{_alert_row(db, alert_id)['severity']}"


def _supersede_escalations_told(db, alert_id: int, target_name: str, stated: str) -> int:
    """After an opening that stated `stated` reached the target: its escalations waiting to go, up to
    that severity, would only repeat it; they are marked superseded (never sent)."""
    waiting = db.execute(
        "SELECT id, state FROM notifications WHERE alert_id = ? AND target = ? "
        "AND state LIKE 'escalated:%' AND status IN ('pending', 'failed')",
        [alert_id, target_name]).fetchall()
    told = [notification_id for notification_id, state in waiting
            if severity_rank(state.split(":", 1)[1]) <= severity_rank(stated)]
    with db.atomic():
        return sum(db.conn.execute(
            "UPDATE notifications SET status = 'superseded', last_error = ?, next_attempt_at = NULL "
            "WHERE id = ? AND status IN ('pending', 'failed') AND claimed_at IS NULL",
            [f"{OPENING_SAID} {stated}", notification_id]).rowcount for notification_id in told)


def send_pending(db, config, now: dt.datetime | None = None, keep_going=lambda: True,
                 drop_removed_targets: bool = False, from_shell: bool = False) -> NotifyResult:
    """Deliver every pending notification, and failed ones whose retry time has come, in order per
    alert and target; superseded ones are marked, not sent (see the module doc).

    Targets are sent to at once (up to SEND_LANES), each in its own order: a slow target (a mail
    server taking a minute, a web hook held to its deadline) does not hold up the others. Only the
    sends themselves run in threads; every read and write of `db` stays in the calling thread.

    Safe to run in several processes at once: each row is claimed before it is sent (see the
    module doc), and rows another sender holds are left to it. A target that fails is not tried
    again in the same pass.

    A row for a target `config` does not name is superseded when `drop_removed_targets` (the
    service, whose watchlist is the one in force: the target was taken out of it), else left for
    the service (`detect` run with another watchlist must not drop the service's messages).

    `from_shell` (`detect` typed in a shell, never the service): a row whose target takes its URL
    from a variable or a file this process lacks (see `shell_problem`) is left pending, with no
    attempt counted and no retry put off, for the service, which has its own environment; the
    result names those targets (`left_for_service`). The service records such a row failed, as any.

    Each row is claimed (and its outcome timed) at the time it is reached, not when the round
    began: a round of slow sends would otherwise leave its later claims looking old to another
    sender while they are still going. `now` (tests, simulations) fixes that time for the round.
    """
    due = db.execute(
        f"SELECT id, alert_id, target, state, attempts, claimed_at FROM notifications WHERE {_DUE} ORDER BY id",
        _due_params(now or _utc_now()),
    ).fetchall()
    sending = _SendRound(db, config, now, drop_removed_targets, from_shell)
    lanes: dict[str, collections.deque] = {}
    for row in due:
        lanes.setdefault(sending.lane_of(row[2]), collections.deque()).append(row)
    sending.run(lanes, keep_going)
    return sending.result


def _unexpected(exc: BaseException, send: _Send) -> Delivery:
    _notification_id, alert_id, target_name, state, _attempts = send.row
    log.error("notification %s (alert %s, target %s): unexpected error", state, alert_id, target_name,
              exc_info=exc)
    return Delivery(f"unexpected error ({type(exc).__name__}; see the service log)")


SEND_LANES = 8  # targets (addresses) sent to at once; more wait for a free lane


@dataclass
class _Send:
    """A claimed row whose message is on its way, in a thread of its own."""
    row: tuple  # (notification_id, alert_id, target_name, state, attempts after this one)
    moment: dt.datetime
    url: str
    target_name: str
    stated: str  # the state its title gives ('opened:critical')
    lane: str = ""


class _SendRound:
    """One pass of send_pending: the rows of each target in order, the targets side by side. A lane
    is an address: two targets with the same URL share one, so that one receiver never has two of
    our sends at once (a stuck one would hold both)."""

    def __init__(self, db, config, now, drop_removed_targets: bool, from_shell: bool):
        self.db, self.config, self.now = db, config, now
        self.drop_removed_targets, self.from_shell = drop_removed_targets, from_shell
        self.result = NotifyResult()
        self.targets = {n.name: n for n in config.notifications}
        self.failing: set[str] = set()
        self.problems: dict[str, str | None] = {}  # target -> shell_problem, looked at once per round
        self.in_flight: dict[int, _Send] = {}
        self.finished: queue.Queue = queue.Queue()  # (notification_id, Delivery) from the send threads

    def lane_of(self, target_name: str) -> str:
        """The lane a target's rows go in: its address, or its name when it has none here."""
        target = self.targets.get(target_name)
        url = target.resolve_url() if target is not None else None
        return f"url:{url}" if url else f"name:{target_name}"

    def run(self, lanes: dict[str, collections.deque], keep_going) -> None:
        idle = collections.deque(lanes)  # lanes with rows left and no send going
        try:
            while True:
                while idle and len(self.in_flight) < SEND_LANES and keep_going():
                    lane = idle.popleft()
                    self._start_next(lane, lanes[lane])
                if not self.in_flight:  # all sent, or stopping: no new send it could not see through
                    return
                send = self._finish_next()
                if lanes[send.lane]:
                    idle.append(send.lane)
        except KeyboardInterrupt:  # Ctrl-C in `detect`: sent at the next run, not CLAIM_TIMEOUT later
            _release_claims(self.db, list(self.in_flight))
            raise
        except BaseException:
            self._see_through_in_flight()
            raise
        finally:
            with _SENDING_LOCK:
                _SENDING.difference_update(self.in_flight)

    def _finish_next(self) -> _Send:
        notification_id, delivery = self._next_finished()
        send = self.in_flight.pop(notification_id)
        self._finish(send, delivery)
        return send

    def _see_through_in_flight(self) -> None:
        """After an error here (the database locked, say), the sends already on their way are
        waited for and their outcomes recorded as far as the database lets: left claimed, each
        would go again CLAIM_TIMEOUT later."""
        while self.in_flight:
            try:
                self._finish_next()
            except KeyboardInterrupt:
                _release_claims(self.db, list(self.in_flight))
                raise
            except Exception:
                log.exception("notifications: could not record what became of a send")

    def _next_finished(self) -> tuple[int, Delivery]:
        while True:
            try:  # a timeout, so that Ctrl-C is seen while the sends go on
                return self.finished.get(timeout=1.0)
            except queue.Empty:
                continue

    def _start_next(self, lane: str, rows: collections.deque) -> None:
        """Start the send of this lane's next row that is to go now, passing over (and marking)
        the rows that are not, and those of a target that failed in this round; nothing when none
        is."""
        while rows:
            row = rows.popleft()
            if row[2] in self.failing:
                continue
            send = self._claimed(*row)
            if send is None:
                continue
            send.lane = lane
            self._launch(send)
            return

    def _launch(self, send: _Send) -> None:
        """The send's thread started, and the send counted in flight once it has."""
        notification_id = send.row[0]
        with _SENDING_LOCK:
            _SENDING.add(notification_id)
        try:
            threading.Thread(target=self._deliver, args=(send, self._message(send)),
                             name="notification-lane", daemon=True).start()
        except BaseException:  # no thread to be had (or Ctrl-C): the row goes at the next round
            with _SENDING_LOCK:
                _SENDING.discard(notification_id)
            _release_claims(self.db, [notification_id])
            raise
        self.in_flight[notification_id] = send

    def _claimed(self, notification_id, alert_id, target_name, state, attempts, claimed_at) -> _Send | None:
        """The row claimed for sending, or None when it is not to go now (marked superseded, left
        for later or for the service, or claimed by another sender)."""
        moment = self.now or _utc_now()
        target = self.targets.get(target_name)
        if target is None and not self.drop_removed_targets:
            return None
        if _cut_off_send_still_going(target):
            self.failing.add(target_name)  # left due: sent once that send has ended
            return None
        if target is None:  # taken out of the watchlist: retrying it 8 times helps nobody
            held = f"no notification named {target_name!r} in the watchlist any more"
        else:
            held = _hold_back(self.db, target, notification_id, alert_id, target_name, state)
        if held == WAIT:
            return None
        if held is not None:
            if _supersede(self.db, notification_id, attempts, moment, held):
                self.result.superseded += 1
                log.info("notification %s (alert %s, target %s) not sent: %s", state, alert_id, target_name, held)
            return None
        if self.from_shell and self._shell_problem(target, state, alert_id) is not None:
            return None
        # read before the claim: a failure after it would leave the row claimed for CLAIM_TIMEOUT
        url, stated = target.resolve_url(), _stated_state(self.db, alert_id, state)
        if not _claim(self.db, notification_id, attempts, moment):
            return None  # another process is sending it, or already has
        if claimed_at is not None:
            log.warning("notification %s (alert %s, target %s) was claimed at %s by a sender that never "
                        "finished; sending it again", state, alert_id, target_name, claimed_at)
        return _Send((notification_id, alert_id, target_name, state, attempts + 1), moment, url, target_name,
                     stated)

    def _shell_problem(self, target, state: str, alert_id: int) -> str | None:
        """Why this shell leaves the row to the service (counted in the result), or None."""
        if target.name not in self.problems:
            self.problems[target.name] = shell_problem(target)
        problem = self.problems[target.name]
        if problem is not None:
            self.result.left_for_service[target.name] = problem
            self.result.left_rows[target.name] = self.result.left_rows.get(target.name, 0) + 1
            log.info("notification %s (alert %s, target %s) not sent from this shell: %s; the service sends it",
                     state, alert_id, target.name, problem)
        return problem

    def _message(self, send: _Send) -> tuple[str, str] | Delivery:
        """Title and body, read here (the send threads never touch the database); a Delivery with
        the error when there is nothing to send."""
        _notification_id, alert_id, target_name, state, _attempts = send.row
        if send.url is None:
            return Delivery(_missing_url_problem(self.targets[target_name]))
        try:
            return message_for(self.db, alert_id, state, target_name)
        except Exception as exc:  # one alert's surprise must not stop the others' messages
            return _unexpected(exc, send)

    def _deliver(self, send: _Send, message: tuple[str, str] | Delivery) -> None:
        """In the send's own thread: deliver it, and hand the outcome back to the round."""
        try:
            if isinstance(message, Delivery):
                delivery = message
            else:
                delivery = deliver(send.url, *message, notify_type_for(send.stated))
                delivery = dataclasses.replace(delivery, error=_without_address(delivery.error, send.url,
                                                                                send.target_name),
                                               stated_severity=send.stated.split(":", 1)[1])
        except BaseException as exc:  # one target's surprise must not stop the others' messages
            delivery = _unexpected(exc, send)
        self.finished.put((send.row[0], delivery))

    def _finish(self, send: _Send, delivery: Delivery) -> None:
        notification_id, alert_id, target_name, state, _attempts = send.row
        with _SENDING_LOCK:
            _SENDING.discard(notification_id)
        if delivery.error is not None and (delivery.cut_off or not delivery.unanswered):
            self.failing.add(target_name)
        _record(self.db, self.config, self.result, send.moment, send.row, delivery)
        if state.startswith("opened:") and (delivery.error is None or delivery.unanswered):
            self.result.superseded += _supersede_escalations_told(self.db, alert_id, target_name,
                                                                  delivery.stated_severity)


def shell_problem(target) -> str | None:
    """Why this process cannot send to `target` when the service may well can: its URL comes from
    an environment variable or a file (or reads a ${VARIABLE}) this process lacks or reads
    differently ('MW_URL_X is not set here'). None when it can send, or when its problem is in the
    watchlist itself (a `url:` apprise cannot use), which the service shares."""
    problem = url_problem(target)
    if problem is None:
        return None
    if target.url_env:
        if target.resolve_url() is None:
            return f"{target.url_env} is not set here"
        return f"{problem} (the URL in {target.url_env} here)"
    if target.url_file:
        return problem.removeprefix("no URL: ")
    unset = target.unset_variable()
    return f"{unset} (in its url) is not set here" if unset else None


def _cut_off_send_still_going(target) -> bool:
    url = target.resolve_url() if target is not None else None
    return url is not None and still_sending(url)


def settle_interrupted_sends(db) -> int:
    """Release the claims of the sends this process began and a stop cuts short, so that the next
    start sends them at once rather than CLAIM_TIMEOUT later. Whether the target got the message
    is not known (it may still have been connecting): sent again, it may arrive twice, never zero
    times. Returns how many."""
    with _SENDING_LOCK:
        began = sorted(_SENDING)
    _release_claims(db, began)
    return len(began)


def _release_claims(db, notification_ids) -> None:
    with db.atomic():
        for notification_id in notification_ids:
            db.execute("UPDATE notifications SET claimed_at = NULL, attempts = max(attempts - 1, 0) "
                       "WHERE id = ? AND status IN ('pending', 'failed') AND claimed_at IS NOT NULL",
                       [notification_id])


def _is_resolved(db, alert_id: int) -> bool:
    return db.execute("SELECT status FROM alerts WHERE id = ?", [alert_id]).fetchone()[0] == "resolved"


def _drop_news_of_a_resolved_alert(db, config, notification_id: int, alert_id: int, error: str) -> int:
    """A try that failed while the alert was resolved (it was on its way at the resolution) will not
    be retried: `_hold_back` would drop it at its next turn. It is marked superseded now, and so is a
    'resolved' queued behind it for a target that has now heard nothing of the alert, so neither is
    listed as still to be delivered meanwhile. Returns how many rows were dropped."""
    db.execute("UPDATE notifications SET status = 'superseded', last_error = ?, next_attempt_at = NULL "
               "WHERE id = ?", [f"{RESOLVED_BEFORE_SENT} (its last try failed: {error})", notification_id])
    dropped = 1
    waiting = db.execute("SELECT id, target FROM notifications WHERE alert_id = ? AND state LIKE 'resolved:%' "
                         "AND status IN ('pending', 'failed') AND claimed_at IS NULL", [alert_id]).fetchall()
    targets = {target.name: target for target in config.notifications}
    for resolved_id, target_name in waiting:
        target = targets.get(target_name)
        if target is not None and not _may_have_heard(db, alert_id, target):
            db.execute("UPDATE notifications SET status = 'superseded', last_error = ?, next_attempt_at = NULL "
                       "WHERE id = ?", [NEVER_TOLD, resolved_id])
            dropped += 1
    return dropped


def _stated_note(state: str, delivery: Delivery) -> str | None:
    """What a message said when it was not its queued state, for `alerts show`: a late opening is
    titled with the alert's severity when it went. The row keeps its queued state, the key that
    keeps a state from being queued (and sent) twice."""
    event, queued = state.split(":", 1)
    if delivery.stated_severity in (None, queued):
        return None
    return f"sent as {event} ({delivery.stated_severity})"


def _record(db, config, result: NotifyResult, moment: dt.datetime, row: tuple, delivery: Delivery) -> None:
    """Store what became of one send: sent, unconfirmed (not sent again), or failed (retried later)."""
    notification_id, alert_id, target_name, state, attempts = row
    # apprise's reason may quote part of the URL (a token, a password)
    error = redact(delivery.error) if delivery.error is not None else None
    with db.atomic():
        if error is None or delivery.unanswered:
            outcome = "; ".join(filter(None, [error, _stated_note(state, delivery)])) or None
            db.execute("UPDATE notifications SET status = ?, attempts = ?, last_error = ?, sent_at = ?, "
                       "next_attempt_at = NULL, claimed_at = NULL WHERE id = ?",
                       ["unconfirmed" if delivery.unanswered else "sent", attempts, outcome, to_iso(moment),
                        notification_id])
        else:
            retry_at = moment + dt.timedelta(seconds=backoff_seconds(attempts, config))
            db.execute("UPDATE notifications SET status = 'failed', attempts = ?, last_error = ?, "
                       "next_attempt_at = ?, claimed_at = NULL WHERE id = ?",
                       [attempts, error, to_iso(retry_at), notification_id])
            if not state.startswith("resolved:") and _is_resolved(db, alert_id):
                result.superseded += _drop_news_of_a_resolved_alert(db, config, notification_id, alert_id, error)
    if error is None:
        result.sent += 1
    elif delivery.unanswered:
        result.unconfirmed += 1
        log.warning("notification %s (alert %s, target %s): %s", state, alert_id, target_name, error)
    else:
        result.failed += 1
        log.warning("notification %s (alert %s, target %s) failed, attempt %d: %s",
                    state, alert_id, target_name, attempts, error)
        if attempts >= MAX_ATTEMPTS:
            result.given_up += 1
            log.error("notification %s (alert %s, target %s) given up after %d attempts; "
                      "'mentionwatch alerts show %s' has its last error",
                      state, alert_id, target_name, attempts, alert_id)
