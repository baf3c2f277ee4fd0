"""An alert's life: open -> acknowledged -> resolved, with an owner, notes, and an event per step.

Every step writes an `alert_events` row (time, actor, kind, detail); `record_event` is the one writer
of that table, used by detection too. Resolving queues a 'resolved' notification for the targets
that asked for that event and were told about the alert. Wrong steps (an unknown alert,
acknowledging a resolved one) raise LifecycleError with a one-line message.

Each step checks the alert's status and writes inside one write transaction (`db.atomic()`, which
takes the write lock first), so a step another process took meanwhile is seen: a resolved alert is
never flipped back to acknowledged, nor resolved twice. The 'resolved' notification is queued in
that same transaction: a crash cannot leave a resolved alert whose message was never queued.
"""
from __future__ import annotations

import re

from dataclasses import dataclass

from alerts.notify import queue_notifications
from storage.db import utc_now_iso


class LifecycleError(Exception):
    """A lifecycle step that cannot be taken, phrased for the user."""


def record_event(db, alert_id: int, kind: str, detail: str | None, *, actor: str, at: str) -> None:
    """Add a step to the alert's timeline (inside the caller's transaction)."""
    db.execute("INSERT INTO alert_events (alert_id, at, actor, kind, detail) VALUES (?, ?, ?, ?, ?)",
               [alert_id, at, actor, kind, detail])


def _status(db, alert_id: int) -> str:
    row = db.execute("SELECT status FROM alerts WHERE id = ?", [alert_id]).fetchone()
    if row is None:
        raise LifecycleError(f"no alert with id {alert_id}")
    return row[0]


def _require_unresolved(db, alert_id: int) -> None:
    """Raise LifecycleError unless the alert exists and is not resolved (call under the write lock)."""
    if _status(db, alert_id) == "resolved":
        raise LifecycleError(f"alert {alert_id} is already resolved")


@dataclass(frozen=True)
class Acknowledgement:
    """What `acknowledge` did: `changed` is False for an alert already acknowledged by the same
    owner, with no note or the note of its latest step (nothing written: a repeat would add an
    empty or a repeated line to its timeline);
    `taken_from` is the owner it was taken over from, if it had another one."""

    changed: bool
    taken_from: str | None = None


def acknowledge(db, alert_id: int, actor: str, note: str | None = None, owner: str | None = None) -> Acknowledgement:
    """Someone has seen the alert and owns it (the actor, unless another owner is named)."""
    note = _text_or_none(note)
    with db.atomic():
        _require_unresolved(db, alert_id)
        now = utc_now_iso()
        status, previous = db.execute("SELECT status, owner FROM alerts WHERE id = ?", [alert_id]).fetchone()
        if status == "acknowledged" and previous == (owner or actor) and (
                note is None or _repeats_last_acknowledgement(db, alert_id, actor, note)):
            return Acknowledgement(changed=False)
        taken_from = previous if previous and previous != (owner or actor) else None
        db.execute("""UPDATE alerts SET status = 'acknowledged', owner = ?, updated_at = ?,
                      acknowledged_at = coalesce(acknowledged_at, ?) WHERE id = ? AND status != 'resolved'""",
                   [owner or actor, now, now, alert_id])
        record_event(db, alert_id, "acknowledged", _handover(actor, owner, note, taken_from), actor=actor, at=now)
    return Acknowledgement(changed=True, taken_from=taken_from)


def _repeats_last_acknowledgement(db, alert_id: int, actor: str, note: str) -> bool:
    """Whether the alert's latest timeline step is this actor's acknowledgement with this note (its
    detail may name the owner, or whom it was taken over from, before the note): typed again, with
    nothing in between, it adds nothing."""
    last = db.execute("SELECT kind, actor, detail FROM alert_events WHERE alert_id = ? ORDER BY id DESC LIMIT 1",
                      [alert_id]).fetchone()
    if last is None or last[0] != "acknowledged" or last[1] != actor or last[2] is None:
        return False
    return re.fullmatch(r"(?:owner [^;]*; )?(?:taken over from [^;]*; )?" + re.escape(note), last[2]) is not None


def _handover(actor: str, owner: str | None, note: str | None, taken_from: str | None = None) -> str | None:
    """The timeline detail of an acknowledgement: who owns the alert when that is not the actor,
    and whom it was taken over from."""
    parts = [f"owner {owner}"] if owner and owner != actor else []
    parts += [f"taken over from {taken_from}"] if taken_from else []
    return "; ".join([*parts, note] if note else parts) or None


def resolve(db, alert_id: int, actor: str, note: str | None = None, config=None) -> int:
    """The incident is over. With the config, queues 'resolved' notifications for targets that want
    them and heard of the alert (see alerts.notify); returns how many were queued."""
    note = _text_or_none(note)
    with db.atomic():
        _require_unresolved(db, alert_id)
        now = utc_now_iso()
        # acknowledged_at stays empty when nobody acknowledged it: resolving is no acknowledgement
        db.execute("""UPDATE alerts SET status = 'resolved', resolved_at = ?, updated_at = ?,
                      owner = coalesce(owner, ?) WHERE id = ? AND status != 'resolved'""",
                   [now, now, actor, alert_id])
        record_event(db, alert_id, "resolved", note, actor=actor, at=now)
        if config is None:
            return 0
        severity = db.execute("SELECT severity FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
        return queue_notifications(db, config, alert_id, "resolved", severity)


def _text_or_none(note: str | None) -> str | None:
    """A note as stored: without the spaces around it; one of nothing but spaces is no note."""
    return note.strip() or None if note is not None else None


def add_note(db, alert_id: int, actor: str, note: str) -> None:
    """A free-text note on the alert's timeline."""
    with db.atomic():
        _status(db, alert_id)
        if not note.strip():
            raise LifecycleError("a note needs some text")
        now = utc_now_iso()
        db.execute("UPDATE alerts SET updated_at = ? WHERE id = ?", [now, alert_id])
        record_event(db, alert_id, "note", note, actor=actor, at=now)
