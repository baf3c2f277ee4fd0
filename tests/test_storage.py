"""Storage: schema, dedupe on (source, external_id), several watches per mention, FTS, atomic batches."""
from __future__ import annotations

import json
import multiprocessing
import sqlite3

import pytest

from storage import Mention, open_db, save_mentions
from storage.mentions import existing_external_ids


def _mention(i, watches=("acme",), **extra):
    return Mention(source="test", external_id=str(i), text=f"post number {i} about acme",
                   created_at=f"2024-03-0{1 + i % 9}T10:00:00+02:00", watches=watches, **extra)


def test_schema_wal_and_migrations_recorded(tmp_path):
    db = open_db(tmp_path / "a.db")
    assert db.journal_mode == "wal"
    for table in ("mentions", "mention_watches", "scores", "alerts", "alert_events", "alert_mentions",
                  "notifications", "crawl_runs", "cursors", "triage", "job_runs", "mentions_fts"):
        assert db[table].exists(), table
    applied = [r["name"] for r in db.query("select name from _sqlite_migrations")]
    assert applied[0] == "m001_mentions"
    db.close()
    again = open_db(tmp_path / "a.db")  # reopening applies nothing twice
    assert [r["name"] for r in again.query("select name from _sqlite_migrations")] == applied


def test_dedupe_and_counts(db):
    first = save_mentions(db, [_mention(i) for i in range(10)])
    assert (first.inserted, first.present, first.rejected) == (10, 0, 0)
    second = save_mentions(db, [_mention(i) for i in range(5, 15)])
    assert (second.inserted, second.present) == (5, 5)
    assert db["mentions"].count == 15
    row = db.execute("select created_at from mentions where external_id='1'").fetchone()
    assert row[0] == "2024-03-02T08:00:00Z"  # stored as UTC


def test_mention_matching_several_watches(db):
    save_mentions(db, [_mention(1, watches=("acme",))])
    save_mentions(db, [_mention(1, watches=("globex", "acme"))])
    assert db["mentions"].count == 1
    watches = sorted(r[0] for r in db.execute("select watch from mention_watches"))
    assert watches == ["acme", "globex"]


def test_malformed_items_skipped_rest_kept(db):
    items = [_mention(1), Mention("test", "", "no id", "2024-01-01"), _mention(2),
             Mention("test", "3", "bad time", "yesterday-ish"), Mention("test", "4", "   ", "2024-01-01"),
             Mention("test", "5", "reach", "2024-01-01", author_reach="many"), _mention(6)]
    result = save_mentions(db, items)
    assert result.inserted == 3 and result.rejected == 4
    reasons = dict(result.rejects)
    assert reasons["item 2"] == "external_id: missing"
    assert reasons["id 3"].startswith("created_at: unrecognised timestamp")
    assert reasons["id 4"] == "text: empty"
    assert reasons["id 5"].startswith("author_reach: not a number")


def test_full_text_search_index_follows_inserts(db):
    save_mentions(db, [_mention(1), Mention("test", "x", "terrible refund experience", "2024-01-01")])
    hits = db.execute("select rowid from mentions_fts where mentions_fts match 'refund'").fetchall()
    assert len(hits) == 1
    db.execute("update mentions set text = 'all good now' where external_id = 'x'")
    assert db.execute("select count(*) from mentions_fts where mentions_fts match 'refund'").fetchone()[0] == 0


def test_full_text_index_merges_less_eagerly_and_stays_whole(db):
    setting = db.execute("select v from mentions_fts_config where k = 'automerge'").fetchone()
    assert setting == (16,)
    # one transaction per mention: 70 index segments, enough for FTS5 to merge them
    save_mentions(db, [_mention(i) for i in range(70)], batch_size=1)
    db.execute("insert into mentions_fts (mentions_fts) values ('integrity-check')")  # raises if broken
    assert db.execute("select count(*) from mentions_fts where mentions_fts match 'acme'").fetchone()[0] == 70


def test_failure_mid_batch_keeps_committed_batches(db):
    """A real write failure in the third batch: the database may not grow (as on a full disk),
    and only the long mentions of that batch need room the two short batches before it did not."""
    long_text = "acme " + "a long complaint about the service " * 500
    mentions = [_mention(i) for i in range(20)] + [
        Mention("test", str(i), long_text, "2024-03-01T10:00:00Z", watches=("acme",)) for i in range(20, 50)]
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 4}")
    with pytest.raises(sqlite3.OperationalError, match="full"):
        save_mentions(db, mentions, batch_size=10)
    assert db["mentions"].count == 20
    assert db.execute("select count(*) from mention_watches").fetchone()[0] == 20
    db.execute("PRAGMA max_page_count = 1073741823")  # space freed
    result = save_mentions(db, mentions, batch_size=10)
    assert (result.inserted, result.present) == (30, 20)


def test_existing_external_ids(db):
    save_mentions(db, [_mention(i) for i in range(3)])
    assert existing_external_ids(db, "test", ["0", "2", "9"]) == {"0", "2"}
    assert existing_external_ids(db, "other", ["0"]) == set()


def _open_at_once(paths, barrier, results):
    """Child process: for each path, wait for every sibling, then open (and migrate) it together."""
    for path in paths:
        try:
            barrier.wait(timeout=120)
            db = open_db(path)
            db["cursors"].insert({"watch": "w", "source": "s", "name": str(multiprocessing.current_process().pid),
                                  "value": "1", "updated_at": "2025-01-01T00:00:00Z"})
            db.close()
            results.put((path, "ok"))
        except Exception as exc:  # reported to the parent, which fails the test
            results.put((path, f"{type(exc).__name__}: {exc}"))


def test_processes_opening_a_new_database_at_once_migrate_it_once(tmp_path):
    from storage.migrations import migrations

    processes, rounds = 4, 20
    paths = [str(tmp_path / f"new{i}.db") for i in range(rounds)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    children = [context.Process(target=_open_at_once, args=(paths, barrier, results)) for _ in range(processes)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=180) for _ in range(processes * rounds)]
    for child in children:
        child.join(timeout=60)
    assert [outcome for outcome in outcomes if outcome[1] != "ok"] == []
    for path in paths:
        db = open_db(path, migrate=False)
        assert migrations.pending(db) == []
        applied = [row[0] for row in db.execute("SELECT name FROM _sqlite_migrations ORDER BY id").fetchall()]
        assert applied[0] == "m001_mentions" and len(applied) == len(set(applied))
        assert db.journal_mode == "wal"
        assert db["cursors"].count == processes  # every process could write once it had opened the file
        db.close()
        assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_concurrent_writers_on_one_file_wait_for_each_other(tmp_path):
    """Two collectors storing at the same moment (the service runs jobs in threads, each with its
    own connection) must wait for the write lock, never fail with 'database is locked'."""
    import threading

    path = tmp_path / "shared.db"
    open_db(path).close()
    errors, start = [], threading.Barrier(2)

    def writer(name: str) -> None:
        db = open_db(path)
        start.wait()
        try:
            for batch in range(40):
                save_mentions(db, [Mention(source=name, external_id=f"{batch}-{i}", text=f"post {i}",
                                           created_at="2026-01-01T00:00:00Z") for i in range(20)],
                              batch_size=10)
        except sqlite3.OperationalError as exc:
            errors.append(str(exc))
        finally:
            db.close()

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    db = open_db(path)
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == 2 * 40 * 20


def test_a_file_that_is_not_a_database_is_one_error_line(cli, tmp_path):
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("meeting notes, not a database " * 40)
    result = cli("--db", not_a_db, "stats")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: database error: file is not a database ({not_a_db})"
    assert not_a_db.read_text().startswith("meeting notes")  # left as it was


@pytest.mark.parametrize("command", [("stats",), ("search", "refund"), ("alerts", "list"), ("status",)])
def test_a_mistyped_database_path_is_one_line_and_creates_nothing(cli, tmp_path, command):
    typo = tmp_path / "mentionwach.db"
    result = cli("--db", typo, *command)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: {typo}: no such database "
                                     "(run 'mentionwatch init' first, or check --db)")
    assert not typo.exists()


def test_commands_that_store_mentions_create_the_database(cli, tmp_path):
    feed = tmp_path / "posts.csv"
    feed.write_text("id,text,created_at\n1,hello acme,2024-01-01T00:00:00Z\n", encoding="utf-8")
    fresh = tmp_path / "fresh.db"
    assert cli("--db", fresh, "import", feed, "--source", "csv").exit_code == 0
    stats = cli("--db", fresh, "stats", "--json")
    assert stats.exit_code == 0 and json.loads(stats.stdout)["mentions"] == 1


def test_an_item_sqlite_cannot_hold_is_rejected_alone_and_the_batch_kept(db, caplog):
    """Pollers store through save_mentions too: one odd value must not fail the whole batch."""
    bad = [
        Mention("test", "huge", "reach", "2024-01-01", author_reach=10**20),
        Mention("test", "inf", "reach", "2024-01-01", author_reach=float("inf")),
        Mention("test", "negative", "reach", "2024-01-01", author_reach=-1),
        Mention("test", "nan", "rating", "2024-01-01", rating=float("nan")),
        Mention("test", "surrogate", "lone \udc80 surrogate", "2024-01-01"),
        Mention("test", "future", "year 9999", "9999-12-31T23:59:59Z"),
        Mention("test", "ancient", "year 1", "0001-01-01"),
    ]
    items = [_mention(1), *bad, _mention(2), Mention("test", "max", "biggest", "2024-01-01",
                                                     author_reach=2**63 - 1)]
    with caplog.at_level("WARNING", logger="storage.mentions"):
        result = save_mentions(db, items)
    assert (result.inserted, result.rejected) == (3, len(bad))
    reasons = dict(result.rejects)
    assert reasons["id huge"] == "author_reach: 100000000000000000000 is out of range (0 to 9223372036854775807)"
    assert reasons["id inf"] == "author_reach: not a number: 'inf'"
    assert reasons["id negative"].startswith("author_reach: -1 is out of range")
    assert reasons["id nan"] == "rating: nan is not a finite number"
    assert reasons["id surrogate"] == "text: not valid Unicode text (contains a lone surrogate)"
    assert reasons["id future"] == "created_at: 9999-12-31T23:59:59Z is in the future"
    assert reasons["id ancient"] == "created_at: 0001-01-01T00:00:00Z is before 1990"
    assert "rejected mention id huge" in caplog.text
    assert db.execute("select author_reach from mentions where external_id = 'max'").fetchone() == (2**63 - 1,)


def test_years_before_1000_keep_the_fixed_width_so_text_order_is_time_order():
    import datetime as dt

    from storage.timeutil import from_iso, parse_timestamp, to_iso

    assert parse_timestamp("0001-01-01") == "0001-01-01T00:00:00Z"
    assert to_iso(dt.datetime(999, 1, 1, tzinfo=dt.timezone.utc)) == "0999-01-01T00:00:00Z"
    assert parse_timestamp(parse_timestamp("0999-01-01")) == "0999-01-01T00:00:00Z"  # re-parsable
    assert from_iso("0001-01-01T00:00:00Z") == dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)
    stamps = [parse_timestamp(v) for v in ("2015-03-01", "1000-01-01", "0999-01-01", "1001-01-01")]
    assert sorted(stamps) == ["0999-01-01T00:00:00Z", "1000-01-01T00:00:00Z", "1001-01-01T00:00:00Z",
                              "2015-03-01T00:00:00Z"]
    with pytest.raises(ValueError, match="out of range"):
        parse_timestamp("0001-01-01T00:00:00+02:00")  # before year 1 once in UTC


def _database_from_a_newer_version(path):
    open_db(path).close()
    conn = sqlite3.connect(path)
    conn.execute("insert into _sqlite_migrations (migration_set, name, applied_at) "
                 "values ('mentionwatch', 'm010_future_thing', '2030-01-01')")
    conn.commit()
    conn.close()
    return path.read_bytes()


def test_a_database_written_by_a_newer_version_is_refused_untouched(tmp_path):
    from storage.db import NewerSchemaError, database_problem

    path = tmp_path / "newer.db"
    before = _database_from_a_newer_version(path)
    with pytest.raises(NewerSchemaError) as caught:
        open_db(path)
    assert database_problem(caught.value) == (
        "database was written by a newer mentionwatch (unknown migration m010_future_thing); "
        "upgrade mentionwatch")
    assert path.read_bytes() == before


@pytest.mark.parametrize("command", [("stats",), ("import", "posts.csv")])
def test_commands_on_a_newer_database_say_so_in_one_line_and_write_nothing(cli, tmp_path, command):
    (tmp_path / "posts.csv").write_text("id,text,created_at\n1,hello,2024-01-01\n", encoding="utf-8")
    path = tmp_path / "newer.db"
    before = _database_from_a_newer_version(path)
    result = cli("--db", path, *command)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: database was written by a newer mentionwatch (unknown migration m010_future_thing); "
        f"upgrade mentionwatch ({path})")
    assert path.read_bytes() == before
    assert sqlite3.connect(path).execute("select count(*) from mentions").fetchone() == (0,)
