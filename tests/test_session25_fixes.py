"""Fixes of the session of 2026-12-07 (the twenty-fifth), each from the left-alone list or a review."""
from __future__ import annotations

import time

import pytest


def test_an_erasure_rebuilds_the_full_text_index_instead_of_merging_it_first(tmp_path, monkeypatch):
    """When the levels had piled up, an erasure merged the index ('optimize', 2.7 s of the write lock
    on 2.2M mentions) and then rebuilt it anyway: the merge was for nothing."""
    import storage.erasure as erasure
    from storage import Mention, open_db, save_mentions

    monkeypatch.setattr(erasure, "FULL_TEXT_LEVELS_BEFORE_REBUILD", 6)
    db = open_db(tmp_path / "few.db")
    commands_per_erasure = []
    for day in range(130):  # the levels start to grow after about 100 erasures
        save_mentions(db, [Mention("reddit", f"p{day}-{k}", f"acme post {day} {k}", "2026-03-01T10:00:00Z")
                           for k in range(3)])
        [oldest] = db.execute("SELECT min(id) FROM mentions").fetchone()
        statements = []
        db.conn.set_trace_callback(statements.append)
        erasure.erase(db, erasure.Selection(mention_ids=(oldest,)), what="retention", actor="t")
        db.conn.set_trace_callback(None)
        commands_per_erasure.append([word for word in ("optimize", "rebuild")
                                     if f"INSERT INTO mentions_fts (mentions_fts) VALUES ('{word}')" in statements])
        assert erasure.full_text_levels(db) <= 6 + 2
    assert ["rebuild"] in commands_per_erasure and ["optimize"] in commands_per_erasure
    assert all(len(commands) == 1 for commands in commands_per_erasure), commands_per_erasure
    stored = db.execute("SELECT count(*) FROM mentions").fetchone()[0]
    assert db.execute("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH 'acme'").fetchone()[0] == stored
    assert db.execute("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH '\"post 0\"'").fetchone()[0] == 0
    db.close()


def _crawl_run(db, watch, source, finished, status):
    return db.conn.execute("INSERT INTO crawl_runs (watch, source, started_at, finished_at, status) "
                           "VALUES (?, ?, ?, ?, ?)", [watch, source, finished, finished, status]).lastrowid


def _old_and_new_crawl_runs(db) -> dict[str, int]:
    """acme/rss: old runs of every kind, then recent ones; acme/reddit: only old runs, its last a
    failure, its last success months before; acme/hn: one old run, still the last."""
    runs = {}
    for day, status in enumerate(["ok", "failed", "ok", "partial", "ok", "failed", "ok"], start=1):
        runs[f"rss-old-{day}"] = _crawl_run(db, "acme", "rss", f"2026-01-{day:02d}T10:00:00Z", status)
    runs["rss-new-ok"] = _crawl_run(db, "acme", "rss", "2026-11-30T10:00:00Z", "ok")
    runs["rss-running"] = db.conn.execute("INSERT INTO crawl_runs (watch, source, started_at) VALUES "
                                          "('acme', 'rss', '2026-01-01T09:00:00Z')").lastrowid
    runs["reddit-old-ok"] = _crawl_run(db, "acme", "reddit", "2026-02-01T10:00:00Z", "ok")
    runs["reddit-older-failed"] = _crawl_run(db, "acme", "reddit", "2026-02-02T10:00:00Z", "failed")
    runs["reddit-last-failed"] = _crawl_run(db, "acme", "reddit", "2026-03-01T10:00:00Z", "failed")
    runs["hn-only"] = _crawl_run(db, "acme", "hackernews", "2025-06-01T10:00:00Z", "ok")
    db.conn.commit()
    return runs


def test_old_crawl_runs_are_pruned_but_what_status_shows_is_kept(db):
    """crawl_runs grew by one row per poll forever (1M rows at 20 sources in a year)."""
    import datetime as dt

    from mentionwatch.service_state import _sources, prune_crawl_runs

    runs = _old_and_new_crawl_runs(db)
    shown_before = _sources(db)
    deleted = prune_crawl_runs(db, keep_days=90, now=dt.datetime(2026, 12, 7, tzinfo=dt.timezone.utc))
    left = {name for name, run_id in runs.items()
            if db.execute("SELECT 1 FROM crawl_runs WHERE id = ?", [run_id]).fetchone()}
    assert left == {"rss-old-6", "rss-new-ok", "rss-running", "reddit-old-ok", "reddit-last-failed",
                    "hn-only"}, left  # rss-old-6: rss's last failure; the running one is not finished
    assert deleted == len(runs) - len(left)
    assert _sources(db) == shown_before
    assert prune_crawl_runs(db, keep_days=90, now=dt.datetime(2026, 12, 7, tzinfo=dt.timezone.utc)) == 0


def test_the_service_prunes_old_crawl_runs(tmp_path, onnx_cache):
    # onnx_cache: the service's score job loads the model; its ONNX files go where the other tests' do
    from scheduler import Service
    from storage import open_db
    from tests.service_fakes import wait_until, write_watchlist

    config_path, db_path = tmp_path / "watch.yaml", tmp_path / "svc.db"
    write_watchlist(config_path, db_path, "      []")
    db = open_db(db_path)
    runs = _old_and_new_crawl_runs(db)
    service = Service(config_path, blocking=False)
    service.start()
    try:
        wait_until(lambda: db.execute("SELECT count(*) FROM crawl_runs").fetchone()[0] < len(runs), 30,
                   what="the hourly pruning")
    finally:
        service.stop("test over")
        service.finish()
    # the service closed the run left running as failed at its start: now rss's last failure
    left = {run_id for (run_id,) in db.execute("SELECT id FROM crawl_runs")}
    assert left == {runs[name] for name in ("rss-new-ok", "rss-running", "reddit-old-ok", "reddit-last-failed",
                                            "hn-only")}


def test_a_row_kept_out_by_an_erasure_is_not_also_told_to_run_again_with_update(cli, tmp_path):
    """A row with another text than the stored mention of its id, under an erasure: the import
    advised '--update', which leaves the stored mention as it is all the same."""
    (tmp_path / "a.csv").write_text("id,text,created_at,author\n2,awful delay,2026-11-04T11:00:00Z,carl\n"
                                    "3,fine flight,2026-11-04T12:00:00Z,dan\n", encoding="utf-8")
    assert cli("--db", "f.db", "import", "a.csv").exit_code == 0
    assert cli("--db", "f.db", "forget", "--author", "bob", "--source", "import", "--yes").exit_code == 0
    (tmp_path / "b.csv").write_text("id,text,created_at,author\n2,awful delay again,2026-11-04T11:00:00Z,bob\n"
                                    "3,fine flight indeed,2026-11-04T12:00:00Z,dan\n", encoding="utf-8")
    result = cli("--db", "f.db", "import", "b.csv")
    assert "1 row(s) fall under an erasure" in result.output
    # only row 3 is a newer text that --update would store
    assert "warning: 1 row had the id of a stored import mention with another text" in result.output
    updated = cli("--db", "f.db", "import", "b.csv", "--update")
    assert "1 row had the id of a stored import mention with another text, which it replaced" in updated.output
    assert "1 row(s) fall under an erasure" in updated.output


def test_browse_started_with_ctrl_c_ignored_keeps_serving_after_one(tmp_path):
    """`browse &` from a script (SIGINT ignored) stopped on a Ctrl-C meant for the script: uvicorn set
    its own handler over the ignored one. SIGTERM still stops it."""
    import os
    import signal
    import subprocess
    import sys

    import httpx
    from test_browse import _free_port, stop, wait_until_serving

    from storage import open_db

    open_db(tmp_path / "b.db").close()
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mentionwatch", "--db", str(tmp_path / "b.db"), "browse", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base, lambda: process.stderr.read())
        process.send_signal(signal.SIGINT)
        time.sleep(1.5)
        assert process.poll() is None, process.stderr.read()[-2000:]
        assert httpx.get(f"{base}/-/versions.json", timeout=5).status_code == 200
        process.terminate()
        process.wait(timeout=15)  # uvicorn ends as the signal it caught would (-15)
    finally:
        stop(process)


def test_pruning_keeps_the_success_that_finished_last_when_runs_overlapped(db):
    """A long crawl by hand beside the service's polls: the success that finished last (the one status
    shows) is not the one with the highest id, and the pruning deleted it (review)."""
    import datetime as dt

    from mentionwatch.service_state import _sources, prune_crawl_runs

    for started, finished, status in (("00:00", "00:30", "ok"), ("00:01", "00:02", "ok"), ("00:03", "00:04", "failed")):
        db.conn.execute("INSERT INTO crawl_runs (watch, source, started_at, finished_at, status) VALUES "
                        "('acme', 'reddit', ?, ?, ?)", [f"2026-01-01T{started}:00Z", f"2026-01-01T{finished}:00Z", status])
    db.conn.commit()
    shown_before = _sources(db)
    assert shown_before[0]["last_success_at"] == "2026-01-01T00:30:00Z"
    assert prune_crawl_runs(db, keep_days=90, now=dt.datetime(2026, 12, 7, tzinfo=dt.timezone.utc)) == 1
    assert _sources(db) == shown_before


def test_acknowledging_again_with_nothing_new_changes_nothing(cli, tmp_path, monkeypatch):
    """A second `alerts ack` by the same owner without a note added an empty 'acknowledged' line to
    the timeline each time (review); a note or another owner is still recorded."""
    from test_cli_stats_and_actors import _open_alert, _stored

    from storage import open_db

    monkeypatch.setenv("LOGNAME", "dana")
    db_path = tmp_path / "m.db"
    _stored(db_path, 1)
    db = open_db(db_path)
    alert_id = _open_alert(db)
    assert cli("--db", db_path, "alerts", "ack", alert_id).stdout.strip() == f"Alert #{alert_id} acknowledged, owner dana."
    again = cli("--db", db_path, "alerts", "ack", alert_id)
    assert again.exit_code == 0
    assert again.stdout.strip() == f"Alert #{alert_id} is already acknowledged, owner dana: nothing changed."
    assert cli("--db", db_path, "alerts", "ack", alert_id, "--note", "called them").exit_code == 0
    assert cli("--db", db_path, "alerts", "ack", alert_id, "--owner", "sam").exit_code == 0
    events = db.execute("SELECT actor, detail FROM alert_events WHERE kind = 'acknowledged' ORDER BY id").fetchall()
    assert events == [("dana", None), ("dana", "called them"), ("dana", "owner sam; taken over from dana")]


def test_detect_names_an_alert_whose_opening_it_sends_late(cli, tmp_path, model_id):
    """A replay stored alert #1 telling nobody; a later `detect --notify` sent its opening but printed
    only '0 alert(s) opened, 1 updated': the team got 'alert #1 opened' and the shell never named it (review)."""
    import datetime as dt

    import test_alerts_detection as detection

    from storage import open_db

    (tmp_path / "mentionwatch.yaml").write_text(detection.config_text() + "database: late.db\n")
    db = open_db(tmp_path / "late.db")
    burst = 6 * 24 + 5
    detection.add_stream(db, model_id, burst={burst: [("reddit", 40)]})
    during = detection.START + dt.timedelta(hours=burst + 1)
    assert cli("detect", "--at", detection.iso(during)).exit_code == 0
    assert db.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0
    later = cli("detect", "--at", detection.iso(during + dt.timedelta(minutes=30)), "--notify")
    assert later.exit_code == 0, later.output
    assert "0 alert(s) opened" in later.stdout
    [line] = [line for line in later.stdout.splitlines() if "announced" in line]
    assert line.startswith("  announced #1 (found earlier by a run that told nobody, or new to a target): acme spike")
    assert [s.split(":")[0] for (s,) in db.execute("SELECT state FROM notifications")] == ["opened"]
    again = cli("detect", "--at", detection.iso(during + dt.timedelta(minutes=40)), "--notify")
    assert "announced" not in again.stdout  # queued once: nothing new to say
    db.close()


@pytest.mark.parametrize("written, problem", [
    ("24 Feb 2015 +05:30", "unrecognised timestamp"),  # was read as 05:30 UTC: the offset taken for a time
    ("2026-03-05+01:60", "a UTC offset's minutes go up to 59"),  # was +02:00
    ("2026-03-05T10:00+01:75", "a UTC offset's minutes go up to 59"),
])
def test_a_time_the_parsers_misread_is_refused_everywhere(written, problem):
    from storage.timeutil import parse_file_timestamp, parse_given_time, parse_timestamp

    for parse in (parse_file_timestamp, parse_timestamp, parse_given_time):
        with pytest.raises(ValueError, match=problem):
            parse(written)


def test_a_file_time_with_an_offset_and_another_zone_name_is_refused():
    """'2026-03-05+10 EST' was stored as 15:00 UTC (the +10 read as an hour, EST as the zone)."""
    from storage.timeutil import parse_file_timestamp, parse_given_time

    with pytest.raises(ValueError, match=r"'2026-03-05\+10 EST' has two time zones or offsets \(EST is -0500\)"):
        parse_file_timestamp("2026-03-05+10 EST")
    with pytest.raises(ValueError, match="has two time zones or offsets"):
        parse_given_time("2026-03-05+10 EST")
    # an e-mail date naming its offset twice, alike, is one zone
    assert parse_file_timestamp("Tue, 24 Feb 2015 11:35:52 +0100 (CET)") == "2015-02-24T10:35:52Z"
    # a name in brackets is a comment: an older Australian mailer's 'EST' beside +1000 (review)
    assert parse_file_timestamp("Mon, 2 Mar 2026 08:00:00 +1000 (EST)") == "2026-03-01T22:00:00Z"
    assert parse_file_timestamp("24 Feb 2015 10:00 +05:30") == "2015-02-24T04:30:00Z"


def test_an_import_row_with_a_misread_time_is_rejected_by_line(cli, tmp_path):
    (tmp_path / "t.csv").write_text("id,text,created_at\n1,acme late,2026-03-05+10 EST\n"
                                    "2,acme fine,2026-03-05T10:00:00Z\n", encoding="utf-8")
    result = cli("--db", "t.db", "import", "t.csv")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "1 inserted" in result.output and "1 rejected" in result.output
    assert "has two time zones or offsets" in result.output


def test_a_count_left_out_for_a_small_backlog_is_explained_under_the_risk_table(db):
    """With a few unscored mentions, 'negative (24 h)' showed a dash beside a risk score and a share,
    and the note under the table explained only the other dashes."""
    import datetime as dt

    from test_report_risk import END, _last_day, _steady

    from mentionwatch.triage.report import WatchSection, _risk_table
    from mentionwatch.triage.risk import watch_risk
    from storage import Mention, save_mentions
    from storage.timeutil import to_iso

    _steady(db, "storm", 10)
    _last_day(db, "storm", 30)
    scored = _risk_table([WatchSection("storm", watch_risk(db, "storm", "m", to_iso(END)), [], {}, 30, 30)])
    assert "&ndash;" not in scored
    save_mentions(db, [Mention("forum", "new-0", "storm news", to_iso(END - dt.timedelta(hours=2)),
                               watches=("storm",))])
    risk = watch_risk(db, "storm", "m", to_iso(END))
    table = _risk_table([WatchSection("storm", risk, [], {}, 31, 30)])
    assert risk.has_score and '<td class="num">&ndash;</td>' in table
    assert "a few mentions of the last 24 hours have no sentiment score yet, so the count would be short" in table


def test_an_older_service_stops_when_a_newer_version_migrates_its_database(tmp_path, onnx_cache, caplog):
    """After an upgrade, the first command of the new version migrates the database under the old
    service still running, which went on writing with code that knows nothing of the new schema (review)."""
    import logging

    from scheduler import Service
    from storage import open_db
    from tests.service_fakes import wait_until, write_watchlist

    config_path, db_path = tmp_path / "watch.yaml", tmp_path / "svc.db"
    write_watchlist(config_path, db_path, "      []")
    service = Service(config_path, blocking=False)
    service.start()
    try:
        db = open_db(db_path)
        [migration_set] = db.execute("SELECT DISTINCT migration_set FROM _sqlite_migrations").fetchone()
        db.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                   "VALUES (?, 'm999_from_the_future', '2027-01-01')", [migration_set])
        db.conn.commit()
        with caplog.at_level(logging.ERROR, logger="mentionwatch.service"):
            wait_until(lambda: service.exit_code == 1, 40, what="the service to notice the newer schema")
    finally:
        service.stop("test over")
        service.finish()
    assert any("upgraded by a newer mentionwatch" in r.getMessage() and "m999_from_the_future" in r.getMessage()
               for r in caplog.records)
    # the file is sound: the stop is recorded as a stop, not left looking like a crash (review)
    state = db.execute("SELECT state FROM service_process").fetchone()[0]
    assert state == "stopped"


def test_scoring_runs_while_every_collection_thread_waits_on_a_slow_site(tmp_path, onnx_cache):
    """Six or more sources stuck on one slow or rate-limiting host filled the service's only pool
    (MAX_WORKERS threads): scoring, detection and notifications waited minutes behind them (review)."""
    from mentionwatch.config import SentimentConfig
    from scheduler import MAX_WORKERS, Service
    from sentiment.scorer import load_scorer
    from storage import Mention, open_db, save_mentions
    from tests.service_fakes import FeedServer, rss_feed, wait_until, write_watchlist

    load_scorer(SentimentConfig(model="builtin"))  # exported and loaded once, before the clock matters
    feeds = {f"/slow{n}.xml": rss_feed(f"feed {n}", [(f"s{n}", "node news", "node")]) for n in range(MAX_WORKERS)}
    config_path, db_path = tmp_path / "watch.yaml", tmp_path / "svc.db"
    db = open_db(db_path)
    save_mentions(db, [Mention("import", f"u{n}", "node is down again", "2026-12-01T10:00:00Z", watches=("nodejs",))
                       for n in range(5)])
    finished_runs = "SELECT count(*) FROM crawl_runs WHERE status != 'running'"
    with FeedServer(feeds, delay=12.0) as server:
        sources = "\n".join(f"      - {{type: rss, interval: 10m, options: {{urls: [{server.url}{path}]}}}}"
                            for path in feeds)
        write_watchlist(config_path, db_path, sources)
        service = Service(config_path, blocking=False)
        service.start()
        try:
            wait_until(lambda: db.execute("SELECT count(*) FROM scores").fetchone()[0] >= 5, 30,
                       what="the unscored mentions scored")
            assert len(server.requests) == MAX_WORKERS  # every collection thread was waiting on the site ...
            assert db.execute(finished_runs).fetchone()[0] == 0  # ... and none had finished: no waiting for them
            wait_until(lambda: db.execute(finished_runs).fetchone()[0] == MAX_WORKERS, 30, what="the slow polls")
        finally:
            service.stop("test over")
            service.finish()


def test_a_short_pause_a_site_asks_of_one_source_holds_its_other_sources_instead_of_their_threads():
    """Six sources on one host answered 429 with Retry-After 100: each slept it out in a collection
    thread, every thread was taken, and each went on asking the host meanwhile (review). The source
    told waits; the host's other sources end their poll at once, to come back when the pause ends."""
    import httpx

    from crawler.pollers.base import FetchError, Fetcher

    asked = []

    def site(request):
        asked.append(str(request.url))
        if len(asked) == 1:
            return httpx.Response(429, headers={"Retry-After": "100"})
        return httpx.Response(200, json={"ok": True})

    other_source_error = []

    def sleep_while_another_source_polls(seconds):
        with httpx.Client(transport=httpx.MockTransport(site)) as client:
            try:
                Fetcher(client, min_interval=0, sleep=lambda s: None).get("http://api.example.test/other")
            except FetchError as exc:
                other_source_error.append(exc)

    with httpx.Client(transport=httpx.MockTransport(site)) as client:
        told = Fetcher(client, min_interval=0, sleep=sleep_while_another_source_polls)
        assert told.get("http://api.example.test/first").status_code == 200
        assert told.get("http://api.example.test/next-page").status_code == 200  # its own pause is over
    [error] = other_source_error
    assert "the site asked for a pause until" in str(error) and error.retry_at is not None
    assert asked == ["http://api.example.test/first", "http://api.example.test/first",
                     "http://api.example.test/next-page"]  # the other source asked nothing meanwhile


def test_status_finds_the_database_of_a_watchlist_saved_as_latin_1(cli, tmp_path):
    """A watchlist saved as Latin-1 ('Café'): status said 'mentionwatch.db: no such database (run
    mentionwatch init first)' although `database: svc.db` is plain on line 1 (review)."""
    from storage import open_db

    open_db(tmp_path / "svc.db").close()
    (tmp_path / "latin1.yaml").write_bytes(b'database: svc.db\nwatches:\n  - name: acme\n    description: "Caf\xe9"\n'
                                           b"    query: {any: [acme]}\n")
    result = cli("--config", "latin1.yaml", "status")
    assert result.exit_code == 0, result.output
    assert "no such database" not in result.output
    assert "Watchlist: latin1.yaml:4: not UTF-8 text (byte 0xe9)" in result.output


def test_the_service_says_how_many_collected_posts_its_query_left_out(tmp_path, onnx_cache):
    """`crawl` showed 'filtered', the service's job line and `status` did not: a query that drops
    everything looked like a quiet source (review)."""
    import json

    from scheduler import Service
    from storage import open_db
    from tests.service_fakes import FeedServer, rss_feed, wait_until, write_watchlist

    feed = rss_feed("news", [("a", "node 22 released", "node"), ("b", "python news", "python only")])
    config_path, db_path = tmp_path / "watch.yaml", tmp_path / "svc.db"
    with FeedServer({"/feed.xml": feed}) as server:
        write_watchlist(config_path, db_path, f"      - {{type: rss, options: {{urls: [{server.url}/feed.xml]}}}}")
        service = Service(config_path, blocking=False)
        service.start()
        db = open_db(db_path)
        try:
            wait_until(lambda: db.execute("SELECT count(*) FROM job_runs WHERE job_id LIKE 'collect:%' "
                                          "AND status = 'ok'").fetchone()[0], 30, what="the poll")
        finally:
            service.stop("test over")
            service.finish()
    [detail] = db.execute("SELECT detail FROM job_runs WHERE job_id LIKE 'collect:%'").fetchone()
    assert json.loads(detail)["filtered"] == 1 and json.loads(detail)["new"] == 1


def test_a_source_held_by_the_sites_pause_comes_back_when_it_ends_with_no_failure_counted(tmp_path, onnx_cache):
    """A source held by a pause the site asked of another of its sources was recorded as a failure
    and backed off twice its interval (20 minutes) although it asked nothing and the pause ended in
    seconds (review of the shared pause)."""
    import datetime as dt

    from crawler.pollers import base
    from scheduler import Service
    from storage import open_db
    from tests.service_fakes import FeedServer, rss_feed, wait_until, write_watchlist

    config_path, db_path = tmp_path / "watch.yaml", tmp_path / "svc.db"
    with FeedServer({"/feed.xml": rss_feed("news", [("a", "node 22", "node")])}) as server:
        write_watchlist(config_path, db_path, f"      - {{type: rss, interval: 10m, options: {{urls: [{server.url}/feed.xml]}}}}")
        base._hold_site("127.0.0.1", dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=4))  # another source's pause
        service = Service(config_path, blocking=False)
        service.start()
        db = open_db(db_path)
        try:
            wait_until(lambda: db.execute("SELECT count(*) FROM crawl_runs WHERE status = 'failed'").fetchone()[0],
                       20, what="the held poll")
            assert server.requests == []  # nothing was asked during the pause
            [job_id] = [job.id for job in service.scheduler.get_jobs() if job.id.startswith("collect:")]
            assert service._failures.get(job_id, 0) == 0
            wait_until(lambda: db.execute("SELECT count(*) FROM crawl_runs WHERE status = 'ok'").fetchone()[0],
                       20, what="the poll once the pause is over, not 20 minutes later")
        finally:
            service.stop("test over")
            service.finish()

