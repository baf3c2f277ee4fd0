"""`stats` counts the backlog as `score` and `status` do (for the configured model), and the
commands done by hand (`mark`, `alerts ack`) record the login name when no name is given."""
from __future__ import annotations

import json

from mentionwatch.config import SentimentConfig
from sentiment import model_id_for
from storage import Mention, open_db, save_mentions, utc_now_iso


def _stored(db_path, count: int) -> list[int]:
    db = open_db(db_path)
    save_mentions(db, [Mention("test", str(n), f"acme post {n}", "2024-01-01T00:00:00Z",
                               watches=("acme",)) for n in range(count)])
    ids = [row[0] for row in db.execute("SELECT id FROM mentions ORDER BY id")]
    db.close()
    return ids


def _score(db_path, mention_ids, model_id: str) -> None:
    db = open_db(db_path)
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO scores (mention_id, model_id, label, p_negative, p_neutral, p_positive, "
            "scored_at) VALUES (?, ?, 'neutral', 0.1, 0.8, 0.1, ?)",
            [(mention_id, model_id, utc_now_iso()) for mention_id in mention_ids])
    db.close()


def test_stats_counts_unscored_mentions_for_the_configured_model(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("MENTIONWATCH_CONFIG", raising=False)
    db_path = tmp_path / "m.db"
    ids = _stored(db_path, 3)
    _score(db_path, ids, "hf:some/older-model")  # every mention scored, by a model no longer used
    configured = model_id_for(SentimentConfig())
    _score(db_path, ids[:1], configured)

    result = cli("--db", db_path, "stats")
    assert result.exit_code == 0, result.output
    assert f"Unscored mentions: 2 (no score from {configured})" in result.stdout
    figures = json.loads(cli("--db", db_path, "stats", "--json").stdout)
    assert (figures["unscored"], figures["unscored_model"]) == (2, configured)
    status = json.loads(cli("--db", db_path, "status", "--json").stdout)
    assert status["backlog"]["unscored"] == figures["unscored"]

    broken = tmp_path / "broken.yaml"
    broken.write_text("watches: [unclosed\n", encoding="utf-8")
    without_model = cli("--config", broken, "--db", db_path, "stats")  # the other figures still shown
    assert without_model.exit_code == 0, without_model.output
    assert "Mentions: 3" in without_model.stdout
    assert "Unscored mentions: not counted (the configured sentiment model is unknown" in without_model.stdout


def _open_alert(db) -> int:
    with db.atomic():
        return db.conn.execute(
            "INSERT INTO alerts (watch, rule, severity, window_start, window_end, opened_at, updated_at) "
            "VALUES ('acme', 'spike', 'high', '2024-01-01T00:00:00Z', '2024-01-01T01:00:00Z', "
            "'2024-01-01T01:00:00Z', '2024-01-01T01:00:00Z')").lastrowid


def test_mark_and_ack_record_the_login_name_by_default(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("LOGNAME", "dana")  # what getpass.getuser() reads first
    db_path = tmp_path / "m.db"
    (mention_id,) = _stored(db_path, 1)
    db = open_db(db_path)
    alert_id = _open_alert(db)

    assert cli("--db", db_path, "mark", mention_id, "--state", "handled").exit_code == 0
    ack = cli("--db", db_path, "alerts", "ack", alert_id)
    assert ack.exit_code == 0, ack.output
    assert ack.stdout.strip() == f"Alert #{alert_id} acknowledged, owner dana."
    assert db.execute("SELECT actor FROM triage").fetchone()[0] == "dana"
    assert db.execute("SELECT owner FROM alerts").fetchone()[0] == "dana"
    assert "[default: your login name]" in cli("mark", "--help").stdout


def test_a_blank_name_is_the_login_name_and_one_with_control_characters_is_refused(cli, tmp_path, monkeypatch):
    """A name is printed in tables and timelines: a newline in it would forge their rows."""
    monkeypatch.setenv("LOGNAME", "dana")
    db_path = tmp_path / "m.db"
    (mention_id,) = _stored(db_path, 1)
    db = open_db(db_path)
    alert_id = _open_alert(db)

    assert cli("--db", db_path, "mark", mention_id, "--state", "handled", "--by", "   ").exit_code == 0
    ack = cli("--db", db_path, "alerts", "ack", alert_id, "--actor", " \t ")
    assert ack.stdout.strip() == f"Alert #{alert_id} acknowledged, owner dana."
    assert db.execute("SELECT actor FROM triage").fetchone()[0] == "dana"
    assert db.execute("SELECT actor FROM alert_events WHERE kind = 'acknowledged'").fetchone()[0] == "dana"

    forged = cli("--db", db_path, "alerts", "note", alert_id, "called the airline",
                 "--actor", "bob\n  2026-12-05T11:00:00Z resolved     dana")
    assert forged.exit_code == 2
    assert forged.stderr.splitlines() == [
        "Error: --actor: a name cannot hold control characters (newline, tab, escape): "
        "'bob\\n  2026-12-05T11:00:00Z resolved     dana'"]
    assert cli("--db", db_path, "mark", mention_id, "--state", "flagged", "--by", "eve\x1b[2J").exit_code == 2
    assert db.execute("SELECT count(*) FROM alert_events WHERE kind = 'note'").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM triage").fetchone()[0] == 1


def test_an_owner_is_stripped_and_one_with_control_characters_is_refused(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("LOGNAME", "dana")
    db_path = tmp_path / "m.db"
    _stored(db_path, 1)
    db = open_db(db_path)
    alert_id = _open_alert(db)

    forged = cli("--db", db_path, "alerts", "ack", alert_id, "--owner", "eve\n 9  resolved  low")
    assert forged.exit_code == 2
    assert forged.stderr.startswith("Error: --owner: a name cannot hold control characters")
    assert db.execute("SELECT owner FROM alerts").fetchone()[0] is None

    ack = cli("--db", db_path, "alerts", "ack", alert_id, "--owner", "   ")
    assert ack.stdout.strip() == f"Alert #{alert_id} acknowledged, owner dana."
    assert db.execute("SELECT owner FROM alerts").fetchone()[0] == "dana"


def test_a_note_of_only_spaces_on_ack_or_resolve_is_no_note(db):
    from alerts.lifecycle import acknowledge, resolve

    db.execute("INSERT INTO alerts (watch, rule, severity, window_start, window_end, opened_at, updated_at) "
               "VALUES ('acme', 'spike', 'low', '2025-03-01T00:00:00Z', '2025-03-01T01:00:00Z', "
               "'2025-03-01T01:00:00Z', '2025-03-01T01:00:00Z')")
    db.conn.commit()
    acknowledge(db, 1, "dana", note="   ")
    resolve(db, 1, "dana", note="  refunds issued \n")
    details = [d for (d,) in db.execute("SELECT detail FROM alert_events WHERE alert_id = 1 ORDER BY id")]
    assert details == [None, "refunds issued"]


def test_acknowledging_an_alert_someone_else_owns_says_it_was_taken_over(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("LOGNAME", "dana")
    db_path = tmp_path / "m.db"
    _stored(db_path, 1)
    db = open_db(db_path)
    alert_id = _open_alert(db)
    assert cli("--db", db_path, "alerts", "ack", alert_id, "--owner", "sam").exit_code == 0
    again = cli("--db", db_path, "alerts", "ack", alert_id)
    assert again.stdout.strip() == f"Alert #{alert_id} acknowledged, owner dana (taken over from sam)."
    details = [row[0] for row in db.execute("SELECT detail FROM alert_events WHERE kind = 'acknowledged' "
                                            "ORDER BY id")]
    assert details == ["owner sam", "taken over from sam"]
    same = cli("--db", db_path, "alerts", "ack", alert_id)  # dana again: nothing taken over, nothing new
    assert same.stdout.strip() == f"Alert #{alert_id} is already acknowledged, owner dana: nothing changed."


def test_stats_shows_a_source_name_with_hidden_characters_escaped(cli, tmp_path, monkeypatch):
    """Walkthrough 13: a source named on import with a colour code and a right-to-left override
    changed the terminal (search showed it escaped)."""
    monkeypatch.delenv("MENTIONWATCH_CONFIG", raising=False)
    db_path = tmp_path / "m.db"
    db = open_db(db_path)
    save_mentions(db, [Mention("ev\u202eil\x1b[31m", "1", "acme post", "2024-01-01T00:00:00Z", watches=("acme",))])
    db.close()
    result = cli("--db", db_path, "stats")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "per source: ev\\u202eil\\x1b[31m 1" in result.stdout
