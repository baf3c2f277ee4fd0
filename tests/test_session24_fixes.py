"""Fixes of the session of 2026-12-07 (the twenty-fourth), each from a review or the left-alone list."""
from __future__ import annotations

import sqlite3


def test_two_capitalisations_of_an_optional_column_are_named_in_a_warning(cli, tmp_path):
    """'Author' and 'AUTHOR' in one header: neither was read, and nothing said so."""
    (tmp_path / "a.csv").write_text("id,text,created_at,Author,AUTHOR,URL\n1,acme late,2026-11-01 10:00,Ann,ann99,"
                                    "http://x/1\n", encoding="utf-8")
    result = cli("--db", "a.db", "import", "a.csv")
    assert result.exit_code == 0, result.output
    assert ("the columns 'Author' and 'AUTHOR' could each be the author column, so neither is read: "
            "name the one to import with --author-col") in result.output
    with sqlite3.connect(tmp_path / "a.db") as connection:
        assert connection.execute("SELECT author, url FROM mentions").fetchall() == [(None, "http://x/1")]
    chosen = cli("--db", "b.db", "import", "a.csv", "--author-col", "AUTHOR")
    assert "could each be" not in chosen.output
    with sqlite3.connect(tmp_path / "b.db") as connection:
        assert connection.execute("SELECT author FROM mentions").fetchall() == [("ann99",)]
