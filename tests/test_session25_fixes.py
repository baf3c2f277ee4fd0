"""Fixes of the session of 2026-12-07 (the twenty-fifth), each from the left-alone list or a review."""
from __future__ import annotations


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
