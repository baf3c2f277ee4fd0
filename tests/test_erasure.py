"""Erasing mentions on request (`mentionwatch forget`) and by age (`service.keep_mentions`): what
goes, what stays, what is kept out of later storing, and that the erased text leaves the file."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from alerts.detect import run_detection
from mentionwatch.config import ConfigError, parse_config
from storage import Mention, open_db, save_mentions
from storage.erasure import Selection, erase, erase_old_mentions, plan_erasure
from tests.test_alerts_detection import START, add_stream, config_text


def _alert_with_angry_posts(db, model_id):
    """A week of traffic, then a burst of complaints by authors angry0, angry1 ...; one alert."""
    config = parse_config(config_text())
    burst_hour = 6 * 24 + 10
    add_stream(db, model_id, burst={burst_hour: [("reddit", 30)]})
    result = run_detection(db, config, now=START + dt.timedelta(hours=burst_hour + 1), notify=False)
    [alert_id] = result.opened
    return alert_id


def _ids_of(db, author: str) -> list[int]:
    return [i for (i,) in db.execute("SELECT id FROM mentions WHERE author = ?", [author])]


def test_forgetting_an_author_erases_posts_scores_marks_links_and_quotes(db, model_id):
    alert_id = _alert_with_angry_posts(db, model_id)
    explanation = json.loads(db.execute("SELECT explanation FROM alerts WHERE id = ?", [alert_id]).fetchone()[0])
    quoted = {m["author"] for m in explanation["top_mentions"]}
    author = sorted(a for a in quoted if a.startswith("angry"))[0]
    ids = _ids_of(db, author)
    assert ids
    db.execute("INSERT INTO triage (mention_id, state, actor, at) VALUES (?, 'flagged', 't', '2025-03-08T00:00:00Z')",
               [ids[0]])
    db.conn.commit()
    observed_before, total_before = db.execute(
        "SELECT observed, (SELECT count(*) FROM mentions) FROM alerts WHERE id = ?", [alert_id]).fetchone()

    done = erase(db, Selection(author=author.upper()), what="one author on every source",
                 actor="dana", remember_posts=True, remember_authors=[("*", author)])
    erasure_id, plan = done.erasure_id, done.plan
    assert done.file_clean

    assert sorted(plan.mention_ids) == sorted(ids)  # any case of the name
    assert plan.alerts == {alert_id: len(ids)} and plan.triage_marks == 1
    marks = ",".join("?" * len(ids))
    for table in ("mentions", "scores", "triage", "alert_mentions", "mention_watches"):
        column = "id" if table == "mentions" else "mention_id"
        assert db.execute(f"SELECT count(*) FROM {table} WHERE {column} IN ({marks})", ids).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == total_before - len(ids)
    # the alert stays, with its counts, without the erased quotes, and its timeline says why
    observed, explanation_text = db.execute(
        "SELECT observed, explanation FROM alerts WHERE id = ?", [alert_id]).fetchone()
    assert observed == observed_before
    assert author not in {m["author"] for m in json.loads(explanation_text)["top_mentions"]}
    kind, detail, actor = db.execute(
        "SELECT kind, detail, actor FROM alert_events WHERE alert_id = ? ORDER BY id DESC LIMIT 1", [alert_id]).fetchone()
    assert (kind, actor) == ("erased", "dana") and detail.startswith(f"{len(ids)} post")
    # nothing stored names the author any more: the log and the keep-out list hold no name
    for table in ("erasures", "forgotten", "alert_events", "alerts"):
        for row in db.execute(f"SELECT * FROM {table}"):
            assert author not in json.dumps(row)
    assert db.execute("SELECT count(*) FROM forgotten WHERE erasure_id = ?", [erasure_id]).fetchone()[0] \
        == len(ids) + 2  # each post, and the author (on every source: as compared with and without case)


def test_erased_posts_and_authors_are_not_stored_again(db):
    def post(external_id, author, source="reddit"):
        return Mention(source, external_id, f"acme post {external_id}", "2025-03-01T10:00:00Z",
                       author=author, watches=("acme",))

    save_mentions(db, [post("p1", "Jane"), post("p2", "bob"), post("p3", "carl")])
    erase(db, Selection(author="jane"), what="one author on every source", actor="t",
          remember_posts=True, remember_authors=[("*", "jane")])
    erase(db, Selection(mention_ids=tuple(_ids_of(db, "carl"))), what="1 mention id", actor="t",
          remember_posts=True)
    again = save_mentions(db, [post("p1", "Jane"), post("p2", "bob"), post("p3", "carl"),
                               post("p4", "JANE", source="mastodon"), post("p5", "dora")])
    assert (again.inserted, again.present, again.forgotten) == (1, 1, 3)
    stored = {a for (a,) in db.execute("SELECT author FROM mentions")}
    assert stored == {"bob", "dora"}


def test_an_erasure_that_allows_posts_again_keeps_nothing_out(db):
    mention = Mention("reddit", "p1", "acme post", "2025-03-01T10:00:00Z", author="jane")
    save_mentions(db, [mention])
    erase(db, Selection(author="jane"), what="one author on every source", actor="t")
    assert save_mentions(db, [mention]).inserted == 1


def test_an_erased_id_never_comes_back_for_another_post(db):
    save_mentions(db, [Mention("reddit", f"p{n}", f"acme {n}", "2025-03-01T10:00:00Z") for n in range(3)])
    highest = db.execute("SELECT max(id) FROM mentions").fetchone()[0]
    erase(db, Selection(mention_ids=(highest,)), what="1 mention id", actor="t")
    save_mentions(db, [Mention("reddit", "p9", "acme new", "2025-03-01T11:00:00Z")])
    new_id = db.execute("SELECT id FROM mentions WHERE external_id = 'p9'").fetchone()[0]
    assert new_id > highest  # SQLite alone would give the erased id to the new post


def test_retention_erases_old_history_and_keeps_it_out(db):
    now = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
    old = [Mention("rss", f"old{n}", "acme old news", "2025-04-01T00:00:00Z") for n in range(4)]
    recent = [Mention("rss", f"new{n}", "acme news", "2025-05-25T00:00:00Z") for n in range(2)]
    save_mentions(db, old + recent)
    assert erase_old_mentions(db, keep_seconds=30 * 86400, now=now) == 4
    assert erase_old_mentions(db, keep_seconds=30 * 86400, now=now) == 0  # nothing more, no new log entry
    assert db.execute("SELECT what FROM erasures").fetchall() == [
        ("service.keep_mentions: mentions created before 2025-05-02T00:00:00Z",)]  # no brackets in brackets
    again = save_mentions(db, old + [Mention("rss", "newest", "acme", "2025-05-31T00:00:00Z")])
    assert (again.inserted, again.forgotten) == (1, 4)  # a feed that still lists old items


def test_erased_words_leave_the_database_file(tmp_path):
    path = tmp_path / "erase.db"
    db = open_db(path)
    save_mentions(db, [Mention("reddit", "p1", "zorblaxian complaint about acme", "2025-03-01T10:00:00Z",
                               author="Quuxwellington"),
                       Mention("reddit", "p2", "ordinary words about acme", "2025-03-01T10:00:00Z")])
    erase(db, Selection(author="quuxwellington"), what="one author on every source", actor="t")
    db.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("erase.db"))
    assert b"ordinary" in data  # the check can see text that is still stored
    assert b"zorblaxian" not in data and b"Quuxwellington" not in data


def test_keep_mentions_shorter_than_two_weeks_is_refused():
    with pytest.raises(ConfigError, match="keep_mentions.*at least 14d"):
        parse_config("service: {keep_mentions: 3d}\nwatches: []\n")
    assert parse_config("service: {keep_mentions: 400d}\nwatches: []\n").service.keep_mentions == 400 * 86400


def test_forget_shows_first_and_erases_only_with_yes(tmp_path, cli):
    csv = tmp_path / "m.csv"
    csv.write_text("id,text,created_at,author\n1,acme is bad,2025-03-01T10:00:00Z,Jane\n"
                   "2,acme is fine,2025-03-01T11:00:00Z,bob\n3,acme again,2025-03-02T10:00:00Z,jane\n",
                   encoding="utf-8")
    db_path = tmp_path / "cli.db"
    assert cli("--db", str(db_path), "import", str(csv)).exit_code == 0

    preview = cli("--db", str(db_path), "forget", "--author", "JANE")
    assert preview.exit_code == 0 and "Would erase 2 mentions (import 2)" in preview.output
    assert "--yes" in preview.output
    assert open_db(db_path).execute("SELECT count(*) FROM mentions").fetchone()[0] == 3

    done = cli("--db", str(db_path), "forget", "--author", "JANE", "--yes", "--by", "dana")
    assert done.exit_code == 0 and "Erased 2 mentions (import 2); erasure #1." in done.output
    assert "kept out of later crawls and imports" in done.output
    again = cli("--db", str(db_path), "import", str(csv))
    assert "0 inserted, 1 already present, 0 rejected, 2 not stored (erased before and kept out" in again.output


@pytest.mark.parametrize("args, message", [
    (["7", "99"], "no mention with id 7, 99; nothing was erased"),
    (["--before", "30d", "--author", "x"], "--before erases by age and is used on its own"),
    ([], "say what to erase"),
    (["--source", "reddit"], "--source narrows --author or --url"),
    (["--author", " "], "Invalid value for --author: empty"),
    (["--before", "someday"], "Invalid value for --before"),
])
def test_forget_mistakes_are_one_line_and_erase_nothing(tmp_path, cli, args, message):
    db_path = tmp_path / "cli.db"
    db = open_db(db_path)
    save_mentions(db, [Mention("reddit", "p1", "acme", "2025-03-01T10:00:00Z", author="x")])
    db.close()
    result = cli("--db", str(db_path), "forget", *args, "--yes")
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert open_db(db_path).execute("SELECT count(*) FROM mentions").fetchone()[0] == 1


def test_the_service_erases_mentions_older_than_keep_mentions(tmp_path, onnx_cache):
    # onnx_cache: the service's score job loads the model; its ONNX files go where the other tests' do
    from scheduler import Service
    from tests.service_fakes import wait_until, write_watchlist

    config_path, db_path = tmp_path / "watch.yaml", tmp_path / "svc.db"
    write_watchlist(config_path, db_path, "      []", service="  keep_mentions: 30d")
    db = open_db(db_path)
    now = dt.datetime.now(dt.timezone.utc)
    save_mentions(db, [Mention("rss", "old", "node news", now - dt.timedelta(days=40)),
                       Mention("rss", "new", "node news", now - dt.timedelta(days=2))])
    service = Service(config_path, blocking=False)
    service.start()
    try:
        wait_until(lambda: db.execute("SELECT count(*) FROM erasures").fetchone()[0] == 1, 30,
                   what="the daily retention run")
    finally:
        service.stop("test over")
        service.finish()
    assert [e for (e,) in db.execute("SELECT external_id FROM mentions")] == ["new"]
    assert db.execute("SELECT actor, mentions FROM erasures").fetchone() == ("service", 1)


def test_an_author_is_found_however_the_name_is_written(db):
    """NFC or NFD, full-width letters, a zero-width space, a leading @: one person, one name."""
    import unicodedata

    stored = unicodedata.normalize("NFC", "José_Müller")
    save_mentions(db, [Mention("reddit", "p1", "acme post", "2025-03-01T10:00:00Z", author=stored)])
    done = erase(db, Selection(author="@" + unicodedata.normalize("NFD", "JOSÉ_MÜLLER")),
                 what="one author on every source", actor="t", remember_posts=True,
                 remember_authors=[("*", "@" + unicodedata.normalize("NFD", "JOSÉ_MÜLLER"))])
    assert len(done.plan.mention_ids) == 1
    comeback = [Mention("reddit", "p2", "acme", "2025-03-02T10:00:00Z", author="Ｊｏｓé_Müller"),
                Mention("reddit", "p3", "acme", "2025-03-02T10:00:00Z", author="josé_\u200bmüller"),
                Mention("reddit", "p4", "acme", "2025-03-02T10:00:00Z", author="josé_miller")]
    assert save_mentions(db, comeback).forgotten == 2
    assert [a for (a,) in db.execute("SELECT author FROM mentions")] == ["josé_miller"]


def test_an_address_is_found_however_it_is_written(db):
    save_mentions(db, [Mention("reddit", "p1", "acme post", "2025-03-01T10:00:00Z",
                               url="https://www.reddit.com/r/acme/comments/abc/")])
    plan = erase(db, Selection(url="http://reddit.com/r/acme/comments/abc?utm_source=share"),
                 what="one address on every source", actor="t").plan
    assert len(plan.mention_ids) == 1


def test_erased_posts_words_leave_the_alert_terms_summary_and_timeline(db, model_id):
    """One author's complaints all carry her surname: after forget, it is no term of the alert."""
    config = parse_config(config_text())
    burst_hour = 6 * 24 + 10
    add_stream(db, model_id)
    burst = [Mention("reddit", f"z{k}", f"acme Zwicklbauer here, refund never arrived ({k})",
                     iso(START + dt.timedelta(hours=burst_hour, minutes=k)), author="jane_doe",
                     watches=("acme",)) for k in range(25)]
    save_mentions(db, burst)
    ids = dict(db.execute("SELECT external_id, id FROM mentions WHERE author = 'jane_doe'").fetchall())
    db.conn.executemany("INSERT INTO scores VALUES (?, ?, 'negative', 0.9, 0.05, 0.05, '2025-01-01T00:00:00Z')",
                        [(i, model_id) for i in ids.values()])
    db.conn.commit()
    [alert_id] = run_detection(db, config, now=START + dt.timedelta(hours=burst_hour + 1), notify=False).opened
    before = db.execute("SELECT explanation FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
    assert "zwicklbauer" in before  # the check can see the word

    erase(db, Selection(author="jane_doe"), what="one author on every source", actor="t")
    explanation = db.execute("SELECT explanation FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
    events = " ".join(d for (d,) in db.execute("SELECT detail FROM alert_events WHERE alert_id = ?", [alert_id]))
    assert "zwicklbauer" not in explanation.lower() and "zwicklbauer" not in events.lower()


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_forget_before_a_recent_or_future_date_is_refused_unless_nothing_is_kept_out(tmp_path, cli):
    db_path = tmp_path / "cli.db"
    open_db(db_path).close()
    future = cli("--db", str(db_path), "forget", "--before", "2031-01-01", "--yes")
    assert future.exit_code == 2 and "less than 14 days ago" in future.output
    assert len(future.output.strip().splitlines()) == 1
    recent = cli("--db", str(db_path), "forget", "--before", "3d", "--yes")
    assert recent.exit_code == 2
    for just_old_enough in ("14d", "336h"):  # walkthrough 14: refused as "less than 14 days ago"
        assert cli("--db", str(db_path), "forget", "--before", just_old_enough, "--yes").exit_code == 0
    assert cli("--db", str(db_path), "forget", "--before", "335h", "--yes").exit_code == 2
    wipe = cli("--db", str(db_path), "forget", "--before", "0d", "--allow-again", "--yes")
    assert wipe.exit_code == 0, wipe.output


def test_a_date_cutoff_can_be_lifted(db, tmp_path, cli):
    old = Mention("rss", "old", "acme old news", "2020-01-01T00:00:00Z")
    save_mentions(db, [old])
    erase(db, Selection(before="2021-01-01T00:00:00Z"), what="x", actor="t", remember_posts=True)
    assert save_mentions(db, [old]).forgotten == 1
    db_path = db.conn.execute("PRAGMA database_list").fetchone()[2]
    preview = cli("--db", db_path, "forget", "--lift-cutoff")
    assert preview.exit_code == 0 and "Nothing is lifted yet" in preview.output, preview.output
    assert save_mentions(db, [old]).forgotten == 1  # as every other forget, nothing without --yes
    lifted = cli("--db", db_path, "forget", "--lift-cutoff", "--yes")
    assert lifted.exit_code == 0 and "2021-01-01T00:00:00Z may be stored again" in lifted.output
    assert save_mentions(db, [old]).inserted == 1


@pytest.mark.parametrize("args, message", [
    (["99999999999999999999999", "--yes"], "Invalid value for '[MENTION_IDS]...'"),
    (["--url", "https://nowhere.example/x", "--yes"], "no stored mention at the address given with --url"),
    (["--lift-cutoff", "--author", "x"], "--lift-cutoff is used on its own"),
])
def test_more_forget_mistakes_are_one_line(tmp_path, cli, args, message):
    db_path = tmp_path / "cli.db"
    open_db(db_path).close()
    result = cli("--db", str(db_path), "forget", *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_many_unknown_ids_are_summed_up_not_listed(tmp_path, cli):
    db_path = tmp_path / "cli.db"
    open_db(db_path).close()
    result = cli("--db", str(db_path), "forget", *map(str, range(1, 1001)))
    assert result.exit_code == 2
    assert "no mention with id 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 990 more; nothing was erased" in result.output


def test_forget_on_a_database_that_does_not_exist_creates_none(tmp_path, cli):
    result = cli("--db", str(tmp_path / "nosuch.db"), "forget", "--author", "x", "--yes")
    assert result.exit_code == 2
    assert not (tmp_path / "nosuch.db").exists()


def test_a_big_erasure_goes_in_batches_and_is_one_erasure(db, model_id, monkeypatch):
    import storage.erasure

    monkeypatch.setattr(storage.erasure, "ERASE_BATCH", 7)
    alert_id = _alert_with_angry_posts(db, model_id)
    total = db.execute("SELECT count(*) FROM mentions").fetchone()[0]
    done = erase(db, Selection(before="2026-01-01T00:00:00Z"), what="everything", actor="t", remember_posts=True)
    assert len(done.plan.mention_ids) == total and db.execute("SELECT count(*) FROM mentions").fetchone()[0] == 0
    assert db.execute("SELECT mentions, created_before FROM erasures").fetchall() == [(total, "2026-01-01T00:00:00Z")]
    erased_events = db.execute("SELECT detail FROM alert_events WHERE alert_id = ? AND kind = 'erased'",
                               [alert_id]).fetchall()
    linked = done.plan.alerts[alert_id]
    assert linked > 7 and erased_events == [(f"{linked} posts behind this alert erased (everything)",)]


def test_keep_mentions_must_cover_the_longest_warmup_and_a_week():
    with pytest.raises(ConfigError, match="keep_mentions.*keep at least 27d"):
        parse_config("service: {keep_mentions: 14d}\nalerts: {warmup: 20d}\nwatches: []\n")
    with pytest.raises(ConfigError, match="keep at least 37d"):
        parse_config("service: {keep_mentions: 30d}\nwatches:\n  - name: acme\n    query: {any: [acme]}\n"
                     "    alerts: {warmup: 30d}\n")
    assert parse_config("service: {keep_mentions: 14d}\nwatches: []\n").service.keep_mentions == 14 * 86400


def test_posts_of_one_page_told_apart_by_fragment_or_port_are_different_posts(db):
    """A review without an address of its own is stored as its page's address plus '#N'."""
    page = "https://shop.example/acme/reviews?page=2"
    save_mentions(db, [Mention("reviews", f"r{n}", f"review {n} of acme", "2025-03-01T10:00:00Z",
                               url=f"{page}#{n}") for n in range(5)]
                  + [Mention("rss", "p1", "acme", "2025-03-01T10:00:00Z", url="http://h.example:8080/p/1"),
                     Mention("rss", "p2", "acme", "2025-03-01T10:00:00Z", url="http://h.example:9090/p/1")])
    assert len(plan_erasure(db, Selection(url=f"{page}#3")).mention_ids) == 1
    assert len(plan_erasure(db, Selection(url="http://h.example:8080/p/1")).mention_ids) == 1


def test_hacker_news_names_differing_in_case_are_two_people(db):
    save_mentions(db, [Mention("hackernews", "1", "acme", "2025-03-01T10:00:00Z", author="dang"),
                       Mention("hackernews", "2", "acme", "2025-03-01T10:00:00Z", author="Dang"),
                       Mention("reddit", "3", "acme", "2025-03-01T10:00:00Z", author="Dang")])
    erase(db, Selection(author="dang", source="hackernews"), what="x", actor="t",
          remember_authors=[("hackernews", "dang")])
    assert sorted(a for (a,) in db.execute("SELECT source || ':' || author FROM mentions")) == [
        "hackernews:Dang", "reddit:Dang"]


def test_an_unreadable_stored_address_does_not_break_forget_url(db):
    save_mentions(db, [Mention("rss", "bad", "acme", "2025-03-01T10:00:00Z", url="http://[broken/post/99"),
                       Mention("rss", "good", "acme", "2025-03-01T10:00:00Z", url="https://ok.example/post/99")])
    assert len(erase(db, Selection(url="https://ok.example/post/99"), what="x", actor="t").plan.mention_ids) == 1


def test_a_mention_stored_during_a_big_erasure_never_gets_an_erased_id(db, monkeypatch):
    """Collectors write between batches: one that matches is erased by the last batch, and may
    hold the highest id; the next new mention must still get an id above it."""
    import contextlib

    import storage.erasure

    monkeypatch.setattr(storage.erasure, "ERASE_BATCH", 3)
    save_mentions(db, [Mention("reddit", f"p{n}", "acme", "2025-03-01T10:00:00Z", author="jane") for n in range(7)])
    transaction = db.atomic
    committed = []

    @contextlib.contextmanager
    def then_a_collector_writes():
        with transaction():
            yield db
        committed.append(True)
        if len(committed) == 1:  # after the first batch, before the last
            other = open_db(db.conn.execute("PRAGMA database_list").fetchone()[2])
            save_mentions(other, [Mention("reddit", "late", "acme again", "2025-03-02T10:00:00Z", author="jane")])
            other.close()

    monkeypatch.setattr(db, "atomic", then_a_collector_writes)
    erase(db, Selection(author="jane"), what="x", actor="t")
    monkeypatch.setattr(db, "atomic", transaction)
    assert db.execute("SELECT mentions FROM erasures").fetchone()[0] == 8  # seven, then the late one
    save_mentions(db, [Mention("reddit", "next", "acme", "2025-03-03T10:00:00Z", author="bob")])
    assert db.execute("SELECT id FROM mentions WHERE external_id = 'next'").fetchone()[0] > 8


def test_an_erasure_stopped_between_batches_keeps_out_what_it_erased_and_says_so(db, monkeypatch):
    import storage.erasure

    monkeypatch.setattr(storage.erasure, "ERASE_BATCH", 3)
    posts = [Mention("reddit", f"p{n}", "acme", "2025-03-01T10:00:00Z", author="jane") for n in range(7)]
    save_mentions(db, posts)
    original = storage.erasure._Step.erase_batch

    def killed_after_one_batch(step, ids, remember):
        if step.plan.mention_ids:
            raise KeyboardInterrupt  # the process stopped here
        original(step, ids, remember)

    monkeypatch.setattr(storage.erasure._Step, "erase_batch", killed_after_one_batch)
    with pytest.raises(KeyboardInterrupt):
        erase(db, Selection(author="jane"), what="x", actor="t", remember_posts=True,
              remember_authors=[("*", "jane")])
    assert db.execute("SELECT mentions FROM erasures").fetchone()[0] == 3
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == 4
    assert save_mentions(db, posts).forgotten == 7  # the author is kept out from the first batch on


def test_one_post_behind_two_alerts_is_counted_per_alert(tmp_path, cli):
    """One erased post quoted by alerts #1 and #2 is one post each, not '2 posts' in all."""
    csv = tmp_path / "m.csv"
    csv.write_text("id,text,created_at\n1,acme is bad,2025-03-01T10:00:00Z\n", encoding="utf-8")
    db_path = tmp_path / "cli.db"
    assert cli("--db", str(db_path), "import", str(csv)).exit_code == 0
    db = open_db(db_path)
    with db.conn:
        for _ in range(2):
            alert_id = db.execute(
                "INSERT INTO alerts (watch, rule, severity, window_start, window_end, opened_at, updated_at) "
                "VALUES ('acme', 'spike', 'low', '2025-03-01T10:00:00Z', '2025-03-01T11:00:00Z', "
                "'2025-03-01T11:00:00Z', '2025-03-01T11:00:00Z')").lastrowid
            db.execute("INSERT INTO alert_mentions (alert_id, mention_id, rank) VALUES (?, 1, 1)", [alert_id])
    db.close()
    done = cli("--db", str(db_path), "forget", "1", "--yes")
    assert done.exit_code == 0, done.output
    assert "Alerts lost posts from their explanations: #1 1 post, #2 1 post." in done.output


def test_an_author_forgotten_on_every_source_keeps_case_where_the_source_does(db):
    from storage.erasure import ANY_SOURCE

    save_mentions(db, [Mention("hackernews", "1", "acme", "2025-03-01T10:00:00Z", author="Dang"),
                       Mention("hackernews", "2", "acme", "2025-03-01T10:00:00Z", author="dang")])
    erase(db, Selection(author="Dang"), what="x", actor="t", remember_authors=[(ANY_SOURCE, "Dang")])
    assert [a for (a,) in db.execute("SELECT author FROM mentions")] == ["dang"]
    later = save_mentions(db, [Mention("hackernews", "3", "acme again", "2025-03-02T10:00:00Z", author="dang"),
                               Mention("hackernews", "4", "acme again", "2025-03-02T10:00:00Z", author="Dang"),
                               Mention("reddit", "5", "acme again", "2025-03-02T10:00:00Z", author="DANG")])
    assert (later.inserted, later.forgotten) == (1, 2)  # HN's dang is someone else; Reddit has no case
    assert sorted(a for (a,) in db.execute("SELECT author FROM mentions")) == ["dang", "dang"]


def test_an_author_forgotten_on_every_source_before_the_case_rule_stays_kept_out(db):
    """Erasures written before the two every-source keys kept one, with the case folded: still
    matched on every source, Hacker News included, as before."""
    from storage.erasure import ANY_SOURCE, author_key

    erasure = erase(db, Selection(author="nobody"), what="x", actor="t")
    db.execute("INSERT INTO forgotten (key, kind, erasure_id) VALUES (?, 'author', ?)",
               [author_key(ANY_SOURCE, "Dang"), erasure.erasure_id])
    db.conn.commit()
    later = save_mentions(db, [Mention("hackernews", "1", "acme", "2025-03-02T10:00:00Z", author="dang")])
    assert later.forgotten == 1


def test_the_next_ranked_posts_take_the_erased_authors_places_among_the_top_mentions(db, model_id):
    """Walkthrough 8: erasing the loudest author left `alerts show` with no top mentions at all,
    though the alert still had twenty posts behind it."""
    alert_id = _alert_with_angry_posts(db, model_id)
    before = json.loads(db.execute("SELECT explanation FROM alerts WHERE id = ?", [alert_id]).fetchone()[0])
    top_before = [m["mention_id"] for m in before["top_mentions"]]
    erased_author = before["top_mentions"][0]["author"]
    erase(db, Selection(author=erased_author), what="one author", actor="dana")
    after = json.loads(db.execute("SELECT explanation FROM alerts WHERE id = ?", [alert_id]).fetchone()[0])
    top_after = after["top_mentions"]
    ranked = [i for (i,) in db.execute("SELECT mention_id FROM alert_mentions WHERE alert_id = ? "
                                       "AND rank IS NOT NULL ORDER BY rank", [alert_id])]
    assert len(top_after) == len(top_before) and ranked[:len(top_before)] == [m["mention_id"] for m in top_after]
    assert erased_author not in {m["author"] for m in top_after}
    kept = [i for i in top_before if i in ranked]
    assert [m["mention_id"] for m in top_after][:len(kept)] == kept  # the others keep their order
    assert all(m["p_negative"] > 0.5 and m["text"] for m in top_after)
