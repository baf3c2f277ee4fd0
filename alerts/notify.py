"""Alert notifications through apprise: queued per (alert, target, state), sent and retried later.

`queue_notifications` adds one `notifications` row per configured target that wants the event
('opened', 'escalated', 'resolved') and covers the watch; the UNIQUE (alert_id, target, state) key
makes the same state never queue twice. `send_pending` delivers due rows, records failures with the
reason apprise logged (captured with apprise.LogCapture) and schedules retries with exponential
backoff. The target's URL is a secret: only the notification's name is stored, and the URL is cut
out of any error text before it is stored or logged. Nothing here raises for a failed send.

Several processes may send at once (the service, and `mentionwatch alerts`/`notify` run by hand):
each row is claimed in its own write transaction before it is sent (`claimed_at` set, `attempts`
counted) and only the sender whose claim changed the row sends it. A claim older than
CLAIM_TIMEOUT was left by a sender that died mid-send; the row is due again (it may then have gone
out twice, never zero times).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from mentionwatch.logging_setup import redact
from storage.timeutil import to_iso

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
ERROR_CHARS = 300
CLAIM_TIMEOUT = dt.timedelta(minutes=10)
UNUSABLE_URL = "apprise cannot use the notification URL (check its scheme and that no part is missing)"


@dataclass
class NotifyResult:
    sent: int = 0
    failed: int = 0


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def url_problem(target) -> str | None:
    """Why this target has no usable URL now (its variable unset, its file missing or empty, a
    scheme apprise does not know), or None. Never includes the URL itself."""
    import apprise

    url = target.resolve_url()
    if url is None:
        return _missing_url_problem(target)
    with _apprise_lines_kept_out():
        understood = apprise.Apprise().add(url)
    return None if understood else UNUSABLE_URL


def _missing_url_problem(target) -> str:
    """Why target.resolve_url() found no URL: its variable unset, its file missing or empty."""
    if target.url_env:
        return f"no URL: environment variable {target.url_env} is not set or empty"
    if not Path(target.url_file).is_file():
        return f"no URL: file {target.url_file} does not exist"
    return f"no URL: file {target.url_file} is empty or cannot be read"


@contextlib.contextmanager
def _apprise_lines_kept_out():
    """apprise logs URLs (secrets): its lines stay out of our logs while it runs."""
    apprise_log = logging.getLogger("apprise")
    propagating = apprise_log.propagate
    apprise_log.propagate = False
    try:
        yield
    finally:
        apprise_log.propagate = propagating


def target_problems(config) -> list[str]:
    """A line for each notification target that could not send now."""
    return _problem_lines(config.notifications)


def event_target_problems(db, config, alert_id: int, event: str) -> list[str]:
    """target_problems, for only the targets that get this alert's `event`."""
    return _problem_lines(targets_for(config, _watch_of(db, alert_id), event))


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


def queue_notifications(db, config, alert_id: int, event: str, severity: str, now: dt.datetime | None = None) -> int:
    """Queue the alert's `event` for every target that wants it; returns how many rows were new."""
    watch = _watch_of(db, alert_id)
    moment = to_iso(now or _utc_now())
    queued = 0
    with db.conn:
        for target in targets_for(config, watch, event):
            cursor = db.execute(
                """INSERT OR IGNORE INTO notifications (alert_id, target, state, status, attempts, next_attempt_at,
                   created_at) VALUES (?, ?, ?, 'pending', 0, ?, ?)""",
                [alert_id, target.name, f"{event}:{severity}", moment, moment],
            )
            queued += cursor.rowcount
    return queued


def message_for(db, alert_id: int, state: str) -> tuple[str, str]:
    """Title and body of a notification: the alert's summary and its top mentions."""
    watch, source, rule, severity, window_start, window_end, explanation = db.execute(
        "SELECT watch, source, rule, severity, window_start, window_end, explanation FROM alerts WHERE id = ?",
        [alert_id],
    ).fetchone()
    event = state.split(":", 1)[0]
    details = json.loads(explanation or "{}")
    what = "negative mentions over a threshold" if rule.startswith("threshold:") else "negative spike"
    title = f"[mentionwatch] {watch}: {what} {event} ({severity})"
    lines = [details.get("summary", f"{watch} {window_start} - {window_end}"), ""]
    for mention in details.get("top_mentions", [])[:3]:
        who = mention.get("author") or mention.get("source")
        lines.append(f"- {who}: {mention.get('text', '')[:200]}" + (f" {mention['url']}" if mention.get("url") else ""))
    lines.append("")
    lines.append(f"mentionwatch alerts show {alert_id}")
    return title, "\n".join(lines)


def deliver(url: str, title: str, body: str) -> str | None:
    """Send one message; None when it went, else the reason (apprise's log, URL removed)."""
    import apprise

    sender = apprise.Apprise()
    with _apprise_lines_kept_out(), apprise.LogCapture(level=logging.INFO) as captured:
        if not sender.add(url):
            return UNUSABLE_URL
        try:
            delivered = sender.notify(title=title, body=body)
        except Exception as exc:  # a plugin bug must not crash detection
            return f"{type(exc).__name__}: {exc}".replace(url, "<url>")[:ERROR_CHARS]
        text = captured.getvalue()
    if delivered:
        return None
    reasons = [line.split(" - ", 2)[-1] for line in text.splitlines() if " - WARNING - " in line or " - ERROR - " in line]
    reason = "; ".join(reasons) or "apprise reported a failed delivery"
    return reason.replace(url, "<url>")[:ERROR_CHARS]


def backoff_seconds(attempts: int, config) -> float:
    return min(config.service.max_backoff, config.service.notify_retry_interval * 2 ** max(0, attempts - 1))


_DUE = """status IN ('pending', 'failed') AND attempts < :max_attempts
           AND coalesce(next_attempt_at, '') <= :now AND (claimed_at IS NULL OR claimed_at <= :stale)"""


def _claim(db, notification_id: int, attempts: int, moment: dt.datetime) -> bool:
    """Take the row for this sender; False when another sender claimed or finished it meanwhile.

    One UPDATE in a write transaction (storage's `atomic()` takes the write lock first) re-checks
    that the row is still due and unchanged (same attempts), so of two senders only one sees
    rowcount 1.
    """
    with db.atomic():
        return db.conn.execute(
            f"UPDATE notifications SET claimed_at = :now, attempts = attempts + 1 "
            f"WHERE id = :id AND attempts = :attempts AND {_DUE}",
            {"id": notification_id, "attempts": attempts, "max_attempts": MAX_ATTEMPTS,
             "now": to_iso(moment), "stale": to_iso(moment - CLAIM_TIMEOUT)},
        ).rowcount == 1


def _send_one(db, target, target_name: str, alert_id: int, state: str) -> str | None:
    """Send one notification to `target` (None: no longer configured); None when it went, else why not."""
    if target is None:
        return f"no notification named {target_name!r} in the config any more"
    url = target.resolve_url()
    if url is None:
        return _missing_url_problem(target)
    title, body = message_for(db, alert_id, state)
    return deliver(url, title, body)


def send_pending(db, config, now: dt.datetime | None = None) -> NotifyResult:
    """Deliver every pending notification, and failed ones whose retry time has come.

    Safe to run in several processes at once: each row is claimed before it is sent (see the
    module doc), and rows another sender holds are left to it.
    """
    moment = now or _utc_now()
    result = NotifyResult()
    due = db.execute(
        f"SELECT id, alert_id, target, state, attempts, claimed_at FROM notifications WHERE {_DUE} ORDER BY id",
        {"max_attempts": MAX_ATTEMPTS, "now": to_iso(moment), "stale": to_iso(moment - CLAIM_TIMEOUT)},
    ).fetchall()
    targets = {n.name: n for n in config.notifications}
    for notification_id, alert_id, target_name, state, attempts, claimed_at in due:
        if not _claim(db, notification_id, attempts, moment):
            continue  # another process is sending it, or already has
        if claimed_at is not None:
            log.warning("notification %s (alert %s, target %s) was claimed at %s by a sender that never "
                        "finished; sending it again", state, alert_id, target_name, claimed_at)
        attempts += 1
        error = _send_one(db, targets.get(target_name), target_name, alert_id, state)
        if error is not None:
            error = redact(error)  # apprise's reason may quote part of the URL (a token, a password)
        with db.conn:
            if error is None:
                db.execute("UPDATE notifications SET status = 'sent', attempts = ?, last_error = NULL, sent_at = ?, "
                           "next_attempt_at = NULL, claimed_at = NULL WHERE id = ?",
                           [attempts, to_iso(moment), notification_id])
                result.sent += 1
            else:
                retry_at = moment + dt.timedelta(seconds=backoff_seconds(attempts, config))
                db.execute("UPDATE notifications SET status = 'failed', attempts = ?, last_error = ?, "
                           "next_attempt_at = ?, claimed_at = NULL WHERE id = ?",
                           [attempts, error, to_iso(retry_at), notification_id])
                result.failed += 1
                log.warning("notification %s (alert %s, target %s) failed, attempt %d: %s",
                            state, alert_id, target_name, attempts, error)
                if attempts >= MAX_ATTEMPTS:
                    log.error("notification %s (alert %s, target %s) given up after %d attempts; "
                              "'mentionwatch alerts show %s' has its last error",
                              state, alert_id, target_name, attempts, alert_id)
    return result
