"""A first-time user's walk through `status`, `stats` and `forget`: each line says what its words
say. An acknowledged alert shows when it was acknowledged (not when it opened) and its owner;
`stats` counts open and acknowledged alerts apart; `forget` never lower-cases a date inside its
sentence; an author that matches no stored mention is said so (a misspelt name is noticed), and
refused when the erasure would do nothing at all."""
from __future__ import annotations

import json

import datetime as dt

import pytest

from storage import Mention, open_db, save_mentions
from tests.test_alerts_detection import START, iso, two_watch_setup


@pytest.fixture
def inbox(cli, tmp_path, model_id):
    """Five alerts detected from real streams, as in test_alerts_list_active: #1, #2 and #5
    resolved, #3 acknowledged by kim (today: its opening is in March 2025), #4 open."""
    acme = {day * 24 + 5: [("reddit", 40)] for day in (4, 5, 6, 7)}
    db = two_watch_setup(cli, tmp_path, model_id, acme, {6 * 24 + 15: [("reddit", 40)]})
    assert cli("detect", "--no-notify", "--at", iso(START + dt.timedelta(days=8))).exit_code == 0
    assert [i for (i,) in db.execute("SELECT id FROM alerts ORDER BY id")] == [1, 2, 3, 4, 5]
    for alert_id in (1, 2, 5):
        assert cli("alerts", "resolve", alert_id, "--actor", "sam").exit_code == 0
    assert cli("alerts", "ack", 3, "--actor", "kim").exit_code == 0
    yield db
    db.close()


def _alert_lines(output: str) -> dict[int, str]:
    return {int(line.split()[0][1:]): line.strip() for line in output.splitlines()
            if line.startswith("  #")}


# ------------------------------------------- 1. status: "acknowledged since <when it opened>"
def test_status_shows_when_an_acknowledged_alert_was_acknowledged_and_its_owner(cli, inbox):
    acknowledged_at, opened_3 = inbox.execute(
        "SELECT acknowledged_at, opened_at FROM alerts WHERE id = 3").fetchone()
    opened_4 = inbox.execute("SELECT opened_at FROM alerts WHERE id = 4").fetchone()[0]
    assert acknowledged_at and acknowledged_at != opened_3

    result = cli("status")
    assert result.exit_code == 0, result.output
    lines = _alert_lines(result.stdout)
    assert lines[3] == f"#3 acme high acknowledged {acknowledged_at}, owner kim, opened {opened_3} (spike)"
    assert lines[4] == f"#4 acme medium open since {opened_4} (spike)"
    assert "Alerts: 1 open, 1 acknowledged" in result.stdout.splitlines()
    assert "since" not in lines[3]

    # --json: the same alerts, the keys of before and the acknowledgement added
    [four, three] = json.loads(cli("status", "--json").stdout)["open_alerts"]
    assert (three["id"], three["status"], three["opened_at"]) == (3, "acknowledged", opened_3)
    assert (three["acknowledged_at"], three["owner"]) == (acknowledged_at, "kim")
    assert (four["acknowledged_at"], four["owner"]) == (None, None)
    assert {"watch", "source", "rule", "severity", "updated_at"} <= set(three)


def test_status_reads_the_acknowledgement_from_the_timeline_when_the_column_is_empty(cli, inbox):
    event_at = inbox.execute("SELECT at FROM alert_events WHERE alert_id = 3 AND kind = 'acknowledged'").fetchone()[0]
    with inbox.atomic():
        inbox.execute("UPDATE alerts SET acknowledged_at = NULL WHERE id = 3")  # as an older database may hold it
    line = _alert_lines(cli("status").stdout)[3]
    assert f"acknowledged {event_at}, owner kim, opened " in line


def test_status_names_the_owner_another_person_acknowledged_for(cli, inbox):
    assert cli("alerts", "ack", 4, "--actor", "kim", "--owner", "lee").exit_code == 0
    line = _alert_lines(cli("status").stdout)[4]
    assert " acknowledged " in line and ", owner lee, opened " in line
    assert "Alerts: 0 open, 2 acknowledged" in cli("status").stdout.splitlines()


# ------------------------------------------------------ 2. stats: "Alerts: 3 open" (one acknowledged)
def test_stats_counts_open_acknowledged_and_resolved_alerts_apart(cli, inbox):
    result = cli("stats")
    assert result.exit_code == 0, result.output
    assert "Alerts: 1 open, 1 acknowledged, 3 resolved" in result.stdout.splitlines()
    figures = json.loads(cli("stats", "--json").stdout)
    assert figures["alerts_by_status"] == {"open": 1, "acknowledged": 1, "resolved": 3}
    assert (figures["alerts_open"], figures["alerts_total"]) == (2, 5)  # as before: not resolved, all


def test_stats_of_a_database_without_alerts(cli, tmp_path):
    db_path = tmp_path / "m.db"
    open_db(db_path).close()
    result = cli("--db", db_path, "stats")
    assert "Alerts: 0 open, 0 acknowledged, 0 resolved" in result.stdout.splitlines()
    assert json.loads(cli("--db", db_path, "stats", "--json").stdout)["alerts_by_status"] == {
        "open": 0, "acknowledged": 0, "resolved": 0}


# ------------------------------------------- 3. forget: "before 2015-01-01t00:00:00z" (lower-cased)
def test_forget_before_keeps_the_date_as_written_when_nothing_matches(cli, inbox):
    result = cli("forget", "--before", "2015-01-01")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "No stored mention matches.",
        "With --yes: mentions created before 2015-01-01T00:00:00Z would be kept out of later crawls "
        "and imports all the same (forget --lift-cutoff --yes lets them in again).",
    ]


# ------------------------------------- 4. forget --author <a name that is not stored> --yes
def _stored_authors(tmp_path):
    db_path = tmp_path / "a.db"
    db = open_db(db_path)
    save_mentions(db, [Mention("reddit", "p1", "acme is bad", "2025-03-01T10:00:00Z", author="jane_doe"),
                       Mention("reddit", "p2", "acme is fine", "2025-03-01T11:00:00Z", author="bob"),
                       Mention("mastodon", "p3", "acme again", "2025-03-02T10:00:00Z", author="carl")])
    db.close()
    return db_path


def _counts(db_path) -> tuple[int, int, int]:
    db = open_db(db_path)
    try:
        return tuple(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                     for table in ("mentions", "erasures", "forgotten"))
    finally:
        db.close()


def test_an_author_that_matches_nothing_is_said_so_and_still_kept_out(cli, tmp_path):
    db_path = _stored_authors(tmp_path)
    done = cli("--db", db_path, "forget", "--author", "jane_dee", "--yes")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.output
    assert lines[0].startswith("No stored mention is by 'jane_dee' (check the spelling")
    assert "Stored authors with a close name: jane_doe (reddit)." in lines[0]
    assert lines[1] == "Their posts on any source will be kept out of later crawls and imports (erasure #1)."
    assert "Erased 0" not in done.output
    # the author's keys are kept (every source, with and without case): a later post of theirs is not stored
    assert _counts(db_path) == (3, 1, 2)
    db = open_db(db_path)
    assert save_mentions(db, [Mention("reddit", "p9", "acme", "2025-03-03T10:00:00Z", author="Jane_Dee")]).forgotten == 1
    db.close()


def test_the_hint_says_case_counts_on_hacker_news(cli, tmp_path):
    """Walkthrough 14c: the hint said case does not matter, on Hacker News too, where 'Dang' and
    'DANG' are two accounts (and matching did tell them apart)."""
    db_path = _stored_authors(tmp_path)
    db = open_db(db_path)
    save_mentions(db, [Mention("hackernews", "h1", "acme", "2025-03-03T10:00:00Z", author="Dang")])
    db.close()
    preview = cli("--db", db_path, "forget", "--author", "DANG", "--source", "hackernews")
    assert preview.exit_code == 0, preview.output
    assert preview.stdout.startswith(
        "No stored mention is by 'DANG' on hackernews (check the spelling: names are matched as stored, "
        "apart from width and a leading @; case counts on hackernews). Stored authors with a close name: "
        "Dang (hackernews).")
    other = cli("--db", db_path, "forget", "--author", "nobody_here_zz", "--source", "reddit")
    assert "apart from case, width and a leading @)" in other.output


def test_a_preview_of_an_author_that_matches_nothing_says_so(cli, tmp_path):
    db_path = _stored_authors(tmp_path)
    preview = cli("--db", db_path, "forget", "--author", "nobody_here_zz")
    assert preview.exit_code == 0, preview.output
    assert preview.stdout.splitlines() == [
        "No stored mention is by 'nobody_here_zz' (check the spelling: names are matched as stored, "
        "apart from case (except on hackernews), width and a leading @).",
        "With --yes: this author's posts on any source would be kept out of later crawls and imports "
        "all the same.",
    ]
    assert _counts(db_path) == (3, 0, 0)


def test_an_author_on_another_source_is_pointed_out(cli, tmp_path):
    db_path = _stored_authors(tmp_path)
    preview = cli("--db", db_path, "forget", "--author", "carl", "--source", "reddit")
    assert preview.exit_code == 0, preview.output
    assert preview.stdout.splitlines()[0].startswith("No stored mention is by 'carl' on reddit (")
    assert "Stored authors with a close name: carl (mastodon)." in preview.stdout


def test_an_author_that_matches_nothing_with_allow_again_is_refused(cli, tmp_path):
    """Nothing to erase and nothing kept out: an erasure of nothing would only hide a typo."""
    db_path = _stored_authors(tmp_path)
    for extra in ([], ["--yes"]):
        result = cli("--db", db_path, "forget", "--author", "nobody_here_zz", "--allow-again", *extra)
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1
        assert "no stored mention is by 'nobody_here_zz'" in result.output and "nothing was erased" in result.output
    assert _counts(db_path) == (3, 0, 0)


def test_ids_that_match_beside_an_author_that_does_not_say_so(cli, tmp_path):
    db_path = _stored_authors(tmp_path)
    done = cli("--db", db_path, "forget", "2", "--author", "jane_dee", "--yes")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[0] == "Erased 1 mention (reddit 1); erasure #1."
    assert lines[1].startswith("No stored mention is by 'jane_dee' (check the spelling")
    refused = cli("--db", db_path, "forget", "3", "--author", "jane_dee", "--allow-again", "--yes")
    assert refused.exit_code == 2 and "no stored mention is by 'jane_dee'" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    assert refused.output.rstrip().endswith("nothing was erased. Stored authors with a close name: jane_doe (reddit).")
    assert _counts(db_path)[0] == 2


def test_a_stored_author_is_erased_as_before(cli, tmp_path):
    db_path = _stored_authors(tmp_path)
    done = cli("--db", db_path, "forget", "--author", "@JANE_DOE", "--yes")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [
        "Erased 1 mention (reddit 1); erasure #1.",
        "This author's posts on any source are kept out of later crawls and imports.",
    ]


def test_a_name_typed_without_its_accents_is_shown_the_stored_one(cli, tmp_path):
    """Walkthrough 8: an erasure request typed 'Jose Nunez' got no hint of the stored 'José Núñez'."""
    db_path = tmp_path / "a.db"
    db = open_db(db_path)
    save_mentions(db, [Mention("reddit", "p1", "acme is bad", "2025-03-01T10:00:00Z", author="José Núñez"),
                       Mention("bluesky", "p2", "acme again", "2025-03-01T11:00:00Z", author="Jose Nunez")])
    db.close()
    preview = cli("--db", db_path, "forget", "--author", "Jose Nunes")
    assert preview.exit_code == 0, preview.output
    # both spellings: each is a request of its own, the erasure keeps accents
    assert "Stored authors with a close name: Jose Nunez (bluesky), José Núñez (reddit)." in preview.stdout


def test_a_close_name_stored_on_several_sources_is_listed_once_with_them(cli, tmp_path):
    db_path = tmp_path / "a.db"
    db = open_db(db_path)
    save_mentions(db, [Mention(source, f"p{n}", "acme", "2025-03-01T10:00:00Z", author="jose nunez")
                       for n, source in enumerate(("reddit", "bluesky", "mastodon"))]
                  + [Mention("reddit", "p9", "acme", "2025-03-01T10:00:00Z", author="José Núñez")])
    db.close()
    preview = cli("--db", db_path, "forget", "--author", "Jose Nunes")
    assert ("Stored authors with a close name: José Núñez (reddit), jose nunez (bluesky, mastodon, reddit)."
            in preview.stdout), preview.stdout
