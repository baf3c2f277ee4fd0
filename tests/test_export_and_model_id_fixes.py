"""Two fixes: CSV formula injection behind leading whitespace or in full-width signs, and the index
(migration m015) that lets `choose_model_id` find the most used sentiment model without reading
every score."""
from __future__ import annotations

import csv
import io
import random

import pytest

from mentionwatch.triage.export import export_to_stream
from mentionwatch.triage.query import EXPORT_COLUMNS, MOST_USED_MODEL_SQL, choose_model_id
from storage import Mention, open_db, save_mentions

MODEL = "test-model"


# ------------------------------------------------------------ 1. formula injection in CSV

# (external id, field, value): each value is stored in that field of its own mention
HOSTILE = [
    ("space", "text", " =HYPERLINK(\"http://evil.example\",\"click\") acme"),
    ("spaces", "text", "   +cmd|' /C calc'!A0 acme"),
    ("newline", "text", "\n=1+1 acme"),
    ("crlf", "text", "\r\n-2+3 acme"),
    ("tab-at", "text", "\t @SUM(1,2) acme"),
    ("no-break", "text", "\u00a0=1+1 acme"),        # no-break space
    ("ideographic", "text", "\u3000=1+1 acme"),     # the full-width space of Chinese and Japanese
    ("em-space", "text", "\u2003-1 acme"),
    ("full-width", "text", "\uff1d1\uff0b1 acme"),  # ＝1＋1
    ("spaced-full-width", "text", " \uff20SUM(1) acme"),
    ("title", "title", "  =HYPERLINK(\"http://evil.example\")"),
    ("author", "author", " @evil"),
]
# leading whitespace before ordinary text is no formula: exported exactly as stored
HARMLESS = [("plain-space", "text", "  acme was fine today"),
            ("inner-sign", "text", "acme = great, 5+5 stars")]
FORMULA_SIGNS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _mention(eid: str, field: str, value: str, minute: int) -> Mention:
    fields = {"text": "acme post", "title": None, "author": "someone", field: value}
    return Mention(source="forum", external_id=eid, text=fields["text"], title=fields["title"],
                   author=fields["author"], author_reach=10,
                   created_at=f"2024-03-01T08:{minute:02d}:00Z", url=f"https://example.org/{eid}",
                   watches=("acme",))


@pytest.fixture
def hostile_db(tmp_path):
    path = tmp_path / "hostile.db"
    db = open_db(path)
    posts = HOSTILE + HARMLESS
    saved = save_mentions(db, [_mention(eid, field, value, minute)
                               for minute, (eid, field, value) in enumerate(posts)])
    assert saved.inserted == len(posts)
    db.execute("INSERT INTO scores SELECT id, ?, 'negative', 0.9, 0.075, 0.025, '2024-03-02T00:00:00Z' "
               "FROM mentions", [MODEL])
    db.conn.commit()
    db.close()
    return path


def _rows_by_post(text: str) -> dict[str, dict]:
    return {row["url"].rsplit("/", 1)[1]: row for row in csv.DictReader(io.StringIO(text))}


def test_the_stored_values_keep_their_leading_whitespace(hostile_db):
    """The hostile cells reach the export as written: storing does not strip them."""
    db = open_db(hostile_db)
    stored = {row[0]: row[1:] for row in db.execute("SELECT external_id, text, title, author FROM mentions")}
    db.close()
    for eid, field, value in HOSTILE:
        assert stored[eid][("text", "title", "author").index(field)] == value, eid


def test_formula_behind_leading_whitespace_or_in_full_width_is_quoted(cli, hostile_db, tmp_path):
    out = tmp_path / "out.csv"
    result = cli("--db", hostile_db, "export", "--out", out)
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8-sig", newline="") as handle:  # "\r\n" inside a cell kept as written
        rows = _rows_by_post(handle.read())
    assert len(rows) == len(HOSTILE) + len(HARMLESS)
    for eid, field, value in HOSTILE:
        assert rows[eid][field] == "'" + value, eid  # the whole value kept, after the quote
    for eid, field, value in HARMLESS:
        assert rows[eid][field] == value, eid
    for eid, row in rows.items():  # no cell left that a spreadsheet, dropping spaces, would run
        for name, cell in row.items():
            assert not cell.lstrip().startswith(FORMULA_SIGNS), (eid, name, cell)


def test_standard_output_quotes_the_same_cells(cli, hostile_db):
    result = cli("--db", hostile_db, "export", "--out", "-")
    assert result.exit_code == 0, result.output
    rows = _rows_by_post(result.stdout)
    assert rows["space"]["text"] == "'" + HOSTILE[0][2]
    assert rows["full-width"]["text"] == "'\uff1d1\uff0b1 acme"


def test_negative_numbers_stay_numbers():
    """A number is never quoted, even a negative one (storing refuses a negative reach, and
    probabilities are positive, but the writer does not rely on that); a text that reads as one is."""
    row = {name: None for name in EXPORT_COLUMNS}
    row.update(mention_id=1, author_reach=-5, p_negative=-0.5, text=" -0.5")
    stream = io.BytesIO()
    assert export_to_stream([row], stream, "csv") == 1
    written = next(csv.DictReader(io.StringIO(stream.getvalue().decode("utf-8"))))
    assert (written["author_reach"], written["p_negative"]) == ("-5", "-0.5")
    assert written["text"] == "' -0.5"  # a text: a spreadsheet would read it as a sum


# ------------------------------------------------------------ 2. choose_model_id and its index

OLD_MOST_USED_MODEL_SQL = ("SELECT model_id FROM scores GROUP BY model_id "
                           "ORDER BY count(*) DESC, max(scored_at) DESC LIMIT 1")


def _index_names(db) -> set[str]:
    return {row[1] for row in db.execute("PRAGMA index_list(scores)").fetchall()}


def test_a_new_database_has_the_index(db):
    assert "idx_scores_model_time" in _index_names(db)
    columns = [row[2] for row in db.execute("PRAGMA index_info(idx_scores_model_time)").fetchall()]
    assert columns == ["model_id", "scored_at"]


def test_an_existing_database_gets_the_index_when_opened(tmp_path):
    """A database written before m015 (its scores kept) gets the index the next time it is opened."""
    path = tmp_path / "old.db"
    db = open_db(path)
    db.execute("INSERT INTO mentions (id, source, external_id, text, created_at, fetched_at) "
               "VALUES (1, 'forum', 'a', 'acme', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')")
    db.execute("INSERT INTO scores VALUES (1, ?, 'neutral', 0.1, 0.8, 0.1, '2024-01-02T00:00:00Z')", [MODEL])
    db.execute("DROP INDEX idx_scores_model_time")
    db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm015_scores_model_time_index'")
    db.conn.commit()
    assert "idx_scores_model_time" not in _index_names(db)
    db.close()

    reopened = open_db(path)
    assert "idx_scores_model_time" in _index_names(reopened)
    assert reopened.execute("SELECT count(*) FROM _sqlite_migrations "
                            "WHERE name = 'm015_scores_model_time_index'").fetchone()[0] == 1
    assert choose_model_id(reopened) == MODEL
    reopened.close()


def test_the_query_reads_indexes_only_and_looks_up_each_models_latest_score(db):
    plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + MOST_USED_MODEL_SQL).fetchall()]
    assert "SEARCH s USING COVERING INDEX idx_scores_model_time (model_id=?)" in plan, plan
    scans = [step for step in plan if step.startswith("SCAN scores")]
    assert len(scans) == 1 and "COVERING INDEX" in scans[0], plan  # counted from an index


def _fill_scores(db, rng: random.Random) -> None:
    """A few models with few scores each, so that counts and latest times often tie."""
    models = rng.sample(["model-a", "model-b", "model-c", "model-d@v2", "Model-E"], rng.randint(1, 4))
    with db.atomic():
        db.execute("DELETE FROM scores")
        for model in models:
            for mention_id in rng.sample(range(1, 9), rng.choice([2, 3, 3, 4])):
                db.execute("INSERT INTO scores VALUES (?, ?, 'neutral', 0.1, 0.8, 0.1, ?)",
                           [mention_id, model, f"2024-01-0{rng.choice([1, 2, 2])}T00:00:00Z"])


def test_the_chosen_model_is_the_one_the_old_query_chose(db):
    db.conn.executemany("INSERT INTO mentions (id, source, external_id, text, created_at, fetched_at) "
                        "VALUES (?, 'forum', ?, 'acme', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')",
                        [(i, f"m{i}") for i in range(1, 9)])
    db.conn.commit()
    assert choose_model_id(db) is None  # nothing scored
    rng = random.Random(15)
    for trial in range(200):
        _fill_scores(db, rng)
        expected = db.execute(OLD_MOST_USED_MODEL_SQL).fetchone()[0]
        assert choose_model_id(db) == expected, trial


def test_ties_go_to_the_latest_scorer_then_the_first_name(db):
    db.conn.executemany("INSERT INTO mentions (id, source, external_id, text, created_at, fetched_at) "
                        "VALUES (?, 'forum', ?, 'acme', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')",
                        [(1, "a"), (2, "b")])
    scores = [("zeta", 1, "2024-01-01"), ("zeta", 2, "2024-01-03"),  # latest of the three, two scores
              ("beta", 1, "2024-01-02"), ("beta", 2, "2024-01-02"),
              ("alpha", 1, "2024-01-02")]
    db.conn.executemany("INSERT INTO scores VALUES (?, ?, 'neutral', 0.1, 0.8, 0.1, ?)",
                        [(mention_id, model, at) for model, mention_id, at in scores])
    db.conn.commit()
    assert choose_model_id(db) == "zeta"
    db.execute("UPDATE scores SET scored_at = '2024-01-02' WHERE model_id = 'zeta'")
    assert choose_model_id(db) == "beta"  # same count and time: the first by name


def test_an_old_alert_without_linked_mentions_reads_the_model_export_would(db):
    """Post-crisis evaluation of an alert stored before alerts kept their model and without linked
    mentions falls back on the most used model, with choose_model_id's tie-break (the latest scorer),
    not on whichever model SQLite happened to sort first."""
    from alerts.postcrisis import _model_for_alert

    db.conn.executemany("INSERT INTO mentions (id, source, external_id, text, created_at, fetched_at) "
                        "VALUES (?, 'forum', ?, 'acme', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')",
                        [(1, "a"), (2, "b")])
    db.conn.executemany("INSERT INTO scores VALUES (?, ?, 'neutral', 0.1, 0.8, 0.1, ?)",
                        [(1, "alpha", "2024-01-01"), (2, "alpha", "2024-01-01"),
                         (1, "beta", "2024-01-05"), (2, "beta", "2024-01-05")])
    db.conn.commit()
    assert _model_for_alert(db, 99) == choose_model_id(db) == "beta"
