"""The service's mechanics in-process: job ids, back-off, reload, database trouble (locked, full,
deleted), an unusable sentiment model, log lines, and `status` as the service sees it.

Collection is the real collector against local HTTP servers serving the recorded Hacker News
response; the scoring/detection/notification bodies are replaced by stand-ins here (the end-to-end
test in test_service_e2e.py runs the real ones in a real subprocess).
"""
from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import sqlite3

import pytest

from mentionwatch.config import parse_config
from mentionwatch.logging_setup import (
    JsonFormatter, SecretFilter, TextFormatter, configure_logging, remember_secrets,
)
from scheduler import Service, backoff_seconds, collect_targets, describe_db_error
from storage import open_db
from tests.service_fakes import HackerNewsServer, wait_until, write_watchlist

HN_FILE = "api/hackernews/search_by_date_query-nodejs.json"
CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard port: nothing listens, the connection is refused


def _hn_source(url: str, interval: str = "1h") -> str:
    return f"""      - type: hackernews
        interval: {interval}
        base_url: {url}
        options: {{min_interval: 0}}
"""


def _stand_in_bodies(service: Service, calls: list) -> None:
    """Replace the model-backed job bodies: these tests are about scheduling, not scoring."""
    def body(name):
        def run(_db, job_id):
            calls.append(job_id)
            return "ok", {"stand_in": 1}
        return run
    for kind in ("score", "detect", "notify"):
        setattr(service, f"_job_{kind}", body(kind))


@pytest.fixture
def hn_hits(shared_file):
    return json.loads(shared_file(HN_FILE).read_text(encoding="utf-8"))["hits"]


def _service(tmp_path, sources, **kwargs) -> Service:
    config_path = tmp_path / "watch.yaml"
    write_watchlist(config_path, tmp_path / "svc.db", sources)
    service = Service(config_path, blocking=False, collect_options={"sleep": lambda _s: None}, **kwargs)
    return service


def test_collect_job_ids_follow_sources_not_positions():
    config = parse_config("""
watches:
  - name: a
    query: {any: [x]}
    sources:
      - {type: hackernews}
      - {type: rss, options: {urls: [http://one]}}
      - {type: rss, options: {urls: [http://two]}}
      - {type: rss, options: {urls: [http://three]}}
      - {type: reddit, enabled: false}
""")
    targets = collect_targets(config)
    assert len(targets) == 4  # the disabled source has no job
    assert all(job_id.startswith("collect:a:") for job_id in targets)
    reordered = config.model_copy(deep=True)
    reordered.watches[0].sources.reverse()
    assert set(collect_targets(reordered)) == set(targets)
    indexes = {t.source_index for t in targets.values()}
    assert indexes == {0, 1, 2, 3}


def test_backoff_doubles_per_failure_and_stops_at_the_cap():
    interval, cap = 900.0, 6 * 3600.0
    delays = [backoff_seconds(interval, n, cap) for n in range(0, 12)]
    assert delays[0] == interval
    for before, after in zip(delays, delays[1:]):
        assert after == min(before * 2, cap)
    assert max(delays) == cap
    assert backoff_seconds(7200.0, 5, 600.0) == 7200.0  # a cap below the interval never shortens it


def test_database_problems_become_one_clear_line():
    locked = describe_db_error(sqlite3.OperationalError("database is locked"))
    full = describe_db_error(sqlite3.OperationalError("database or disk is full"))
    assert "locked" in locked and "retry" in locked
    assert "disk full" in full and "\n" not in full
    assert describe_db_error(ValueError("not a database problem")) is None


def test_failing_source_backs_off_and_is_reported_while_the_other_collects(tmp_path, hn_hits, cli):
    with HackerNewsServer(hn_hits) as hn:
        sources = _hn_source(hn.url) + f"""      - type: rss
        interval: 1h
        base_url: {CLOSED_PORT_URL}
        options: {{urls: [feed.xml], min_interval: 0}}
"""
        service = _service(tmp_path, sources)
        calls: list = []
        _stand_in_bodies(service, calls)
        service.start()
        try:
            db = open_db(service.db_path)
            rss_job = next(j for j in collect_targets(service.config) if ":rss:" in j)
            hn_job = next(j for j in collect_targets(service.config) if ":hackernews:" in j)
            row = wait_until(lambda: db.execute(
                "SELECT failures, backoff_until, next_run_at FROM service_jobs WHERE job_id = ? "
                "AND failures > 0", [rss_job]).fetchone(), 30, what="the rss job to fail")
            wait_until(lambda: db.execute("SELECT count(*) FROM job_runs WHERE job_id = ? AND "
                                          "status = 'ok'", [hn_job]).fetchone()[0], 30,
                       what="the hackernews job to succeed")
            assert row[0] == 1
            assert row[1] == row[2]  # its next run is the end of its back-off ...
            wait_seconds = (dt.datetime.fromisoformat(row[2].replace("Z", "+00:00"))
                            - dt.datetime.now(dt.timezone.utc)).total_seconds()
            assert wait_seconds > 3600  # ... which is longer than its interval
            stored = db.execute("SELECT count(*) FROM mentions WHERE source = 'hackernews'").fetchone()[0]
            assert stored > 0
            assert "score" in calls  # new mentions woke the scoring job

            service._run_job(rss_job, "collect")  # fails again: the wait doubles
            failures, until = db.execute("SELECT failures, backoff_until FROM service_jobs "
                                         "WHERE job_id = ?", [rss_job]).fetchone()
            assert failures == 2 and until > row[1]
        finally:
            service.stop("test over")
            assert service.finish() == 0

    result = cli("--config", tmp_path / "watch.yaml", "status")
    assert result.exit_code == 0, result.output
    rss_line = next(line for line in result.output.splitlines() if rss_job in line)
    assert "failed" in rss_line and "backing off" in rss_line
    source_line = next(line for line in result.output.splitlines()
                       if line.strip().startswith("nodejs") and " rss " in f" {line} ")
    assert "ConnectError" in source_line
    assert "Service: stopped" in result.output
    report = json.loads(cli("--config", tmp_path / "watch.yaml", "status", "--json").output)
    assert report["backlog"]["mentions"] == stored
    assert report["backlog"]["unscored"] == stored  # the stand-in scored nothing


def test_reload_updates_jobs_and_an_invalid_file_keeps_the_old_ones(tmp_path, hn_hits, caplog):
    caplog.set_level(logging.INFO, logger="mentionwatch.service")
    with HackerNewsServer(hn_hits) as hn, HackerNewsServer([]) as other:
        service = _service(tmp_path, _hn_source(hn.url), reload_check=0.2)
        _stand_in_bodies(service, [])
        service.start()
        try:
            first_jobs = {job.id for job in service.scheduler.get_jobs()}
            config_path = tmp_path / "watch.yaml"
            write_watchlist(config_path, tmp_path / "svc.db",
                          _hn_source(hn.url, "30m") + _hn_source(other.url))
            wait_until(lambda: len(service.scheduler.get_jobs()) == len(first_jobs) + 1, 20,
                       what="the added source's job")
            old_hn_job = next(j for j in first_jobs if j.startswith("collect:"))
            assert service.scheduler.get_job(old_hn_job).trigger.interval.total_seconds() == 1800
            wait_until(lambda: other.requests, 20, what="the new source to be polled")
            jobs_before = {job.id for job in service.scheduler.get_jobs()}

            broken = tmp_path / "watch.yaml.new"  # replaced in one step: the watcher never sees half a file
            broken.write_text(config_path.read_text() + "\n  - name: [broken\n", encoding="utf-8")
            os.replace(broken, config_path)
            wait_until(lambda: any("watchlist rejected" in r.getMessage() for r in caplog.records), 20,
                       what="the rejection line")
            rejected = [r.getMessage() for r in caplog.records if "watchlist rejected" in r.getMessage()]
            assert len(rejected) == 1 and str(config_path) in rejected[0]
            assert {job.id for job in service.scheduler.get_jobs()} == jobs_before

            write_watchlist(config_path, tmp_path / "svc.db", _hn_source(other.url))  # fixed, one removed
            wait_until(lambda: old_hn_job not in {j.id for j in service.scheduler.get_jobs()}, 20,
                       what="the removed source's job to go")
        finally:
            service.stop("test over")
            assert service.finish() == 0
    db = open_db(tmp_path / "svc.db")
    listed = {row[0] for row in db.execute("SELECT job_id FROM service_jobs WHERE kind = 'collect'")}
    assert old_hn_job not in listed and len(listed) == 1


def _connect_with(busy_ms: int | None = None, max_pages: dict | None = None):
    def connect(path):
        db = open_db(path)
        if busy_ms is not None:
            db.execute(f"PRAGMA busy_timeout = {busy_ms}")
        if max_pages is not None and max_pages.get("limit"):
            db.execute(f"PRAGMA max_page_count = {max_pages['limit']}")
        return db
    return connect


def test_a_locked_database_is_logged_and_retried(tmp_path, hn_hits, caplog):
    with HackerNewsServer(hn_hits) as hn:
        service = _service(tmp_path, _hn_source(hn.url), connect=_connect_with(busy_ms=100))
        _stand_in_bodies(service, [])
        job_id = next(iter(collect_targets(service.config)))
        service._apply_config(service.config, first=True)
        blocker = sqlite3.connect(service.db_path)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            service._run_job(job_id, "collect")  # must not raise
        finally:
            blocker.rollback()
            blocker.close()
        lines = [r.getMessage() for r in caplog.records if r.name == "mentionwatch.service"]
        assert any("database is locked" in line and "retry" in line for line in lines)
        assert service._failures.get(job_id, 0) == 0  # the database's fault, not the source's: no back-off
        db = open_db(service.db_path)
        assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM crawl_runs WHERE status = 'running'").fetchone()[0] == 0

        service._run_job(job_id, "collect")  # the next run goes through
        assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] > 0
        assert db.execute("SELECT status FROM job_runs WHERE job_id = ? ORDER BY id DESC LIMIT 1",
                          [job_id]).fetchone()[0] == "ok"


def test_a_full_disk_is_logged_keeps_what_is_stored_and_retries(tmp_path, hn_hits, caplog):
    limit = {}
    with HackerNewsServer(hn_hits[:5]) as hn:
        service = _service(tmp_path, _hn_source(hn.url), connect=_connect_with(max_pages=limit))
        _stand_in_bodies(service, [])
        job_id = next(iter(collect_targets(service.config)))
        service._apply_config(service.config, first=True)
        service._run_job(job_id, "collect")
        db = open_db(service.db_path)
        first_ids = {r[0] for r in db.execute("SELECT external_id FROM mentions")}
        assert first_ids

        hn.add_hits([{**hit, "created_at_i": hit["created_at_i"] + 10**8} for hit in hn_hits[5:]])
        limit["limit"] = db.execute("PRAGMA page_count").fetchone()[0]  # no room to grow
        service._local.db = None  # next run opens a connection with the limit, as a full disk would
        service._run_job(job_id, "collect")
        lines = [r.getMessage() for r in caplog.records if r.name in ("mentionwatch.service", "crawler.collect")]
        assert any("full" in line for line in lines), lines
        assert {r[0] for r in db.execute("SELECT external_id FROM mentions")} == first_ids

        limit.clear()
        service._local.db = None  # space freed
        service._run_job(job_id, "collect")
        after = {r[0] for r in db.execute("SELECT external_id FROM mentions")}
        assert first_ids < after


def test_every_job_run_is_one_json_line_without_secrets(tmp_path, hn_hits, monkeypatch):
    secret = "https://hooks.example.test/T000/B000/abcdefsecret"
    monkeypatch.setenv("MENTIONWATCH_NOTIFY_URL", secret)
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("json", logging.INFO, stream=stream)
        with HackerNewsServer(hn_hits) as hn:
            service = _service(tmp_path, _hn_source(hn.url))
            _stand_in_bodies(service, [])
            job_id = next(iter(collect_targets(service.config)))
            service._apply_config(service.config, first=True)
            service._run_job(job_id, "collect")
            service._run_job("score", "score")
            logging.getLogger("crawler.collect").warning("posting to %s failed", secret)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    runs = [e for e in entries if e.get("job") in (job_id, "score") and "status" in e]
    assert [e["job"] for e in runs] == [job_id, "score"]
    collect_line = runs[0]
    assert collect_line["status"] == "ok" and collect_line["new"] > 0
    assert collect_line["level"] == "INFO" and collect_line["time"].endswith("Z")
    assert secret not in stream.getvalue()
    assert any("[redacted]" in e["message"] for e in entries)


def test_text_lines_carry_fields_and_credentials_in_urls_are_hidden():
    remember_secrets(["tok_123456"])  # forgotten after the test (conftest's _secrets_stay_with_their_test)
    secret_filter = SecretFilter()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sent to %s with %s", (
        "https://user:hunter22@example.test/hook", "tok_123456"), None)
    record.fields = {"job": "collect:a:b", "error": "auth tok_123456 refused"}
    assert secret_filter.filter(record)
    line = TextFormatter().format(record)
    assert "hunter22" not in line and "tok_123456" not in line
    assert "job=collect:a:b" in line and line.count("[redacted]") == 3
    entry = json.loads(JsonFormatter().format(record))
    assert entry["error"] == "auth [redacted] refused"


def test_run_with_a_broken_watchlist_says_one_line_and_exits_2(tmp_path, cli):
    config_path = tmp_path / "watch.yaml"
    config_path.write_text("watches:\n  - name: acme\n    query: {any: [acme]}\n    sources:\n"
                           "      - {type: rss, interval: soon}\n", encoding="utf-8")
    result = cli("--config", config_path, "run")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "interval" in lines[0] and f"{config_path}:5" in lines[0]
    assert "Traceback" not in result.output
    missing = cli("--config", tmp_path / "nope.yaml", "run")
    assert missing.exit_code == 2 and "mentionwatch init" in missing.stderr


def test_a_second_service_on_the_same_database_is_refused(tmp_path):
    import socket
    import subprocess

    from scheduler import ServiceAlreadyRunning
    from storage import utc_now_iso

    (tmp_path / "elsewhere").mkdir()
    service = _service(tmp_path, _hn_source(CLOSED_PORT_URL), db_path=tmp_path / "elsewhere" / ".." / "svc.db")
    _stand_in_bodies(service, [])
    other = subprocess.Popen(["sleep", "60"])  # a live process standing in for the first service
    try:
        db = open_db(service.db_path)
        with db.atomic():
            db.conn.execute("INSERT INTO service_process (id, pid, host, state, started_at, heartbeat_at) "
                            "VALUES (1, ?, ?, 'running', ?, ?)",
                            [other.pid, socket.gethostname(), utc_now_iso(), utc_now_iso()])
        with pytest.raises(ServiceAlreadyRunning, match=f"pid {other.pid}") as refused:
            service.start()
        assert f"running on {(tmp_path / 'svc.db').resolve()}; stop it first" in str(refused.value)
    finally:
        other.kill()
        other.wait()
    starts_once_the_other_is_gone(service)


def starts_once_the_other_is_gone(service) -> None:
    """Once the other service's process is gone, its stale row does not block a start."""
    service.start()
    try:
        assert service.scheduler.running
    finally:
        service.stop("test over")
        assert service.finish() == 0


def test_a_stop_during_a_reload_waits_for_it_before_closing_the_database(tmp_path, monkeypatch):
    """finish() closes the connections: a reload still writing the schedules must end first.

    (CI once crashed with a segmentation fault when a watchlist reload wrote to a connection that
    finish() had just closed: housekeeping was not counted among the runs finish() waits for.)
    """
    import threading

    import scheduler

    service = _service(tmp_path, _hn_source(CLOSED_PORT_URL))
    _stand_in_bodies(service, [])
    service.start()
    writing, may_finish = threading.Event(), threading.Event()
    real_save = scheduler.save_schedules

    def slow_save(db, schedules, *, replace_all=False):
        if replace_all:  # the reload's write: hold it until the stop has been asked for
            writing.set()
            may_finish.wait(10)
        real_save(db, schedules, replace_all=replace_all)

    monkeypatch.setattr(scheduler, "save_schedules", slow_save)
    write_watchlist(service.config_path, tmp_path / "svc.db", _hn_source(CLOSED_PORT_URL, "30m"))
    outcome = {}
    reloader = threading.Thread(target=lambda: outcome.update(reloaded=service.reload("test")))
    reloader.start()
    assert writing.wait(10), "the reload never reached its write"
    service.stop("test over")
    threading.Timer(0.5, may_finish.set).start()
    assert service.finish() == 0
    reloader.join(10)
    assert outcome == {"reloaded": True}
    intervals = [row[0] for row in open_db(tmp_path / "svc.db").execute(
        "SELECT interval_seconds FROM service_jobs WHERE kind = 'collect'")]
    assert intervals == [1800.0]
    assert service.reload("after the stop") is False  # nothing starts once the service is stopping


def test_old_job_runs_are_pruned_and_recent_ones_kept(db):
    from mentionwatch.service_state import finish_job_run, prune_job_runs, start_job_run

    old_run, new_run, running = (start_job_run(db, "score") for _ in range(3))
    finish_job_run(db, old_run, "ok", {"scored": 1}, 0.1)
    finish_job_run(db, new_run, "ok", {"scored": 2}, 0.1)
    db.execute("UPDATE job_runs SET finished_at = '2020-01-01T00:00:00Z' WHERE id = ?", [old_run])
    db.conn.commit()
    assert prune_job_runs(db, keep_days=30) == 1
    left = {row[0] for row in db.execute("SELECT id FROM job_runs")}
    assert left == {new_run, running}


# --- the database file, the model, what status shows ----------------------------------------------

def _remove_database(db_path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{db_path}{suffix}"):
            os.remove(f"{db_path}{suffix}")


@pytest.mark.parametrize("how, noticed_by", [("deleted", "collect"), ("replaced", "heartbeat")])
def test_a_deleted_or_replaced_database_file_stops_the_service(tmp_path, hn_hits, caplog, how, noticed_by):
    """Deleted: the service would write on into a file nobody can open; replaced (a restored
    backup): into the old one. Either way it says so once and stops with exit code 1."""
    caplog.set_level(logging.INFO, logger="mentionwatch.service")
    with HackerNewsServer(hn_hits[:5]) as hn:
        service = _service(tmp_path, _hn_source(hn.url))
        _stand_in_bodies(service, [])
        job_id = next(iter(collect_targets(service.config)))
        service.start()
        try:
            db = open_db(service.db_path)
            wait_until(lambda: db.execute("SELECT count(*) FROM job_runs WHERE job_id = ? AND status = 'ok'",
                                          [job_id]).fetchone()[0], 30, what="a first collection")
            # the new mentions start a score run: it must be over before the file goes, or it too
            # reports the missing file (a second ERROR line, seen under load)
            wait_until(lambda: db.execute("SELECT count(*) FROM job_runs WHERE job_id = 'score' AND "
                                          "finished_at IS NOT NULL").fetchone()[0], 30, what="the score run")
            db.close()
            service.scheduler.pause()  # the test says which run comes next
            wait_until(lambda: not service._running, 30, what="the running jobs to end")
            requests_before = len(hn.requests)
            if how == "deleted":
                _remove_database(service.db_path)
            else:
                restored = tmp_path / "restored.db"
                open_db(restored).close()
                _remove_database(service.db_path)
                os.replace(restored, service.db_path)
            hn.add_hits([{**hit, "created_at_i": hit["created_at_i"] + 10**8} for hit in hn_hits[5:10]])
            if noticed_by == "collect":
                service._run_job(job_id, "collect")  # its next run
            else:
                service._housekeeping("heartbeat")
            assert service._stopping.is_set()
        finally:
            service.stop("test over")
            code = service.finish()
        assert code == 1
        assert len(hn.requests) == requests_before  # nothing more collected into the old file
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert "deleted or replaced" in errors[0] and str(service.db_path.resolve()) in errors[0]
    if how == "deleted":
        assert not service.db_path.exists()  # not re-created empty by the stop
    else:
        assert open_db(service.db_path).execute("SELECT count(*) FROM service_process").fetchone()[0] == 0


def test_an_empty_watchlist_on_reload_keeps_the_jobs(tmp_path, caplog, cli):
    """An editor that empties the file before writing it, caught in between, stopped every
    collection until the next check."""
    caplog.set_level(logging.INFO, logger="mentionwatch.service")
    service = _service(tmp_path, _hn_source(CLOSED_PORT_URL, "30m"))
    _stand_in_bodies(service, [])
    service.start()
    try:
        jobs_before = {job.id for job in service.scheduler.get_jobs()}
        assert any(job.startswith("collect:") for job in jobs_before)
        for nothing in (" \n", "\ufeff\n", "# all of it commented out\n", "---\n"):
            service.config_path.write_text(nothing, encoding="utf-8")
            assert service.reload("test") is False
            assert {job.id for job in service.scheduler.get_jobs()} == jobs_before
        result = cli("--config", service.config_path, "--db", tmp_path / "svc.db", "status")
    finally:
        service.stop("test over")
        assert service.finish() == 0
    rejected = [r.getMessage() for r in caplog.records if "watchlist rejected" in r.getMessage()]
    assert len(rejected) == 4 and all("the file is empty" in line for line in rejected)
    assert "the file is empty" in result.stdout and "keeps running with the previous watchlist" in result.stdout


def test_a_service_started_with_nothing_to_collect_says_so(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mentionwatch.service")
    (tmp_path / "watch.yaml").write_text(f"database: {tmp_path / 'svc.db'}\n", encoding="utf-8")
    service = Service(tmp_path / "watch.yaml", blocking=False)
    _stand_in_bodies(service, [])
    service.start()
    service.stop("test over")
    assert service.finish() == 0
    assert any("has no watch with a source to collect" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("model", ["nonexistent-model", "empty-folder"])
def test_a_sentiment_model_that_cannot_be_loaded_is_rejected_on_reload(tmp_path, caplog, cli, model):
    caplog.set_level(logging.INFO, logger="mentionwatch.service")
    service = _service(tmp_path, _hn_source(CLOSED_PORT_URL))
    _stand_in_bodies(service, [])
    service.start()
    try:
        jobs_before = {job.id for job in service.scheduler.get_jobs()}
        (tmp_path / "empty-folder").mkdir()
        write_watchlist(service.config_path, tmp_path / "svc.db", _hn_source(CLOSED_PORT_URL, "30m"),
                      service=f"sentiment: {{model: {tmp_path / model}}}")
        assert service.reload("test") is False
        assert service.config.sentiment.model == "builtin"  # the previous model is kept ...
        assert {job.id for job in service.scheduler.get_jobs()} == jobs_before  # ... and the old jobs
        interval = service.scheduler.get_job(next(iter(collect_targets(service.config)))).trigger.interval
        assert interval.total_seconds() == 3600
        result = cli("--config", service.config_path, "status")
    finally:
        service.stop("test over")
        assert service.finish() == 0
    rejected = [r for r in caplog.records if "watchlist rejected" in r.getMessage()]
    assert len(rejected) == 1 and rejected[0].exc_info is None
    assert f"sentiment.model: model {tmp_path / model} could not be loaded" in rejected[0].getMessage()
    assert result.exit_code == 0, result.output
    watchlist_line = next(line for line in result.stdout.splitlines() if line.startswith("Watchlist:"))
    assert "sentiment.model" in watchlist_line and str(tmp_path / model) in watchlist_line
    assert "keeps running with the previous watchlist" in result.stdout


def test_a_model_that_fails_to_load_in_the_score_job_is_one_error_line(tmp_path, caplog):
    """A folder that is no model (or a hub id that cannot be fetched) is only found out by loading."""
    caplog.set_level(logging.INFO)
    (tmp_path / "not-a-model").mkdir()
    config_path = tmp_path / "watch.yaml"
    write_watchlist(config_path, tmp_path / "svc.db", _hn_source(CLOSED_PORT_URL),
                  service=f"sentiment: {{model: {tmp_path / 'not-a-model'}}}")
    service = Service(config_path, blocking=False)
    service._apply_config(service.config, first=True)
    service._run_job("score", "score")  # must not raise: no traceback in the log
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    assert "could not be loaded" in errors[0].getMessage() and "retry" in errors[0].getMessage()
    detail = open_db(service.db_path).execute(
        "SELECT status, detail FROM job_runs WHERE job_id = 'score'").fetchone()
    assert detail[0] == "error" and "could not be loaded" in json.loads(detail[1])["error"]


def test_a_missing_model_folder_is_a_watchlist_mistake_at_start(tmp_path):
    from mentionwatch.config import ConfigError

    config_path = tmp_path / "watch.yaml"
    write_watchlist(config_path, tmp_path / "svc.db", _hn_source(CLOSED_PORT_URL),
                  service=f"sentiment: {{model: {tmp_path / 'nonexistent-model'}}}")
    with pytest.raises(ConfigError, match=r"sentiment\.model: .*there is no folder"):
        Service(config_path, blocking=False)


def test_status_shows_what_the_service_sees_not_this_shell(tmp_path, monkeypatch, cli):
    """The service has secrets in its environment (systemd's EnvironmentFile) that the shell
    running `status` has not: status must neither fail nor report the service's targets broken."""
    monkeypatch.setenv("MW_TEST_HOOK", "json://127.0.0.1:9/hook")
    monkeypatch.setenv("MW_TEST_FEED_KEY", "feedkey123")
    config_path = tmp_path / "watch.yaml"
    write_watchlist(config_path, tmp_path / "svc.db", f"""      - type: rss
        interval: 1h
        base_url: {CLOSED_PORT_URL}
        options: {{urls: ["feed.xml?apikey=${{MW_TEST_FEED_KEY}}"], min_interval: 0}}
""", service="notifications:\n  - {name: team, url_env: MW_TEST_HOOK}")
    service = Service(config_path, blocking=False)
    _stand_in_bodies(service, [])
    service.start()
    try:
        monkeypatch.delenv("MW_TEST_HOOK")  # `status` from another shell, without the secrets
        monkeypatch.delenv("MW_TEST_FEED_KEY")
        running = cli("--config", config_path, "status")
    finally:
        service.stop("test over")
        assert service.finish() == 0
    assert running.exit_code == 0, running.output
    assert "Service: running" in running.stdout
    assert "Cannot send" not in running.stdout and "Watchlist:" not in running.stdout
    stopped = cli("--config", config_path, "status")  # no service: this shell's view is all there is
    assert stopped.exit_code == 0
    assert "Cannot send: notification 'team': no URL: environment variable MW_TEST_HOOK" in stopped.stdout


def test_status_with_a_broken_watchlist_still_reports_health(tmp_path, cli, caplog):
    service = _service(tmp_path, _hn_source(CLOSED_PORT_URL), reload_check=0.2)
    _stand_in_bodies(service, [])
    service.start()
    try:
        broken = service.config_path.with_name("watch.yaml.new")  # replaced in one step
        broken.write_text(service.config_path.read_text().replace("score_interval: 1h", "score_interval: soon"),
                          encoding="utf-8")
        os.replace(broken, service.config_path)
        wait_until(lambda: any("watchlist rejected" in r.getMessage() for r in caplog.records), 20,
                   what="the rejection")
        running = cli("--config", service.config_path, "status")
        as_json = json.loads(cli("--config", service.config_path, "status", "--json").stdout)
    finally:
        service.stop("test over")
        assert service.finish() == 0
    assert running.exit_code == 0, running.output
    lines = running.stdout.splitlines()
    assert lines[0].startswith("Service: running")
    assert lines[1].startswith(f"Watchlist: {service.config_path}:") and "service.score_interval" in lines[1]
    assert "keeps running with the previous watchlist" in lines[2]
    assert "Jobs:" in running.stdout and "collect:nodejs:" in running.stdout
    assert "service.score_interval" in as_json["watchlist_problem"]
    stopped = cli("--config", service.config_path, "status")
    assert stopped.exit_code == 0 and "'mentionwatch run' will not start until this is fixed" in stopped.stdout


def test_status_lists_notifications_not_delivered(tmp_path, cli, monkeypatch):
    from alerts.notify import MAX_ATTEMPTS, queue_notifications, send_pending
    from mentionwatch.config import load_config

    monkeypatch.setenv("MW_TEST_HOOK", f"json://{CLOSED_PORT_URL.removeprefix('http://')}/hook")
    config_path = tmp_path / "watch.yaml"
    write_watchlist(config_path, tmp_path / "svc.db", _hn_source(CLOSED_PORT_URL),
                  service="notifications:\n  - {name: team, url_env: MW_TEST_HOOK}")
    config = load_config(config_path)
    db = open_db(config.database)
    alert_ids = []
    for watch in ("nodejs", "nodejs-old"):
        with db.conn:
            alert_ids.append(db.execute(
                "INSERT INTO alerts (watch, rule, severity, window_start, window_end, opened_at, updated_at) "
                "VALUES (?, 'spike', 'high', '2025-06-01T11:00:00Z', '2025-06-01T12:00:00Z', "
                "'2025-06-01T12:00:00Z', '2025-06-01T12:00:00Z')", [watch]).lastrowid)
        queue_notifications(db, config, alert_ids[-1], "opened", "high")
    # nothing listens: both wait for a retry (a failing target is tried once per round)
    assert send_pending(db, config).failed == 1
    assert send_pending(db, config).failed == 1
    with db.conn:
        db.execute("UPDATE notifications SET attempts = ? WHERE alert_id = ?", [MAX_ATTEMPTS, alert_ids[1]])

    result = cli("--config", config_path, "status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = lines.index("Notifications not delivered: 2")
    retrying, given_up = lines[start + 1], lines[start + 2]
    assert retrying.startswith(f"  alert #{alert_ids[0]} to team (opened:high): 1 failed attempt(s), next try 20")
    assert "last error:" in retrying
    assert given_up.startswith(f"  alert #{alert_ids[1]} to team (opened:high): "
                               f"given up after {MAX_ATTEMPTS} attempts")
    report = json.loads(cli("--config", config_path, "status", "--json").stdout)
    assert [n["alert_id"] for n in report["undelivered_notifications"]] == alert_ids
    assert "127.0.0.1:9/hook" not in result.stdout
    # review: a receiver's error with a colour code or a bidi override reached the terminal raw
    with db.conn:
        db.execute("UPDATE notifications SET last_error = ? WHERE alert_id = ?",
                   ["\x1b[2Jspoofed \u202eredaeh", alert_ids[0]])
    shown = cli("--config", config_path, "status").stdout
    assert "\x1b" not in shown and "\u202e" not in shown and "\\x1b[2Jspoofed \\u202eredaeh" in shown


def test_status_tells_a_killed_service_at_once_on_the_same_host(tmp_path, cli):
    import socket
    import subprocess

    from storage import utc_now_iso

    config_path = tmp_path / "watch.yaml"
    write_watchlist(config_path, tmp_path / "svc.db", _hn_source(CLOSED_PORT_URL))
    gone = subprocess.Popen(["sleep", "0"])  # a process that existed and is gone, like a kill -9'd service
    gone.wait()
    db = open_db(tmp_path / "svc.db")
    with db.atomic():
        db.conn.execute("INSERT INTO service_process (id, pid, host, state, started_at, heartbeat_at) "
                        "VALUES (1, ?, ?, 'running', ?, ?)",
                        [gone.pid, socket.gethostname(), utc_now_iso(), utc_now_iso()])  # fresh heartbeat
    result = cli("--config", config_path, "status")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Service: not running (was running; process {gone.pid} is gone")


def test_status_shows_the_runs_of_a_killed_service_as_interrupted(tmp_path, cli):
    """kill -9: the job runs it left 'running' ended with it; the next start closes them in the database."""
    import socket
    import subprocess

    from mentionwatch.service_state import JobSchedule, save_schedules, start_job_run
    from storage import utc_now_iso

    config_path = tmp_path / "watch.yaml"
    write_watchlist(config_path, tmp_path / "svc.db", _hn_source(CLOSED_PORT_URL))
    gone = subprocess.Popen(["sleep", "0"])
    gone.wait()
    db = open_db(tmp_path / "svc.db")
    with db.atomic():
        db.conn.execute("INSERT INTO service_process (id, pid, host, state, started_at, heartbeat_at) "
                        "VALUES (1, ?, ?, 'running', ?, ?)",
                        [gone.pid, socket.gethostname(), utc_now_iso(), utc_now_iso()])
    save_schedules(db, [JobSchedule("score", "score", interval_seconds=60)])
    start_job_run(db, "score")  # never finished: the process died during it
    result = cli("--config", config_path, "status")
    assert result.exit_code == 0, result.output
    score_line = next(line for line in result.stdout.splitlines() if line.startswith("  score "))
    assert " interrupted " in score_line and " running " not in score_line
    assert "the service process is gone (killed or crashed) during this run" in score_line
    report = json.loads(cli("--config", config_path, "status", "--json").stdout)
    assert [job["last_status"] for job in report["jobs"]] == ["interrupted"]
    assert db.execute("SELECT status FROM job_runs").fetchone()[0] == "running"  # status only reads


def test_status_lists_recent_unconfirmed_notifications(tmp_path, cli):
    """A web hook that took the request but did not answer: the team may not have been told."""
    config_path = tmp_path / "watch.yaml"
    write_watchlist(config_path, tmp_path / "svc.db", _hn_source(CLOSED_PORT_URL))
    db = open_db(tmp_path / "svc.db")
    recent = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    alert_ids = {}
    for name, status, sent_at in (("open", "open", "2025-06-01T12:00:00Z"),
                                  ("resolved-recently", "resolved", recent),
                                  ("resolved-long-ago", "resolved", "2025-06-01T12:00:00Z")):
        with db.conn:
            alert_ids[name] = db.execute(
                "INSERT INTO alerts (watch, rule, status, severity, window_start, window_end, opened_at, "
                "updated_at) VALUES ('nodejs', 'spike', ?, 'high', '2025-06-01T11:00:00Z', "
                "'2025-06-01T12:00:00Z', '2025-06-01T12:00:00Z', '2025-06-01T12:00:00Z')", [status]).lastrowid
            db.execute("INSERT INTO notifications (alert_id, target, state, status, attempts, last_error, "
                       "created_at, sent_at) VALUES (?, 'team', 'opened:high', 'unconfirmed', 1, "
                       "'no answer within the read timeout', ?, ?)", [alert_ids[name], sent_at, sent_at])
    result = cli("--config", config_path, "status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = lines.index("Notifications not delivered: 2")
    for line, name in zip(lines[start + 1:start + 3], ("open", "resolved-recently")):
        assert line.startswith(f"  alert #{alert_ids[name]} to team (opened:high): unconfirmed: the receiver "
                               "took the request but did not answer in time; not re-sent (sent ")
    report = json.loads(cli("--config", config_path, "status", "--json").stdout)
    listed = report["undelivered_notifications"]
    assert [n["alert_id"] for n in listed] == [alert_ids["open"], alert_ids["resolved-recently"]]
    assert all(n["unconfirmed"] and not n["given_up"] for n in listed)


def test_a_database_damaged_under_the_service_stops_it(tmp_path, caplog):
    """A backup copied over the live file (same inode) is malformed once SQLite mixes it with the
    live log: retrying at every run would go on forever, so the service says how to recover and stops."""
    caplog.set_level(logging.INFO, logger="mentionwatch.service")
    service = _service(tmp_path, _hn_source(CLOSED_PORT_URL))
    _stand_in_bodies(service, [])
    service.start()
    try:
        # the source's first poll (a closed port: it fails at once) must be over before the file is
        # damaged, or it too logs the damage, as a job error
        watcher = open_db(service.db_path, migrate=False)
        wait_until(lambda: watcher.execute("SELECT count(*) FROM crawl_runs WHERE finished_at IS NOT NULL")
                   .fetchone()[0] >= 1, 30, what="the first poll")
        wait_until(lambda: watcher.execute("SELECT count(*) FROM job_runs WHERE job_id = 'score' AND "
                                           "finished_at IS NOT NULL").fetchone()[0], 30, what="the first score run")
        watcher.close()
        service.scheduler.pause()
        wait_until(lambda: not service._running, 30, what="the running jobs to end")
        other = open_db(service.db_path, migrate=False)
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page read from the file from now on
        other.close()
        with open(service.db_path, "r+b") as live:  # what `cp` over it leaves: other pages, same inode
            live.seek(4096)
            live.write(b"\xa5" * (os.path.getsize(service.db_path) - 4096))
        service._housekeeping("heartbeat")
        assert service._stopping.is_set()
    finally:
        service.stop("test over")
        code = service.finish()
    assert code == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert "is damaged" in errors[0] and "mentionwatch restore FILE --yes" in errors[0]


def test_a_service_inside_another_program_never_ends_that_program(tmp_path):
    """`finish` with a job still running after the stop timeout: `mentionwatch run` ends its own
    process, but a service started inside another program (a test run) only returns. Ending the
    host with exit code 0 once made a CI run stop half-way and look green."""
    import threading

    release = threading.Event()
    service = _service(tmp_path, "      []", stop_timeout=0.5)

    def slow_score(_db, _job_id):
        release.wait(30)
        return "ok", {}

    service._job_score = slow_score
    service.start()
    try:
        wait_until(lambda: "score" in " ".join(service._running), 20, what="the score job to start")
        service.stop("test over")
        assert service.finish() == 0  # returned: the test process is still here
    finally:
        release.set()


def test_an_unexpected_error_reading_the_watchlist_is_a_rejection_status_shows(tmp_path, monkeypatch, caplog, cli):
    """A bug in a watchlist check must not end a reload silently: the old jobs go on, and the
    problem is recorded for `status` like any rejected change."""
    import scheduler

    with HackerNewsServer([]) as hn:
        service = _service(tmp_path, _hn_source(hn.url))
        _stand_in_bodies(service, [])
        service.start()
        try:
            def broken_check(_path, **_options):
                raise RuntimeError("a check went wrong")
            monkeypatch.setattr(scheduler, "load_config", broken_check)
            assert service.reload("test") is False
        finally:
            service.stop("test over")
            assert service.finish() == 0
    assert any("unexpected RuntimeError" in record.getMessage() for record in caplog.records)
    report = json.loads(cli("--config", tmp_path / "watch.yaml", "status", "--json").output)
    assert report["service"]["watchlist_problem"].endswith("could not be read (RuntimeError: a check went wrong)")
