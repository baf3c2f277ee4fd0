"""The service's scoring found wrong by the seventh code review: a run asked for while the job runs
is not lost; a mention erased while its batch is scored does not abort the batch; a model that
fails on everything for a while (out of memory) does not pass over the mentions it met; a model
that fails to load with any error is one line, recorded for `status`, never a silent drop."""
from __future__ import annotations

import json
import threading
import time

import pytest

from mentionwatch.config import SentimentConfig
from scheduler import Service
from sentiment.scorer import BuiltinScorer
from storage import Mention, open_db, save_mentions
from tests.service_fakes import wait_until

SOURCE = '      - {type: rss, base_url: "http://127.0.0.1:9", interval: 1h, options: {urls: [feed.xml]}}\n'


def _watchlist(tmp_path, model: str = "builtin") -> None:
    (tmp_path / "watch.yaml").write_text(f"""
database: {tmp_path / 'svc.db'}
sentiment: {{model: {model}}}
service: {{score_interval: 1h, detect_interval: 1h, notify_retry_interval: 1h}}
watches:
  - name: acme
    query: {{any: [acme]}}
    sources:
{SOURCE}""", encoding="utf-8")


def _mentions(count: int, start: int = 0) -> list[Mention]:
    return [Mention("test", str(number), f"acme review number {number}", "2026-01-01T00:00:00Z",
                    watches=("acme",)) for number in range(start, start + count)]


def test_a_run_asked_for_while_the_job_runs_follows_it_at_once(tmp_path):
    _watchlist(tmp_path)
    service = Service(tmp_path / "watch.yaml", blocking=False)
    service._job_collect = lambda _db, _job_id: ("ok", {})
    runs = []

    def score(_db, _job_id):
        runs.append(time.monotonic())
        if len(runs) < 20:
            service.request_run("score")  # new mentions arrived meanwhile
        return "ok", {}

    after_run = service._after_run

    def slow_to_return(*args, **kwargs):
        after_run(*args, **kwargs)
        time.sleep(0.05)  # a busy process: the run's end takes a moment to reach APScheduler

    service._job_score = score
    service._after_run = slow_to_return
    service.start()
    try:
        # each run asks for the next: without that request kept, the next waits the 1h interval
        wait_until(lambda: len(runs) >= 20, 60, what="20 score runs in a row")
    finally:
        service.stop("test over")
        service.finish()


class _ErasesDuringScoring(BuiltinScorer):
    """The real model; while it scores its first batch, `forget` erases one of the mentions."""

    erase_id: int | None = None

    def _probabilities(self, texts):
        if self.erase_id is not None:
            from storage.erasure import Selection, erase

            erase(self.other_db, Selection(mention_ids=(self.erase_id,)), what="test", actor="t")
            self.erase_id = None
        return super()._probabilities(texts)


def test_a_mention_erased_while_its_batch_is_scored_does_not_stop_scoring(tmp_path):
    from sentiment import score_unscored

    db = open_db(tmp_path / "m.db")
    save_mentions(db, _mentions(40))
    scorer = _ErasesDuringScoring(SentimentConfig(), backend="torch")
    scorer.other_db = open_db(tmp_path / "m.db")  # another connection, as the other process has
    scorer.erase_id = db.execute("SELECT id FROM mentions WHERE external_id = '7'").fetchone()[0]
    result = score_unscored(db, scorer)
    assert (result.scored, result.skipped) == (39, 0)
    assert db.execute("SELECT count(*) FROM scores").fetchone()[0] == 39
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == 39


class _OutOfMemoryOnce(BuiltinScorer):
    """The real model, failing on every text during its first `failing` calls."""

    failing = 0

    def _probabilities(self, texts):
        if self.failing:
            self.failing -= 1
            raise MemoryError("out of memory")
        return super()._probabilities(texts)


def test_a_model_failing_on_everything_for_a_while_passes_over_no_mention(tmp_path):
    _watchlist(tmp_path)
    service = Service(tmp_path / "watch.yaml", blocking=False)
    scorer = _OutOfMemoryOnce(SentimentConfig(), backend="torch")
    scorer.failing = 1000  # the batch, each text alone, and the probe all fail
    service._scorer = scorer
    db = open_db(service.db_path)
    save_mentions(db, _mentions(30))

    service._run_job("score", "score")
    status, detail = db.execute("SELECT status, detail FROM job_runs WHERE job_id = 'score' "
                                "ORDER BY id DESC LIMIT 1").fetchone()
    assert status == "error"
    assert json.loads(detail)["error"].startswith("the sentiment model fails on any text (MemoryError")

    scorer.failing = 0  # memory again
    save_mentions(db, _mentions(5, start=100))
    service._run_job("score", "score")
    assert db.execute("SELECT count(*) FROM scores").fetchone()[0] == 35  # the first 30 too
    service._close_connections()


def test_texts_the_model_cannot_score_are_still_passed_over(db):
    """A model that scores the probe but not these texts: the texts are at fault, not the model."""
    from sentiment import score_unscored

    class _RefusesReviews(BuiltinScorer):
        def _probabilities(self, texts):
            if any("review" in text for text in texts):
                raise RuntimeError("cannot score this text")
            return super()._probabilities(texts)

    save_mentions(db, _mentions(10))
    result = score_unscored(db, _RefusesReviews(SentimentConfig(), backend="torch"))
    assert (result.scored, result.skipped) == (0, 10)


def test_score_says_in_one_line_that_the_model_fails(cli, tmp_path, monkeypatch):
    import sentiment

    _watchlist(tmp_path)
    assert cli("--config", "watch.yaml", "init").exit_code == 0
    save_mentions(open_db(tmp_path / "svc.db"), _mentions(12))
    scorer = _OutOfMemoryOnce(SentimentConfig(), backend="torch")
    scorer.failing = 1000
    monkeypatch.setattr(sentiment, "load_scorer", lambda *_args, **_kwargs: scorer)
    result = cli("--config", "watch.yaml", "score")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: the sentiment model fails on any text (MemoryError: out of memory); 0 mentions "
        "scored and stored before it, 12 still unscored")


def test_a_model_that_fails_to_load_with_any_error_is_a_rejected_reload(tmp_path, monkeypatch, caplog):
    import sentiment

    _watchlist(tmp_path)
    service = Service(tmp_path / "watch.yaml", blocking=False)

    def out_of_memory(*_args, **_kwargs):
        raise RuntimeError("CUDA out of memory while loading")

    monkeypatch.setattr(sentiment, "load_scorer", out_of_memory)
    _watchlist(tmp_path, model="cardiffnlp/twitter-roberta-base-sentiment")
    assert service.reload("test") is False
    assert service.config.sentiment.model == "builtin"  # the old one keeps running
    [line] = [r.getMessage() for r in caplog.records if "watchlist rejected" in r.getMessage()]
    assert line.endswith("sentiment.model: model 'cardiffnlp/twitter-roberta-base-sentiment' could not be "
                         "loaded: RuntimeError: CUDA out of memory while loading")
    assert not [r for r in caplog.records if r.exc_info]  # one line, no traceback
    service._close_connections()


@pytest.fixture(autouse=True)
def _no_threads_left():
    yield
    assert not [t for t in threading.enumerate() if t.name.startswith("APScheduler")]
