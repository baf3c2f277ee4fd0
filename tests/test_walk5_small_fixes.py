"""Small fixes from the fifth walkthrough: `search --json` names the id as export does, a number in
an imported file's time column says what it probably is, and the post-crisis evaluation of an old
alert reads the configured sentiment model, and a date typed on the command line is never read
day-first by guess."""
from __future__ import annotations

import json

import pytest

from alerts.postcrisis import evaluate_alert
from mentionwatch.config import SentimentConfig
from storage import Mention, open_db, save_mentions

CONFIGURED = SentimentConfig(model="org/configured-model")
CONFIGURED_ID = "hf:org/configured-model"  # sentiment.scorer.model_id_for(CONFIGURED)
TIME = "2024-05-01T08:00:00Z"


# ---------------------------------------------------------------- search --json


def test_search_json_names_the_id_mention_id_as_export_does(cli, tmp_path):
    path = tmp_path / "m.db"
    db = open_db(path)
    save_mentions(db, [Mention("forum", f"p{n}", f"acme post {n}", TIME, watches=("acme",))
                       for n in range(2)])
    db.close()
    result = cli("--db", path, "search", "acme", "--json")
    assert result.exit_code == 0, result.output
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(found) == 2
    for mention in found:
        assert mention["mention_id"] == mention["id"]  # `id` kept for existing scripts
    assert list(found[0])[:2] == ["id", "mention_id"]


# ---------------------------------------------------------------- import: a number as a time

NUMBER_HINT = "looks like a number, not a date (did a spreadsheet program rewrite this column?)"


@pytest.mark.parametrize("written", ["5.70306E+17", "5,70306E+17", "1.43655e+09", "570306133677760513"])
def test_a_number_in_the_time_column_says_what_it_looks_like(cli, tmp_path, monkeypatch, written):
    monkeypatch.setenv("MENTIONWATCH_DB", str(tmp_path / "mentionwatch.db"))
    path = tmp_path / "posts.csv"
    path.write_text(f'id,text,created_at\na,first,"{written}"\nb,kept,{TIME}\n', encoding="utf-8")
    result = cli("import", path)
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines() == [f"{path}:2: rejected: created_at: {written} {NUMBER_HINT}"]
    assert "1 inserted, 0 already present, 1 rejected" in result.stdout


@pytest.mark.parametrize("written, reason", [
    ("46086.58", "looks like an Excel date number"),  # its own hint stays
    ("not a date", "unrecognised timestamp 'not a date'"),
])
def test_other_bad_times_keep_their_reason(cli, tmp_path, monkeypatch, written, reason):
    monkeypatch.setenv("MENTIONWATCH_DB", str(tmp_path / "mentionwatch.db"))
    path = tmp_path / "posts.csv"
    path.write_text(f"id,text,created_at\na,first,{written}\n", encoding="utf-8")
    result = cli("import", path)
    assert reason in result.stderr and "spreadsheet program" not in result.stderr


# ---------------------------------------------------------------- post-crisis: the configured model


def _old_alert_with_two_models_scored(db) -> int:
    """A resolved alert stored before alerts kept their model, with no linked mentions; the
    configured model scored one mention, another model (the most used) two."""
    save_mentions(db, [Mention("forum", f"p{n}", f"acme post {n}", TIME, watches=("acme",))
                       for n in range(2)])
    ids = [row[0] for row in db.execute("SELECT id FROM mentions ORDER BY id")]
    db.conn.executemany("INSERT INTO scores VALUES (?, ?, 'negative', 0.9, 0.1, 0.0, ?)",
                        [(ids[0], CONFIGURED_ID, "2024-05-02T00:00:00Z"),
                         (ids[0], "most-used", "2024-05-03T00:00:00Z"),
                         (ids[1], "most-used", "2024-05-03T00:00:00Z")])
    cursor = db.conn.execute(
        "INSERT INTO alerts (watch, rule, status, severity, window_start, window_end, opened_at, "
        "updated_at, resolved_at) VALUES ('acme', 'spike', 'resolved', 'high', ?, ?, ?, ?, ?)",
        ["2024-05-01T07:00:00Z", "2024-05-01T09:00:00Z", "2024-05-01T09:00:00Z",
         "2024-05-01T09:00:00Z", "2024-05-01T12:00:00Z"])
    db.conn.commit()
    return cursor.lastrowid


def test_an_old_alert_reads_the_configured_model_when_it_has_scores(db):
    alert_id = _old_alert_with_two_models_scored(db)
    assert evaluate_alert(db, alert_id, sentiment_cfg=CONFIGURED)["model_id"] == CONFIGURED_ID
    assert evaluate_alert(db, alert_id)["model_id"] == "most-used"  # nothing configured


def test_a_configured_model_without_scores_falls_back_on_the_most_used(db):
    alert_id = _old_alert_with_two_models_scored(db)
    never_used = SentimentConfig(model="org/never-used")
    assert evaluate_alert(db, alert_id, sentiment_cfg=never_used)["model_id"] == "most-used"


def test_alerts_show_evaluates_with_the_watchlists_model(cli, tmp_path):
    db = open_db(tmp_path / "m.db")
    alert_id = _old_alert_with_two_models_scored(db)
    db.close()
    (tmp_path / "mentionwatch.yaml").write_text(
        "database: m.db\nsentiment:\n  model: org/configured-model\n"
        "watches:\n  - name: acme\n    query: {any: [acme]}\n", encoding="utf-8")
    result = cli("alerts", "show", alert_id)
    assert result.exit_code == 0, result.output
    assert f"(sentiment by {CONFIGURED_ID})" in result.stdout


def test_alerts_show_with_a_broken_watchlist_still_evaluates(cli, tmp_path):
    db = open_db(tmp_path / "m.db")
    alert_id = _old_alert_with_two_models_scored(db)
    db.close()
    (tmp_path / "mentionwatch.yaml").write_text("sentiment: {model: [\n", encoding="utf-8")
    result = cli("--db", tmp_path / "m.db", "alerts", "show", alert_id)
    assert result.exit_code == 0, result.output
    assert "(sentiment by most-used)" in result.stdout


# ---------------------------------------------------------------- command-line dates: no guessing


def test_command_line_dates_read_only_what_one_order_makes_a_date():
    from storage.timeutil import parse_given_time

    assert parse_given_time("25/03/2026") == "2026-03-25T00:00:00Z"
    assert parse_given_time("3/25/2026 2:02 PM") == "2026-03-25T14:02:00Z"
    assert parse_given_time("05.03.2026 14:02") == "2026-03-05T14:02:00Z"  # dots: day first
    assert parse_given_time("2026-03-05") == "2026-03-05T00:00:00Z"
    with pytest.raises(ValueError, match="write the date as YYYY-MM-DD"):
        parse_given_time("03/05/2026 14:02")  # was read as 3 May without a word
    with pytest.raises(ValueError, match="write the date as YYYY-MM-DD"):
        parse_given_time("03/05/2026 14:02 UTC")  # the zone's name does not make it a guess again
    assert parse_given_time("25/03/2026 14:02 UTC") == "2026-03-25T14:02:00Z"
    assert parse_given_time("25/03/2026 14:02 CET") == "2026-03-25T13:02:00Z"  # a zone after it: read in it
    assert parse_given_time("01/01/2026 00:00") == "2026-01-01T00:00:00Z"  # either order, one date
    assert parse_given_time("12/12/2026 14:02") == "2026-12-12T14:02:00Z"


@pytest.mark.parametrize("written", ["24-03-01", "25-06-30", "3/25/26", "03/05/2026 14:02 CET"])
def test_command_line_dates_that_could_be_misread_are_refused(written):
    """24-03-01 may be 2024-03-01 written year first: read as 24 March 2001 it erased everything
    before a date in the future (forget --before 25-06-30 --allow-again)."""
    from storage.timeutil import parse_given_time

    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_given_time(written)


@pytest.mark.parametrize("command", [
    ("export", "--out", "-", "--since"), ("search", "acme", "--since"),
    ("backtest", "--until", "2026-06-01", "--since"), ("detect", "--at")])
def test_an_ambiguous_date_on_the_command_line_is_one_line_error(cli, tmp_path, command):
    path = tmp_path / "m.db"
    open_db(path).close()
    result = cli("--db", path, *command, "03/05/2026 14:02")
    assert result.exit_code != 0
    assert "may be day/month or month/day: write the date as YYYY-MM-DD" in result.output
    assert "--date-order" not in result.output  # an option of import only
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- usage errors name the command


@pytest.mark.parametrize("args, help_of", [
    (("export", "--sentiment"), "mentionwatch export"),
    (("alerts", "list", "--status"), "mentionwatch alerts list"),
    (("bench", "nab", "--out"), "mentionwatch bench nab"),
])
def test_an_option_without_its_value_points_at_its_commands_help(cli, args, help_of):
    result = cli(*args, prog_name="mentionwatch")
    assert result.exit_code == 2
    assert result.output.strip().endswith(f"(see '{help_of} --help')"), result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_missing_choice_option_lists_the_choices_on_one_line_without_tabs(cli, tmp_path):
    open_db(tmp_path / "m.db").close()
    result = cli("--db", tmp_path / "m.db", "mark", "1", prog_name="mentionwatch")
    assert result.exit_code == 2
    assert "Choose from: flagged, handled, ignored (see 'mentionwatch mark --help')" in result.output
    assert "\t" not in result.output


# ---------------------------------------------------------------- new exports and logs are private


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


def test_a_new_output_file_is_private_an_existing_one_keeps_its_permissions(tmp_path):
    from mentionwatch.triage.atomic import replacing

    new = tmp_path / "alert-6.csv"
    with replacing(new) as temporary:
        temporary.write_text("mention_id\n")
    assert _mode(new) == 0o600  # under the usual umask it was 0644: posts and authors for anyone

    shared = tmp_path / "shared.csv"
    shared.write_text("old\n")
    shared.chmod(0o640)  # a team's group given access on purpose
    with replacing(shared) as temporary:
        temporary.write_text("new\n")
    assert _mode(shared) == 0o640 and shared.read_text() == "new\n"


def _log_twenty_lines(log_file) -> None:
    """The service's logging into `log_file` for 20 lines (rotated every 200 bytes by the tests),
    then the handlers of the test session back."""
    import logging

    from mentionwatch import logging_setup

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logging_setup.configure_logging("text", logging.INFO, log_file=log_file)
        for number in range(20):
            logging.getLogger("mentionwatch.service").info("job collect: ok (%d)", number)
        for handler in root.handlers:
            handler.close()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_the_service_log_file_is_private_and_stays_so_after_rotation(tmp_path, monkeypatch):
    from mentionwatch import logging_setup

    monkeypatch.setattr(logging_setup, "LOG_FILE_MAX_BYTES", 200)
    log_file = tmp_path / "mentionwatch.log"
    _log_twenty_lines(log_file)
    rotated = tmp_path / "mentionwatch.log.1"
    assert rotated.exists()  # it did rotate: the file in use now was created again
    assert _mode(log_file) == 0o600 and _mode(rotated) == 0o600


def test_a_log_file_shared_on_purpose_stays_shared_after_rotation(tmp_path, monkeypatch):
    from mentionwatch import logging_setup

    monkeypatch.setattr(logging_setup, "LOG_FILE_MAX_BYTES", 200)
    log_file = tmp_path / "mentionwatch.log"
    log_file.write_text("")
    log_file.chmod(0o640)  # a log shipper's group reads it
    _log_twenty_lines(log_file)
    assert (tmp_path / "mentionwatch.log.2").exists()
    assert _mode(log_file) == 0o640 and _mode(tmp_path / "mentionwatch.log.1") == 0o640


def test_an_imported_two_digit_year_date_that_reads_year_first_too_needs_the_order():
    """24-03-01: 24 March 2001, or 2024-03-01 written year first; no longer read as the first."""
    from storage.timeutil import parse_file_timestamp

    with pytest.raises(ValueError, match="may also be year/month/day: give --date-order"):
        parse_file_timestamp("24-03-01")
    assert parse_file_timestamp("24-03-01", "dmy") == "2001-03-24T00:00:00Z"  # the order given decides
    assert parse_file_timestamp("31/12/99") == "2099-12-31T00:00:00Z"  # no 99th day: one reading
    assert parse_file_timestamp("05.03.26") == "2026-03-05T00:00:00Z"  # dots: day first
