"""`author:bob`, `source:reddit` and the like, as other tools' search boxes take them: search has no
such field, and read as words they were the phrase "author bob", which quietly found nothing."""
from __future__ import annotations

import pytest

from storage import Mention, open_db, save_mentions


@pytest.fixture
def posts(tmp_path):
    db = open_db(tmp_path / "p.db")
    save_mentions(db, [Mention("reddit", "1", "refund still missing", "2024-05-01T08:00:00Z", author="jwmb6c"),
                       Mention("forum", "2", "the source of the delay: our author", "2024-05-01T09:00:00Z"),
                       Mention("forum", "3", "train delayed by:2 hours", "2024-05-01T10:00:00Z")])
    db.close()
    return tmp_path / "p.db"


@pytest.mark.parametrize("query, field, words", [
    ("author:jwmb6c", "author", "author jwmb6c"), ("source:reddit", "source", "source reddit"),
    ("refund lang:en", "lang", "lang en"), ("Author:jwmb6c", "Author", "Author jwmb6c"),
    ('source:"reddit"', "source", "source reddit"), ('author:"bob smith"', "author", "author bob smith"),
    ("date:2024", "date", "date 2024")])
def test_a_field_search_has_not_is_refused_in_one_line(cli, posts, query, field, words):
    result = cli("--db", posts, "search", query)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        f"Error: the search query {query!r}: '{field}:' is not a field search can look in, only title: "
        f"and text: are (export filters by --source, --watch and --sentiment; to search the words "
        f'themselves, write "{words}")']


def test_the_words_themselves_and_the_real_columns_still_search(cli, posts):
    for query in ('"source of"', "text:refund", "source", "author", "delayed by:2"):
        result = cli("--db", posts, "search", query)
        assert result.exit_code == 0, result.output
        assert "1 mention found" in result.stderr, (query, result.stderr)


def test_a_column_before_a_quoted_phrase_is_kept_when_stray_punctuation_is_read_away(cli, posts):
    result = cli("--db", posts, "search", 'text:"still missing" refund!')  # '!' makes FTS5 refuse it as typed
    assert result.exit_code == 0, result.output
    assert "1 mention found" in result.stderr, result.stderr

