"""Fixes from the third review of storage, import and erasure: each test failed before its fix."""
from __future__ import annotations

import random

from storage import Mention, open_db, save_mentions
from storage.erasure import Selection, erase, plan_erasure


def test_a_time_written_with_utc_or_gmt_after_it_is_imported_as_utc(tmp_path, cli):
    """'2026-03-05 14:02:00 UTC' (as database exports write times) was rejected on every row."""
    csv = tmp_path / "m.csv"
    csv.write_text("id,text,created_at\n"
                   "1,acme one,2025-03-05 14:02:00 UTC\n"
                   "2,acme two,2025-03-05T14:02:00.123 GMT\n"
                   "3,acme three,2025-03-05 2:02 PM utc\n"
                   "4,acme four,2025-03-05 15:02:00 +0100 UTC\n", encoding="utf-8")
    db_path = tmp_path / "t.db"
    result = cli("--db", db_path, "import", csv)
    assert result.exit_code == 0, result.output
    assert "4 inserted, 0 already present, 0 rejected" in result.output
    times = {t for (t,) in open_db(db_path).execute("SELECT created_at FROM mentions")}
    assert times == {"2025-03-05T14:02:00Z"}


def test_forget_with_bytes_the_terminal_could_not_read_is_one_line(tmp_path, cli):
    """An --author, --url or --by holding bytes that are not UTF-8 (Python reads them as lone
    surrogates) ended in a UnicodeEncodeError traceback. Any command's arguments are checked so,
    before anything runs (mentionwatch/app.py)."""
    db_path = tmp_path / "t.db"
    db = open_db(db_path)
    save_mentions(db, [Mention("reddit", "p1", "acme", "2025-03-01T10:00:00Z", author="jos\u00e9")])
    db.close()
    for args in (["--author", "jos\udce9"], ["--url", "https://x.example/p\udce9"],
                 ["1", "--by", "dana\udce9"]):
        result = cli("--db", db_path, "forget", *args, "--yes")
        assert result.exit_code == 2, result.output
        assert "not UTF-8 text" in result.output and len(result.output.strip().splitlines()) == 1
    assert open_db(db_path).execute("SELECT count(*) FROM mentions").fetchone()[0] == 1


def test_forget_url_finds_an_address_whose_query_holds_a_plus_or_an_escape(db):
    """The quick pre-filter looked for the decoded query value ('Acme Anvil') in the stored address
    ('Acme+Anvil'): the very address stored was 'not stored'."""
    urls = ["https://shop.example/reviews?product=Acme+Anvil+Deluxe&page=2#r3",
            "https://forum.example/t?id=thread%3A12345"]
    save_mentions(db, [Mention("reviews", str(n), "acme", "2025-03-01T10:00:00Z", url=url)
                       for n, url in enumerate(urls)])
    for url in urls:
        assert len(plan_erasure(db, Selection(url=url)).mention_ids) == 1, url
    # written the other way (escaped where stored plain) is the same address
    assert len(plan_erasure(db, Selection(url="https://forum.example/t?id=thread:12345")).mention_ids) == 1


def test_after_an_erasure_the_connection_still_zeroes_freed_space(tmp_path):
    """erase() ended by setting secure_delete OFF, so the service's connection, after its first
    retention run, left old copies of posts in freed pages (full-text merges); a later erasure of
    such a post removed the live copies only, and its words stayed in the file."""
    path = tmp_path / "erase.db"
    db = open_db(path)
    erase(db, Selection(before="2000-01-01T00:00:00Z"), what="retention", actor="service")  # nothing old
    rng = random.Random(1)
    words = ["acme", "refund", "delay", "support", "order", "ship"]
    for batch in range(300):
        mentions = [Mention("reddit", f"p{batch}_{n}", " ".join(f"{rng.choice(words)}{rng.randint(0, 5000)}"
                                                                for _ in range(20)),
                            "2025-03-01T10:00:00Z", author=f"user{n}") for n in range(50)]
        if batch == 3:
            mentions.append(Mention("reddit", "secret", "zorblaxian complaint about acme",
                                    "2025-03-01T10:00:00Z", author="Quuxwellington"))
        save_mentions(db, mentions)
    # another erasure frees many pages, then the person asks for theirs
    others = tuple(i for (i,) in db.execute("SELECT id FROM mentions WHERE external_id LIKE 'p1__\\_%' "
                                            "ESCAPE '\\' OR external_id LIKE 'p2__\\_%' ESCAPE '\\'"))
    erase(db, Selection(mention_ids=others), what="x", actor="t")
    done = erase(db, Selection(author="quuxwellington"), what="one author", actor="t")
    assert len(done.plan.mention_ids) == 1 and done.file_clean
    assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    db.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("erase.db"))
    assert b"refund" in data  # the check can see text that is still stored
    assert b"blaxian" not in data and b"Quuxwellington" not in data
