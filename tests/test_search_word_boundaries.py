"""A word written against an emoji or against Chinese, Japanese or Korean text is a word of its own
to search, as it is to the watch's query (crawler.matching): the index splits words there
(migration m016), and an emoji is searched as text."""
from __future__ import annotations

import json

import pytest

from storage import Mention, open_db, save_mentions

POSTS = [
    ("glued", "worst acme🤬 ever"),
    ("zh", "我喜欢Acme手机"),
    ("ko", "Acme는 최악이에요"),
    ("ja", "Acmeのサポートは遅い"),
    ("sad", "so sad🥺 my bag is lost"),
    ("wifi", "酒店的wifi很好"),
    ("bed", "床有2M宽"),
    ("plain", "acme rocks"),
    ("kk", "Acmeㅋㅋㅋ 최고"),
    ("thai", "ร้านacmeดีมาก"),
    ("halfwidth", "acmeｻﾎﾟｰﾄ遅い"),
    ("coffee", "need ☕ before acme support calls"),
]


def _db_with_posts(path):
    db = open_db(path)
    save_mentions(db, [Mention("forum", eid, text, f"2024-05-01T08:{minute:02d}:00Z", watches=("w",))
                       for minute, (eid, text) in enumerate(POSTS)])
    return db


def _found(cli, db_path, query) -> list[str]:
    result = cli("--db", db_path, "search", query, "--json", "--limit", "100")
    assert result.exit_code == 0, result.output
    return sorted(json.loads(line)["external_id"] for line in result.stdout.splitlines())


@pytest.mark.parametrize("query, found", [
    ("acme", ["coffee", "glued", "halfwidth", "ja", "kk", "ko", "plain", "thai", "zh"]),
    ("sad", ["sad"]),
    ("wifi", ["wifi"]),
    ("2M", ["bed"]),
    ("🥺", ["sad"]),  # an emoji: found as text, wherever it stands
    ("acme NOT 🤬", ["coffee", "halfwidth", "ja", "kk", "ko", "plain", "thai", "zh"]),
    ("酒店 wifi", ["wifi"]),
])
def test_words_against_emoji_or_cjk_text_are_found(cli, tmp_path, query, found):
    _db_with_posts(tmp_path / "m.db").close()
    assert _found(cli, tmp_path / "m.db", query) == found


def test_a_database_indexed_before_is_indexed_again_when_opened(cli, tmp_path):
    path = tmp_path / "old.db"
    db = _db_with_posts(path)
    with db.conn:  # the index as m001 made it: SQLite's tokenizer alone
        db.execute("DROP TABLE mentions_fts")
        db.execute("CREATE VIRTUAL TABLE mentions_fts USING fts5 (title, text, content = 'mentions', "
                   "content_rowid = 'id')")
        db.execute("INSERT INTO mentions_fts (mentions_fts) VALUES ('rebuild')")
        db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm016_fts_script_separators'")
    assert db.execute("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH 'wifi'").fetchone()[0] == 0
    db.close()

    assert _found(cli, path, "wifi") == ["wifi"]  # opening it migrates it
    reopened = open_db(path)
    assert reopened.execute("SELECT count(*) FROM _sqlite_migrations "
                            "WHERE name = 'm016_fts_script_separators'").fetchone()[0] == 1
    # the triggers still keep the index: a post edited or erased leaves it
    with reopened.conn:
        reopened.execute("UPDATE mentions SET text = 'all fine now' WHERE external_id = 'wifi'")
        reopened.execute("DELETE FROM mention_watches WHERE mention_id = "
                         "(SELECT id FROM mentions WHERE external_id = 'plain')")
        reopened.execute("DELETE FROM mentions WHERE external_id = 'plain'")
    assert reopened.execute("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH 'wifi'").fetchone()[0] == 0
    assert reopened.execute("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH 'rocks'").fetchone()[0] == 0
    assert reopened.execute("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH 'fine'").fetchone()[0] == 1
    reopened.execute("INSERT INTO mentions_fts (mentions_fts) VALUES ('integrity-check')")
    reopened.close()


def test_every_character_the_index_splits_at_is_searched_as_text():
    """What the index holds none of must be found another way (and has_searchable_word relies on
    it to read queries with SQLite's plain tokenizer)."""
    from mentionwatch.triage.fulltext import NO_SPACE_RANGES
    from storage.migrations import FTS_SEPARATOR_RANGES

    for low, high in FTS_SEPARATOR_RANGES:
        assert any(start <= low and high <= end for start, end in NO_SPACE_RANGES), (hex(low), hex(high))

