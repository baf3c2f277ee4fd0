"""`mentionwatch rematch`: an edited query applied to the mentions already stored (unlinking what
it no longer matches, linking what it now matches), with import links kept, a preview that changes
nothing, and databases stored before links recorded how they were made."""
from __future__ import annotations

import datetime as dt
import json
import sqlite3

from alerts.detect import run_detection
from mentionwatch.config import parse_config
from storage import Mention, open_db, save_mentions
from storage.migrations import migrations
from storage.rematch import WatchRule, apply_rematch, plan_rematch
from tests.test_alerts_detection import START, add_stream, config_text

WATCHLIST = """
database: mentionwatch.db
watches:
  - name: acme
    query: {{any: [acme]{acme_extra}}}
  - name: globex
    query: {{any: [{globex_terms}]}}
"""


def _watchlist(tmp_path, acme_extra: str = "", globex_terms: str = "globex") -> None:
    (tmp_path / "mentionwatch.yaml").write_text(
        WATCHLIST.format(acme_extra=acme_extra, globex_terms=globex_terms), encoding="utf-8")


def _post(external_id: str, text: str, *watches: str, source: str = "reddit") -> Mention:
    return Mention(source, external_id, text, "2025-03-01T10:00:00Z", watches=watches)


def _store(tmp_path, mentions: list[Mention]) -> None:
    db = open_db(tmp_path / "mentionwatch.db")
    save_mentions(db, mentions)
    db.close()


def _linked(tmp_path, watch: str) -> set[str]:
    db = open_db(tmp_path / "mentionwatch.db")
    try:
        return {row[0] for row in db.execute(
            "SELECT m.external_id FROM mentions m JOIN mention_watches w ON w.mention_id = m.id "
            "WHERE w.watch = ?", [watch])}
    finally:
        db.close()


def _links(tmp_path) -> list[tuple]:
    db = open_db(tmp_path / "mentionwatch.db")
    try:
        return db.execute("SELECT watch, mention_id, linked_by FROM mention_watches ORDER BY 1, 2").fetchall()
    finally:
        db.close()


def _three_acme_posts(tmp_path) -> None:
    _watchlist(tmp_path)
    _store(tmp_path, [_post("p1", "the acme anvil broke", "acme"),
                      _post("p2", "acme and globex rockets", "acme", "globex"),
                      _post("p3", "globex says hi", "globex")])


def test_an_added_exclude_unlinks_the_excluded_posts_and_keeps_the_rest(cli, tmp_path):
    _three_acme_posts(tmp_path)
    _watchlist(tmp_path, acme_extra=', exclude: ["acme anvil"]')

    result = cli("rematch", "--yes")

    assert result.exit_code == 0, result.output
    assert "acme: unlinked 1 mention, linked 0 mentions." in result.output
    assert _linked(tmp_path, "acme") == {"p2"}
    assert _linked(tmp_path, "globex") == {"p2", "p3"}  # other watches' links stay
    db = open_db(tmp_path / "mentionwatch.db")
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == 3  # the mention itself stays
    db.close()


def test_a_widened_query_links_a_post_stored_for_another_watch(cli, tmp_path):
    _three_acme_posts(tmp_path)
    _watchlist(tmp_path, globex_terms="globex, anvil")

    result = cli("rematch", "--yes")

    assert result.exit_code == 0, result.output
    assert "globex: unlinked 0 mentions, linked 1 mention." in result.output
    assert _linked(tmp_path, "globex") == {"p1", "p2", "p3"}
    assert ("globex", 1, "query") in _links(tmp_path)


def test_posts_of_a_source_the_watch_does_not_collect_from_are_linked_only_when_asked(cli, tmp_path):
    """globex is read from reddit only: a hackernews post stored for acme that its widened query
    matches would count up to the rematch and never after (collection goes on with reddit)."""
    _watchlist(tmp_path, globex_terms="globex, anvil")
    _store(tmp_path, [_post("h1", "the acme anvil broke", "acme", source="hackernews"),
                      _post("r1", "globex says hi", "globex")])

    preview = cli("rematch", "--watch", "globex")
    assert "globex: nothing to change." in preview.output
    assert "1 mention from hackernews, a source this watch does not collect from, matches its query" \
        in preview.output
    assert cli("rematch", "--watch", "globex", "--yes").exit_code == 0
    assert _linked(tmp_path, "globex") == {"r1"}

    assert cli("rematch", "--watch", "globex", "--any-source", "--yes").exit_code == 0
    assert _linked(tmp_path, "globex") == {"r1", "h1"}


def test_links_made_by_import_are_kept(cli, tmp_path):
    _watchlist(tmp_path)
    (tmp_path / "file.csv").write_text("id,text,created_at\nf1,nothing about any brand,2025-03-01T10:00:00Z\n"
                                       "f2,acme again,2025-03-01T11:00:00Z\n", encoding="utf-8")
    assert cli("import", "file.csv", "--source", "reddit", "--watch", "acme").exit_code == 0
    _store(tmp_path, [_post("f2", "acme again", "acme")])  # a collector finds it too: still an import link
    assert {linked_by for _, _, linked_by in _links(tmp_path)} == {"import"}

    preview = cli("rematch")
    done = cli("rematch", "--yes")

    assert "acme: nothing to change." in preview.output
    assert "1 link made by 'mentionwatch import --watch acme' that the query does not match would stay" \
        in preview.output
    assert done.exit_code == 0 and "stayed" in done.output
    assert _linked(tmp_path, "acme") == {"f1", "f2"}


def test_an_import_of_a_post_linked_by_a_query_makes_it_an_import_link(cli, tmp_path):
    _watchlist(tmp_path)
    _store(tmp_path, [_post("f1", "acme once", "acme")])
    (tmp_path / "file.csv").write_text("id,text,created_at\nf1,acme once,2025-03-01T10:00:00Z\n", encoding="utf-8")
    assert cli("import", "file.csv", "--source", "reddit", "--watch", "acme").exit_code == 0
    assert _links(tmp_path) == [("acme", 1, "import")]


def test_the_preview_changes_nothing_and_shows_examples(cli, tmp_path):
    _watchlist(tmp_path)
    _store(tmp_path, [_post("p1", "the acme anvil broke \x1b[31m" + "x" * 200, "acme"),
                      _post("p2", "acme rockets", "acme"), _post("p3", "globex anvil", "globex")])
    _watchlist(tmp_path, acme_extra=', exclude: ["acme anvil"]', globex_terms="globex, rockets")
    before = _links(tmp_path)

    result = cli("rematch")

    assert result.exit_code == 0, result.output
    assert _links(tmp_path) == before
    lines = result.output.splitlines()
    assert "acme: would unlink 1 mention its query no longer matches, and link 0 mentions" in lines[0]
    example = next(line for line in lines if "the acme anvil" in line)
    assert example.split()[:2] == ["1", "reddit"]
    assert "\x1b" not in result.output and "\\x1b[31m" in example  # shown, never obeyed
    assert example.endswith("m" + "x" * 54)  # the first 80 characters (21 + 5 + 54), escaped
    assert "globex: would unlink 0 mentions" in result.output and "link 1 mention it now matches" in result.output
    assert lines[-1] == "Nothing is changed yet: run the same command with --yes to apply."


def test_watch_limits_it_to_the_watches_named(cli, tmp_path):
    _three_acme_posts(tmp_path)
    _watchlist(tmp_path, acme_extra=', exclude: ["acme anvil"]', globex_terms="globex, anvil")

    result = cli("rematch", "--watch", "globex", "--yes")

    assert result.exit_code == 0, result.output
    assert "acme" not in result.output.replace("the quer", "")
    assert _linked(tmp_path, "acme") == {"p1", "p2"}  # untouched
    assert _linked(tmp_path, "globex") == {"p1", "p2", "p3"}


def test_bad_input_is_one_line_and_exit_2(cli, tmp_path):
    _watchlist(tmp_path)
    missing_db = cli("rematch")
    assert missing_db.exit_code == 2 and "no such database" in missing_db.output
    assert not (tmp_path / "mentionwatch.db").exists()
    _store(tmp_path, [_post("p1", "acme", "acme")])
    unknown = cli("rematch", "--watch", "acme", "--watch", "nope")
    assert unknown.exit_code == 2
    assert unknown.output.strip() == "Error: no watch named 'nope' in mentionwatch.yaml"
    (tmp_path / "mentionwatch.yaml").write_text("database: mentionwatch.db\nwatches: []\n", encoding="utf-8")
    empty = cli("rematch")
    assert empty.exit_code == 2 and len(empty.output.strip().splitlines()) == 1


def test_sources_collected_without_the_query_are_left_alone(cli, tmp_path):
    (tmp_path / "mentionwatch.yaml").write_text("""
database: mentionwatch.db
watches:
  - name: acme
    query: {any: [acme]}
    sources:
      - {type: appstore, options: {app_id: "1", match_query: false}}
""", encoding="utf-8")
    _store(tmp_path, [_post("r1", "great app", "acme", source="appstore"),
                      _post("r2", "lovely", "acme", source="reddit")])

    result = cli("rematch", "--yes")

    assert result.exit_code == 0, result.output
    assert "1 mention from appstore stayed linked (collected with options.match_query: false" in result.output
    assert _linked(tmp_path, "acme") == {"r1"}


def _old_database(path) -> None:
    """A database as stored before migration m014: links without linked_by."""
    db = open_db(path, migrate=False)
    with db.atomic():
        for migration in migrations._migrations:
            if migration.name == "m014_link_origin":
                break
            migration.fn(db)
            db["_sqlite_migrations"].insert({"migration_set": "mentionwatch", "name": migration.name,
                                             "applied_at": "2025-01-01"}, alter=True)
    conn = db.conn
    conn.executemany("INSERT INTO mentions (id, source, external_id, text, created_at, fetched_at) "
                     "VALUES (?, 'reddit', ?, ?, '2025-03-01T10:00:00Z', '2025-03-01T10:00:00Z')",
                     [(1, "o1", "the acme anvil broke"), (2, "o2", "acme is fine"), (3, "o3", "acme via a file")])
    conn.execute("INSERT INTO mentions_fts (rowid, title, text) SELECT id, title, text FROM mentions")
    conn.executemany("INSERT INTO mention_watches (watch, mention_id, matched_at) VALUES (?, ?, '2025-03-01')",
                     [("acme", 1), ("acme", 2), ("acme", 3)])
    conn.commit()
    db.close()


def test_a_migrated_old_database_counts_links_of_unknown_origin(cli, tmp_path):
    _old_database(tmp_path / "mentionwatch.db")
    assert [row[2] for row in sqlite3.connect(tmp_path / "mentionwatch.db").execute(
        "SELECT * FROM mention_watches")] == ["2025-03-01"] * 3  # no linked_by column yet
    _watchlist(tmp_path, acme_extra=', exclude: ["acme anvil", "a file"]')

    preview = cli("rematch", "--watch", "acme")
    assert preview.exit_code == 0, preview.output
    assert {row[2] for row in _links(tmp_path)} == {None}
    assert "would unlink 2 mentions its query no longer matches (2 of them linked before mentionwatch " \
           "recorded how links are made" in preview.output
    done = cli("rematch", "--watch", "acme", "--yes")
    assert done.exit_code == 0 and "acme: unlinked 2 mentions" in done.output
    assert _links(tmp_path) == [("acme", 2, None)]
    _store(tmp_path, [_post("n1", "acme new", "acme")])
    assert _links(tmp_path)[-1] == ("acme", 4, "query")  # new links say how they were made


def test_alert_explanation_and_export_still_work_after_unlinking(cli, tmp_path, model_id):
    (tmp_path / "mentionwatch.yaml").write_text(config_text() + "database: mentionwatch.db\n", encoding="utf-8")
    db = open_db(tmp_path / "mentionwatch.db")
    burst_hour = 6 * 24 + 10
    add_stream(db, model_id, burst={burst_hour: [("reddit", 30)]})
    [alert_id] = run_detection(db, parse_config(config_text()), now=START + dt.timedelta(hours=burst_hour + 1),
                               notify=False).opened
    behind = db.execute("SELECT count(*) FROM alert_mentions WHERE alert_id = ?", [alert_id]).fetchone()[0]
    db.close()
    (tmp_path / "mentionwatch.yaml").write_text(
        config_text().replace("{any: [acme]}", '{any: [acme], exclude: ["refund"]}') + "database: mentionwatch.db\n",
        encoding="utf-8")

    preview = cli("rematch")
    assert f"behind alert #{alert_id}" in preview.output
    done = cli("rematch", "--yes")
    assert done.exit_code == 0, done.output
    assert not any("refund" in text for text in _texts_linked(tmp_path))

    shown = cli("alerts", "show", alert_id)
    assert shown.exit_code == 0, shown.output
    exported = cli("export", "--alert", alert_id, "--out", "out.jsonl")
    assert exported.exit_code == 0, exported.output
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == behind  # the posts the alert was raised on, refunds included
    assert any("refund" in row["text"] for row in rows)


def _texts_linked(tmp_path) -> list[str]:
    db = open_db(tmp_path / "mentionwatch.db")
    try:
        return [row[0] for row in db.execute(
            "SELECT m.text FROM mentions m JOIN mention_watches w ON w.mention_id = m.id WHERE w.watch = 'acme'")]
    finally:
        db.close()


def test_apply_goes_in_batches_and_skips_what_changed_since_the_plan(db):
    save_mentions(db, [_post(f"p{n}", f"acme anvil {n}", "acme") for n in range(25)]
                  + [_post(f"g{n}", f"globex {n}", "globex") for n in range(5)])
    config = parse_config(WATCHLIST.format(acme_extra=', exclude: ["anvil"]', globex_terms="globex, anvil"))
    plan = plan_rematch(db, [WatchRule.of(watch) for watch in config.watches], chunk=7)
    assert plan.mentions_read == 30
    assert [len(c.unlink) for c in plan.watches] == [25, 0] and [len(c.link) for c in plan.watches] == [0, 25]
    # since the plan: an import link made, a mention erased
    db.execute("UPDATE mention_watches SET linked_by = 'import' WHERE watch = 'acme' AND mention_id = 1")
    db.execute("DELETE FROM mention_watches WHERE mention_id = 2")
    db.execute("DELETE FROM mentions WHERE id = 2")
    db.conn.commit()
    statements = []
    db.conn.set_trace_callback(statements.append)
    apply_rematch(db, plan, batch=10)
    db.conn.set_trace_callback(None)
    assert statements.count("BEGIN IMMEDIATE") == 6  # 3 batches of at most 10 for each watch
    assert [(c.unlinked, c.linked) for c in plan.watches] == [(23, 0), (0, 24)]
    assert db.execute("SELECT mention_id FROM mention_watches WHERE watch = 'acme'").fetchall() == [(1,)]
