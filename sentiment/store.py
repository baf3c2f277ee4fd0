"""`score_unscored`: score the stored mentions that have no score yet from a given model.

Mentions are read in pages by id and written one transaction per batch, so a crash loses at most
one batch and the background service can call this again and again: rows that already have a score
from `scorer.model_id` are never read. If a whole batch fails (which the scorers avoid), its texts
are retried one by one and the ones that still fail are logged and skipped: they stay unscored
(and counted by `count_unscored`); so are texts the model gives a NaN probability. A caller that
scores in chunks passes the returned `last_id` as the next chunk's `after_id`, so mentions skipped
in one chunk are not read again by the next.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from storage import utc_now_iso
from sentiment.textprep import mention_text

log = logging.getLogger(__name__)

WRITE_BATCH = 512
# Each batch is stored in one transaction, so a Ctrl-C loses at most the batch being scored, and
# waits for it (the model's call is not interrupted). A slow model (about 40 Chinese reviews a second
# on 2 cores, 1 a second for reviews of 2,000 characters) would take 13 s over 512, a minute over 64:
# batches are sized to take about this long, between SMALLEST_WRITE_BATCH and WRITE_BATCH mentions,
# starting at FIRST_WRITE_BATCH.
SECONDS_PER_WRITE = 3.0
FIRST_WRITE_BATCH = 16
SMALLEST_WRITE_BATCH = 4


@dataclass
class ScoreRunResult:
    scored: int
    skipped: int
    seconds: float
    last_id: int = 0  # the highest mention id read (scored or skipped); `after_id` if none was

    @property
    def rate(self) -> float:
        return self.scored / self.seconds if self.seconds > 0 else 0.0


def _unscored_where(created_since: str | None) -> str:
    """Mentions above an id with no score from a model (and created at a time or later, if given)."""
    recent = "" if created_since is None else "AND m.created_at >= ? "
    return (f"WHERE m.id > ? {recent}AND NOT EXISTS "
            "(SELECT 1 FROM scores s WHERE s.mention_id = m.id AND s.model_id = ?)")


def _unscored_params(after_id: int, created_since: str | None, model_id: str) -> list:
    return [after_id, model_id] if created_since is None else [after_id, created_since, model_id]


def count_unscored(db, model_id: str, after_id: int = 0, created_since: str | None = None) -> int:
    """Mentions (with an id above `after_id`, created at `created_since` or later) that have no
    score from `model_id`."""
    row = db.execute(f"SELECT count(*) FROM mentions m {_unscored_where(created_since)}",
                     _unscored_params(after_id, created_since, model_id)).fetchone()
    return int(row[0])


def score_unscored(db, scorer, limit: int | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   batch_size: int = WRITE_BATCH, after_id: int = 0,
                   created_since: str | None = None) -> ScoreRunResult:
    """Score mentions with an id above `after_id` (and created at `created_since` or later) and no
    score from `scorer.model_id`, lowest id first; `progress(done, total)` after each batch."""
    started = time.perf_counter()
    total = count_unscored(db, scorer.model_id, after_id, created_since)
    if limit is not None:
        total = min(total, limit)
    scored = skipped = 0
    last_id = after_id
    size = min(batch_size, FIRST_WRITE_BATCH)
    while scored + skipped < total:
        page = min(size, total - scored - skipped)
        rows = db.execute(
            f"SELECT m.id, m.text, m.title FROM mentions m {_unscored_where(created_since)} ORDER BY m.id LIMIT ?",
            [*_unscored_params(last_id, created_since, scorer.model_id), page]).fetchall()
        if not rows:
            break
        last_id = rows[-1][0]
        batch_started = time.perf_counter()
        written, failed = _score_and_write(db, scorer, rows)
        size = _next_batch_size(len(rows), time.perf_counter() - batch_started, batch_size)
        scored += written
        skipped += failed
        if progress:
            progress(scored + skipped, total)
    return ScoreRunResult(scored, skipped, time.perf_counter() - started, last_id)


def _next_batch_size(rows: int, seconds: float, largest: int) -> int:
    """How many mentions the next batch takes to last about SECONDS_PER_WRITE at this batch's pace."""
    per_second = rows / max(seconds, 1e-6)
    return max(min(SMALLEST_WRITE_BATCH, largest), min(largest, int(per_second * SECONDS_PER_WRITE)))


def _score_and_write(db, scorer, rows: list[tuple]) -> tuple[int, int]:
    """(scores stored, mentions passed over because they cannot be scored). A mention erased while
    its batch was being scored is neither: its score is not stored; nor is the score of one whose
    text or title `import --update` changed meanwhile (it is of the old words: it stays unscored)."""
    ids = [row[0] for row in rows]
    texts = [mention_text(row[1], row[2]) for row in rows]
    as_read = {row[0]: (row[1], row[2]) for row in rows}
    try:
        scores = list(zip(ids, scorer.score_texts(texts)))
    except Exception as exc:  # noqa: BLE001 - one bad text must not stop the batch
        log.warning("scoring a batch of %d failed (%s); retrying one by one", len(rows), exc)
        scores = _one_by_one(scorer, ids, texts)
    scores = _finite_only(scorer, scores)
    now = utc_now_iso()
    with db.conn:
        before = db.conn.total_changes
        # only for mentions still stored as read: `forget` or the retention job may have erased one
        # meanwhile, `import --update` changed its words
        db.conn.executemany(
            "INSERT OR REPLACE INTO scores (mention_id, model_id, label, p_negative, p_neutral, "
            "p_positive, scored_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS "
            "(SELECT 1 FROM mentions WHERE id = ? AND text IS ? AND title IS ?)",
            [(mention_id, scorer.model_id, s.label, s.p_negative, s.p_neutral, s.p_positive, now, mention_id,
              *as_read[mention_id]) for mention_id, s in scores])
        stored = db.conn.total_changes - before
    return stored, len(rows) - len(scores)


def _finite(score) -> bool:
    return bool(np.isfinite([score.p_negative, score.p_neutral, score.p_positive]).all())


def _finite_only(scorer, scores: list[tuple]) -> list[tuple]:
    """The scores whose probabilities are all numbers. A NaN (a model whose logits overflow on
    one odd text) cannot be stored, and it would fail the whole batch's write again at every run:
    its mention is passed over like one that cannot be scored. But first the model is tried on
    PROBE_TEXT: if that gives a NaN too, the model is at fault (ScoringFailed), not the texts (a
    batch's texts that clean to nothing are scored neutral without the model, so a broken model
    can still leave some scores standing)."""
    kept = [(mention_id, score) for mention_id, score in scores if _finite(score)]
    if len(kept) == len(scores):
        return scores
    try:
        probe = scorer.score_texts([PROBE_TEXT])[0]
    except Exception as exc:  # noqa: BLE001
        raise ScoringFailed(f"the sentiment model fails on any text ({type(exc).__name__}: "
                            f"{str(exc)[:200]})") from exc
    if not _finite(probe):
        raise ScoringFailed("the sentiment model gives no usable probabilities (NaN) for any text")
    for mention_id, score in scores:
        if not _finite(score):
            log.warning("mention %s skipped: the model gave it no usable probabilities (%s, %s, %s)",
                        mention_id, score.p_negative, score.p_neutral, score.p_positive)
    return kept


class ScoringFailed(Exception):
    """The model fails on any text (out of memory, say), not on these texts: nothing is passed
    over, and the next run tries the same mentions again."""


PROBE_TEXT = "ok"  # a text any working model scores


def _one_by_one(scorer, ids: list[int], texts: list[str]) -> list[tuple]:
    """(mention id, score) of the texts that can be scored alone; a text that cannot is passed
    over. When none can, the model is tried on PROBE_TEXT: if that fails too, the model is at
    fault (ScoringFailed), and passing over the batch would pass over every mention it meets."""
    scores = []
    for mention_id, text in zip(ids, texts):
        try:
            scores.append((mention_id, scorer.score_texts([text])[0]))
        except Exception as single:  # noqa: BLE001
            log.warning("mention %s skipped: cannot be scored (%s)", mention_id, single)
    if not scores:
        try:
            scorer.score_texts([PROBE_TEXT])
        except Exception as exc:  # noqa: BLE001
            raise ScoringFailed(f"the sentiment model fails on any text ({type(exc).__name__}: "
                                f"{str(exc)[:200]})") from exc
    return scores
