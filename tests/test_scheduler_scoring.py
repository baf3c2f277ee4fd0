"""The service's score job with the real built-in model and a real SQLite file: mentions that
cannot be scored must not hold back the ones stored after them.

A text the model cannot score is made the way test_sentiment.py makes one: the real model, except
that it raises on texts holding a marker (as it would on a corrupt input).
"""
from __future__ import annotations

import json
import logging

import pytest

from mentionwatch.config import SentimentConfig
from scheduler import SCORE_CHUNK, Service
from sentiment.scorer import BuiltinScorer
from storage import Mention, open_db, save_mentions

MARKER = "UNSCORABLE"
GOOD_TEXTS = ("Acme support is useless, waited 3 hours", "Love my new Acme blender!",
              "Acme opens a store in Leeds", "the Acme kettle broke after two days",
              "Acme's new app is great")


class _FailsOnMarker(BuiltinScorer):
    """The real model, except that texts containing MARKER make it raise."""

    def _probabilities(self, texts):
        if any(MARKER in text for text in texts):
            raise RuntimeError("cannot score this text")
        return super()._probabilities(texts)


@pytest.fixture(scope="module")
def failing_scorer():
    return _FailsOnMarker(SentimentConfig(), backend="torch")


def _mention(number: int, text: str) -> Mention:
    return Mention(source="test", external_id=str(number), text=text,
                   created_at="2026-01-01T00:00:00Z", watches=("acme",))


def _service(tmp_path) -> Service:
    config_path = tmp_path / "watch.yaml"
    config_path.write_text(f"""
database: {tmp_path / 'svc.db'}
watches:
  - name: acme
    query: {{any: [acme]}}
    sources:
      - {{type: rss, base_url: "http://127.0.0.1:9", options: {{urls: [feed.xml]}}}}
""", encoding="utf-8")
    return Service(config_path, blocking=False)


def _last_score_run(db) -> dict:
    (detail,) = db.execute("SELECT detail FROM job_runs WHERE job_id = 'score' "
                           "ORDER BY id DESC LIMIT 1").fetchone()
    return json.loads(detail)


def _scored_ids(db) -> set[str]:
    return {row[0] for row in db.execute(
        "SELECT m.external_id FROM scores s JOIN mentions m ON m.id = s.mention_id")}


def test_unscorable_mentions_do_not_starve_newer_ones(tmp_path, failing_scorer, caplog, cli):
    caplog.set_level(logging.WARNING, logger="sentiment.store")
    service = _service(tmp_path)
    service._scorer = failing_scorer  # the model the job would load, with its one fault
    db = open_db(service.db_path)
    broken = SCORE_CHUNK + 44  # more than a whole chunk: the old job never got past them
    save_mentions(db, [_mention(n, f"{MARKER} post {n}") for n in range(broken)]
                  + [_mention(broken + n, text) for n, text in enumerate(GOOD_TEXTS)])

    service._run_job("score", "score")
    assert _scored_ids(db) == {str(broken + n) for n in range(len(GOOD_TEXTS))}
    run = _last_score_run(db)
    assert (run["scored"], run["skipped"]) == (len(GOOD_TEXTS), broken)
    skipped_lines = [r for r in caplog.records if "cannot be scored" in r.getMessage()]
    assert len(skipped_lines) == broken  # each one named once in the log

    save_mentions(db, [_mention(10_000, "Acme refunded me in a day, thank you")])
    service._run_job("score", "score")  # the next run reads only what is new
    assert "10000" in _scored_ids(db)
    run = _last_score_run(db)
    assert (run["scored"], run["skipped"]) == (1, 0)
    assert len([r for r in caplog.records if "cannot be scored" in r.getMessage()]) == broken

    report = cli("--config", service.config_path, "status")
    assert report.exit_code == 0, report.output
    assert (f"Backlog: {broken} of {broken + len(GOOD_TEXTS) + 1} mentions not yet scored by "
            f"{failing_scorer.model_id}") in report.stdout  # the ones that failed stay visible
    service._close_connections()


def test_score_unscored_starts_after_the_given_id(db, failing_scorer):
    from sentiment import score_unscored

    save_mentions(db, [_mention(1, "great"), _mention(2, f"{MARKER} bad"), _mention(3, "awful"),
                       _mention(4, "fine")])
    ids = [row[0] for row in db.execute("SELECT id FROM mentions ORDER BY id")]
    first = score_unscored(db, failing_scorer, limit=2)
    assert (first.scored, first.skipped, first.last_id) == (1, 1, ids[1])
    rest = score_unscored(db, failing_scorer, limit=2, after_id=first.last_id)
    assert (rest.scored, rest.skipped, rest.last_id) == (2, 0, ids[3])
    nothing = score_unscored(db, failing_scorer, after_id=rest.last_id)
    assert (nothing.scored, nothing.skipped, nothing.last_id) == (0, 0, ids[3])


class _SlowModel(BuiltinScorer):
    """The real model at the pace of a slow one (the Chinese path scores about 40 reviews a second)."""

    def _probabilities(self, texts):
        import time

        time.sleep(0.01 * len(texts))
        return super()._probabilities(texts)


def test_a_slow_model_stores_its_scores_in_small_batches_so_an_interrupt_loses_little(db, monkeypatch):
    import sentiment.store as store

    monkeypatch.setattr(store, "FIRST_WRITE_BATCH", 8)
    monkeypatch.setattr(store, "SECONDS_PER_WRITE", 0.1)
    save_mentions(db, [_mention(number, f"acme review number {number}") for number in range(60)])
    done = []
    result = store.score_unscored(db, _SlowModel(SentimentConfig(), backend="torch"),
                                  progress=lambda scored, total: done.append(scored))
    assert result.scored == 60
    batches = [after - before for before, after in zip([0] + done, done)]
    assert batches[0] == 8
    assert all(size <= 16 for size in batches)  # about 0.1 s each at 100 a second, never 512 at once


def test_batches_last_about_three_seconds_between_4_and_512_mentions():
    from sentiment.store import _next_batch_size

    assert _next_batch_size(512, 1.0, 512) == 512  # 512 a second: the large batches stay
    assert _next_batch_size(512, 12.8, 512) == 120  # 40 a second: 3 s worth
    assert _next_batch_size(16, 16.0, 512) == 4  # 1 a second (long Chinese reviews): 4, not a minute's 64
    assert _next_batch_size(4, 60.0, 512) == 4  # never below SMALLEST_WRITE_BATCH


class _RecordsOrder(BuiltinScorer):
    """The real model, noting the texts it is given, in order."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[str] = []

    def _probabilities(self, texts):
        self.seen.extend(texts)
        return super()._probabilities(texts)


def test_the_mentions_detection_reads_are_scored_before_older_history(tmp_path):
    """After a model change every stored mention waits for the new model: the recent ones (what
    detection reads) go first, or alerts would wait for years of history to be scored again."""
    import datetime as dt

    service = _service(tmp_path)
    service._scorer = _RecordsOrder(SentimentConfig(), backend="torch")
    db = open_db(service.db_path)
    now = dt.datetime.now(dt.timezone.utc)
    old = (now - dt.timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = (now - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    history = [Mention("test", f"old{n}", f"acme history post {n}", old, watches=("acme",))
               for n in range(SCORE_CHUNK + 10)]  # stored first: the lower ids
    latest = [Mention("test", f"new{n}", f"acme latest post {n}", recent, watches=("acme",)) for n in range(5)]
    save_mentions(db, history + latest)

    service._run_job("score", "score")
    seen = service._scorer.seen
    assert set(seen[:5]) == {f"acme latest post {n}" for n in range(5)}, seen[:8]
    assert len(_scored_ids(db)) == len(history) + len(latest) == len(seen)  # each scored once
    assert (_last_score_run(db)["scored"], _last_score_run(db)["skipped"]) == (len(seen), 0)
    service._close_connections()


class _StoresAPostMidway(_RecordsOrder):
    """The real model, noting texts; when it is first given history, a new post comes in (stored
    through another connection, as the collect job would)."""

    def __init__(self, db_path, recent, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.db_path, self.recent, self.stored = db_path, recent, False

    def _probabilities(self, texts):
        if not self.stored and any("history" in text for text in texts):
            self.stored = True
            other = open_db(self.db_path)
            save_mentions(other, [Mention("test", "fresh", "acme fresh post", self.recent, watches=("acme",))])
            other.close()
        return super()._probabilities(texts)


def test_a_post_that_comes_in_while_history_is_scored_does_not_wait_for_all_of_it(tmp_path):
    import datetime as dt

    service = _service(tmp_path)
    now = dt.datetime.now(dt.timezone.utc)
    old = (now - dt.timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    service._scorer = _StoresAPostMidway(service.db_path, recent, SentimentConfig(), backend="torch")
    db = open_db(service.db_path)
    save_mentions(db, [Mention("test", f"old{n}", f"acme history post {n}", old, watches=("acme",))
                       for n in range(3 * SCORE_CHUNK)])

    service._run_job("score", "score")
    seen = service._scorer.seen
    assert len(seen) == 3 * SCORE_CHUNK + 1 == len(_scored_ids(db))
    assert seen.index("acme fresh post") <= 2 * SCORE_CHUNK  # after the chunk it came in during, at most
    service._close_connections()


def test_detection_is_asked_for_once_per_score_run(tmp_path, failing_scorer):
    import datetime as dt

    service = _service(tmp_path)
    service._scorer = failing_scorer
    asked = []
    real_request = service.request_run
    service.request_run = lambda job_id: (asked.append(job_id), real_request(job_id))[1]
    db = open_db(service.db_path)
    recent = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for run in range(2):
        save_mentions(db, [Mention("test", f"r{run}{n}", f"acme post {n}", recent, watches=("acme",))
                           for n in range(2)])
        service._run_job("score", "score")
        assert asked.count("detect") == run + 1, asked
    service._close_connections()

