"""browse: its CSV downloads are as safe to open in a spreadsheet as `mentionwatch export`'s.

Walkthrough 14c: Datasette's own CSV ("Flagged for follow-up" → CSV → Excel, the obvious path for
a PR team) wrote a post's `=HYPERLINK(…)` and an author's `=cmd|' /C calc'!A0` as they were, with no
byte-order mark (Excel then garbles Chinese and emoji). Every page's CSV now goes through the
export's rule (a leading quote before a formula, every field quoted); numbers stay numbers.
"""
from __future__ import annotations

import asyncio
import csv
import io

from mentionwatch.triage.browse import make_datasette
from storage import open_db
from test_export import MODEL, POSTS, _stock

FORMULA_AUTHOR = "=cmd|' /C calc'!A0"


def _get(db_path, path: str):
    datasette = make_datasette(db_path, MODEL)
    return asyncio.run(datasette.client.get(path))


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


def _stocked(tmp_path):
    db_path = tmp_path / "watch.db"
    ids = _stock(db_path)
    db = open_db(db_path)
    db.execute("UPDATE mentions SET author = ? WHERE id = ?", [FORMULA_AUTHOR, ids["p4"]])
    db.execute("INSERT INTO triage (mention_id, state, note, at, actor) VALUES (?, 'flagged', '@SUM(1+1)', "
               "'2024-03-06T00:00:00Z', '+analyst')", [ids["p1"]])
    db.conn.commit()
    db.close()
    return db_path, ids


def test_a_downloaded_table_is_made_safe_and_marked_for_excel(tmp_path):
    db_path, ids = _stocked(tmp_path)
    response = _get(db_path, "/watch/mentions.csv?_dl=1")
    assert response.status_code == 200
    assert response.content.startswith("\ufeff".encode())
    assert int(response.headers["content-length"]) == len(response.content)
    lines = response.content.decode("utf-8").removeprefix("\ufeff").splitlines()
    assert all(line.startswith('"') for line in lines)  # every field quoted
    rows = {row[0]: row for row in _rows(response.text)[1:]}
    texts = {eid: text for eid, *_, text, _label in POSTS}
    assert rows[str(ids["p1"])][7] == "'" + texts["p1"]
    assert rows[str(ids["p2"])][4] == "'@bob" and rows[str(ids["p2"])][7] == "'" + texts["p2"]
    assert rows[str(ids["p3"])][7] == "'" + texts["p3"]
    assert rows[str(ids["p6"])][7] == "'" + texts["p6"]  # a leading tab
    assert rows[str(ids["p4"])][4] == "'" + FORMULA_AUTHOR
    assert rows[str(ids["p5"])][7] == texts["p5"]  # Chinese, nothing added
    assert rows[str(ids["p1"])][5] == "12000"


def test_a_canned_query_in_the_browser_is_made_safe_too(tmp_path):
    db_path, ids = _stocked(tmp_path)
    response = _get(db_path, "/watch/follow_up.csv")
    assert response.status_code == 200 and not response.content.startswith("\ufeff".encode())
    header, flagged = _rows(response.text)
    row = dict(zip(header, flagged))
    assert row["note"] == "'@SUM(1+1)" and row["flagged_by"] == "'+analyst"
    assert row["text"].startswith("'=HYPERLINK(")
    assert row["p_negative"] == "0.9" and row["mention_id"] == str(ids["p1"])


def test_streaming_every_row_is_off(tmp_path):
    db_path, _ = _stocked(tmp_path)
    assert _get(db_path, "/watch/mentions.csv?_stream=on").status_code == 400


def test_a_cell_longer_than_the_csv_module_s_default_limit_is_written(tmp_path):
    """Review: a cell over 131,072 characters (a custom query's group_concat) was a 500."""
    db_path, _ = _stocked(tmp_path)
    response = _get(db_path, "/watch.csv?sql=select+printf('%.*c',140000,'x')+as+long")
    assert response.status_code == 200
    assert _rows(response.text) == [["long"], ["x" * 140000]]
