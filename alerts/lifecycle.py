"""An alert's life: open -> acknowledged -> resolved, with an owner, notes, and an event per step.

Every step writes an `alert_events` row (time, actor, kind, detail). Resolving queues a 'resolved'
notification for the targets that asked for that event and were told about the alert. Wrong steps
(an unknown alert, acknowledging a resolved one) raise LifecycleError with a one-line message.
"""
from __future__ import annotations

from storage.db import utc_now_iso


class LifecycleError(Exception):
    """A lifecycle step that cannot be taken, phrased for the user."""


def _status(db, alert_id: int) -> str:
    row = db.execute("SELECT status FROM alerts WHERE id = ?", [alert_id]).fetchone()
    if row is None:
        raise LifecycleError(f"no alert with id {alert_id}")
    return row[0]


def _event(db, alert_id: int, actor: str, kind: str, detail: str | None, at: str) -> None:
    db.execute("INSERT INTO alert_events (alert_id, at, actor, kind, detail) VALUES (?, ?, ?, ?, ?)",
               [alert_id, at, actor, kind, detail])


def acknowledge(db, alert_id: int, actor: str, note: str | None = None, owner: str | None = None) -> None:
    """Someone has seen the alert and owns it (the actor, unless another owner is named)."""
    status = _status(db, alert_id)
    if status == "resolved":
        raise LifecycleError(f"alert {alert_id} is already resolved")
    now = utc_now_iso()
    with db.conn:
        db.execute("""UPDATE alerts SET status = 'acknowledged', owner = ?, updated_at = ?,
                      acknowledged_at = coalesce(acknowledged_at, ?) WHERE id = ?""",
                   [owner or actor, now, now, alert_id])
        _event(db, alert_id, actor, "acknowledged", _handover(actor, owner, note), now)


def _handover(actor: str, owner: str | None, note: str | None) -> str | None:
    """The timeline detail of an acknowledgement: who owns the alert when that is not the actor."""
    parts = [f"owner {owner}"] if owner and owner != actor else []
    return "; ".join([*parts, note] if note else parts) or None


def resolve(db, alert_id: int, actor: str, note: str | None = None, config=None) -> int:
    """The incident is over. With the config, queues 'resolved' notifications for targets that want
    them and heard of the alert (see alerts.notify); returns how many were queued."""
    status = _status(db, alert_id)
    if status == "resolved":
        raise LifecycleError(f"alert {alert_id} is already resolved")
    now = utc_now_iso()
    with db.conn:
        # acknowledged_at stays empty when nobody acknowledged it: resolving is no acknowledgement
        db.execute("""UPDATE alerts SET status = 'resolved', resolved_at = ?, updated_at = ?,
                      owner = coalesce(owner, ?) WHERE id = ?""",
                   [now, now, actor, alert_id])
        _event(db, alert_id, actor, "resolved", note, now)
    if config is not None:
        from alerts.notify import queue_notifications

        severity = db.execute("SELECT severity FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
        return queue_notifications(db, config, alert_id, "resolved", severity)
    return 0


def add_note(db, alert_id: int, actor: str, note: str) -> None:
    """A free-text note on the alert's timeline."""
    _status(db, alert_id)
    if not note.strip():
        raise LifecycleError("a note needs some text")
    now = utc_now_iso()
    with db.conn:
        db.execute("UPDATE alerts SET updated_at = ? WHERE id = ?", [now, alert_id])
        _event(db, alert_id, actor, "note", note, now)
