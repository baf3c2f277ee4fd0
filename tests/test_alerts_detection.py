"""Detection over a real SQLite database: alert rows, updates and escalation, per-source series,
threshold rules, model choice, and the alerts lifecycle commands."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

import numpy as np

from alerts.detect import backtest, run_detection
from mentionwatch.config import parse_config
from storage import Mention, save_mentions

START = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
MODEL = "test-model"
COMPLAINTS = ["checkout keeps failing", "refund never arrived", "app crashes on login", "support ignores me"]


def config_text(extra_alerts: str = "", per_source: bool = False, target_events: str = "") -> str:
    """A watchlist with watch acme and target ops; target_events ('opened, resolved'): what ops gets."""
    events = f", events: [{target_events}]" if target_events else ""
    return f"""
sentiment: {{model: builtin}}
alerts:
  warmup: 4d
  cooldown: 3h
  per_source: {str(per_source).lower()}
{extra_alerts}
notifications:
  - {{name: ops, url: "mwdetecttest://ops"{events}}}
watches:
  - name: acme
    query: {{any: [acme]}}
"""


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def add_stream(db, model_id: str, days: int = 8, burst: dict | None = None, seed: int = 0,
               watch: str = "acme") -> None:
    """A week of ordinary traffic (a few posts an hour, one in five negative), then bursts.

    burst: {hour offset: [(source, count), ...]} extra negative posts in that hour.
    """
    tag = "" if watch == "acme" else f"{watch}-"
    rng = np.random.default_rng(seed)
    mentions, labels = [], []
    for hour in range(days * 24):
        moment = START + dt.timedelta(hours=hour)
        for n in range(rng.poisson(4)):
            source = "reddit" if n % 2 else "mastodon"
            negative = rng.random() < 0.2
            text = f"acme {'is terrible today' if negative else 'shipped my parcel'} #{hour}-{n}"
            mentions.append(Mention(source, f"{tag}{hour}-{n}", text, iso(moment + dt.timedelta(minutes=n)),
                                    author=f"user{n}", watches=(watch,)))
            labels.append("negative" if negative else "positive")
        for source, count in (burst or {}).get(hour, []):
            for k in range(count):
                text = f"acme {COMPLAINTS[k % len(COMPLAINTS)]} (post {hour}-{source}-{k})"
                mentions.append(Mention(source, f"{tag}b{hour}-{source}-{k}", text,
                                        iso(moment + dt.timedelta(minutes=k % 60)), author=f"angry{k}",
                                        author_reach=10 * k, watches=(watch,)))
                labels.append("negative")
    save_mentions(db, mentions)
    ids = dict(db.execute("SELECT external_id, id FROM mentions").fetchall())
    probabilities = {"negative": (0.9, 0.05, 0.05), "positive": (0.05, 0.05, 0.9)}
    db.conn.executemany("INSERT OR IGNORE INTO scores VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [(ids[m.external_id], model_id, label, *probabilities[label], "2025-01-01T00:00:00Z")
                         for m, label in zip(mentions, labels)])
    db.conn.commit()


def test_burst_opens_one_alert_that_grows_and_escalates(db, model_id):
    config = parse_config(config_text())
    burst_hour = 6 * 24 + 10
    add_stream(db, model_id, burst={burst_hour: [("reddit", 15)], burst_hour + 1: [("reddit", 80)]})
    first_look = START + dt.timedelta(hours=burst_hour + 1)  # the end of the burst's first hour
    result = run_detection(db, config, now=first_look, notify=True)
    assert len(result.opened) == 1 and result.updated == []
    alert_id = result.opened[0]
    severity, observed, window_end = db.execute(
        "SELECT severity, observed, window_end FROM alerts WHERE id = ?", [alert_id]).fetchone()
    assert observed >= 15 and window_end == iso(first_look)

    second_look = first_look + dt.timedelta(hours=1)
    result = run_detection(db, config, now=second_look, notify=True)
    assert result.opened == [] and result.updated == [alert_id]
    new_severity, new_observed, new_end = db.execute(
        "SELECT severity, observed, window_end FROM alerts WHERE id = ?", [alert_id]).fetchone()
    assert new_observed >= 80 and new_end == iso(second_look)
    assert new_severity != severity
    kinds = [k for (k,) in db.execute("SELECT kind FROM alert_events WHERE alert_id = ? ORDER BY id", [alert_id])]
    assert kinds == ["opened", "escalated"]
    states = [s for (s,) in db.execute("SELECT state FROM notifications ORDER BY id")]
    assert states == [f"opened:{severity}", f"escalated:{new_severity}"]

    again = run_detection(db, config, now=second_look, notify=True)
    assert again.opened == [] and again.updated == []
    assert db.execute("SELECT count(*) FROM notifications").fetchone()[0] == 2


def test_every_negative_mention_of_a_big_burst_is_linked_to_its_alert(db, model_id):
    config = parse_config(config_text())
    burst_hour = 6 * 24 + 10
    add_stream(db, model_id, burst={burst_hour: [("reddit", 700)]})
    result = run_detection(db, config, now=START + dt.timedelta(hours=burst_hour + 1), notify=False)
    [alert_id] = result.opened
    start, end = db.execute("SELECT window_start, window_end FROM alerts WHERE id = ?", [alert_id]).fetchone()
    negatives_in_window = db.execute(
        "SELECT count(*) FROM mentions m JOIN scores s ON s.mention_id = m.id "
        "WHERE s.label = 'negative' AND m.created_at >= ? AND m.created_at < ?", [start, end]).fetchone()[0]
    linked = db.execute("SELECT count(*) FROM alert_mentions WHERE alert_id = ?", [alert_id]).fetchone()[0]
    assert negatives_in_window >= 700 and linked == negatives_in_window  # what export --alert hands over


def test_per_source_series_and_sources_in_the_explanation(db, model_id):
    config = parse_config(config_text(per_source=True))
    burst_hour = 6 * 24 + 3
    add_stream(db, model_id, burst={burst_hour: [("reddit", 40), ("mastodon", 2)]})
    result = run_detection(db, config, now=START + dt.timedelta(hours=burst_hour + 2), notify=False)
    assert result.checked == 3  # all sources together, reddit, mastodon
    opened = db.execute("SELECT source, explanation FROM alerts ORDER BY id").fetchall()
    assert [source for source, _ in opened] == [None, "reddit"]
    together = json.loads(opened[0][1])
    assert together["sources"]["reddit"] > together["sources"].get("mastodon", 0)
    assert {t["term"] for t in together["terms"]} & {"checkout", "refund", "crashes", "support", "failing"}
    reaches = [m["author_reach"] or 0 for m in together["top_mentions"]]
    assert reaches == sorted(reaches, reverse=True)  # the loudest voices first
    assert db.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0  # notify=False


def test_threshold_rule_and_backtest_store_nothing(db, model_id):
    config = parse_config(config_text(extra_alerts="  thresholds:\n    - {count: 6, window: 2h, severity: high}"))
    add_stream(db, model_id, burst={5 * 24 + 2: [("reddit", 4)], 5 * 24 + 3: [("reddit", 3)]})
    findings = backtest(db, config, START, START + dt.timedelta(days=8))
    rules = {f.rule for f in findings}
    assert "threshold:6 in 2h" in rules
    rule_hits = [f for f in findings if f.rule.startswith("threshold")]
    assert all(f.severity == "high" for f in rule_hits)
    assert any(f.window_start <= iso(START + dt.timedelta(hours=5 * 24 + 3)) < f.window_end for f in rule_hits)
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0


def test_only_the_configured_model_s_scores_are_read(db):
    """Detection does not fall back to another model's scores (as the triage commands do): alerts
    would change meaning with the model, so a watch scored only by another one is 'not checked'."""
    add_stream(db, "some-other-model", burst={6 * 24 + 4: [("reddit", 40)]})
    config = parse_config(config_text())
    result = run_detection(db, config, now=START + dt.timedelta(days=7), notify=False)
    assert (result.opened, result.checked, result.unchecked) == ([], 0, ["acme"])


def test_no_scores_means_nothing_to_check(db):
    config = parse_config(config_text())
    assert run_detection(db, config, now=START).checked == 0


def test_lifecycle_commands(cli, tmp_path, model_id):
    from storage import open_db

    (tmp_path / "mentionwatch.yaml").write_text(config_text() + "database: life.db\n")
    db = open_db(tmp_path / "life.db")
    add_stream(db, model_id, burst={6 * 24 + 5: [("reddit", 40)]})
    detected = cli("detect", "--no-notify", "--at", iso(START + dt.timedelta(hours=6 * 24 + 7)))
    assert detected.exit_code == 0, detected.output
    alert_id = db.execute("SELECT id FROM alerts").fetchone()[0]

    listed = cli("alerts", "list", "--status", "open")
    assert listed.exit_code == 0 and f"{alert_id}  open" in listed.stdout
    shown = cli("alerts", "show", alert_id)
    assert shown.exit_code == 0
    assert "Top negative mentions:" in shown.stdout and "Terms standing out:" in shown.stdout

    assert cli("alerts", "ack", alert_id, "--actor", "sam", "--note", "looking").exit_code == 0
    assert cli("alerts", "note", alert_id, "statement drafted", "--actor", "kim").exit_code == 0
    assert cli("alerts", "resolve", alert_id, "--actor", "sam", "--note", "fixed").exit_code == 0
    status, owner, acked, resolved = db.execute(
        "SELECT status, owner, acknowledged_at, resolved_at FROM alerts WHERE id = ?", [alert_id]).fetchone()
    assert (status, owner) == ("resolved", "sam") and acked and resolved
    events = db.execute("SELECT actor, kind, detail FROM alert_events WHERE alert_id = ? ORDER BY id",
                        [alert_id]).fetchall()
    assert events[1:] == [("sam", "acknowledged", "looking"), ("kim", "note", "statement drafted"),
                          ("sam", "resolved", "fixed")]
    shown = cli("alerts", "show", alert_id)
    assert "Post-crisis evaluation:" in shown.stdout and "resolved after" in shown.stdout
    assert "in the 7 days before" in shown.stdout and "None" not in shown.stdout

    again = cli("alerts", "resolve", alert_id)
    assert again.exit_code == 2
    assert again.output.strip() == f"Error: alert {alert_id} is already resolved"
    missing = cli("alerts", "ack", 999)
    assert missing.exit_code == 2 and "no alert with id 999" in missing.output
    assert "Traceback" not in missing.output
    bad_time = cli("backtest", "--since", "yesterday-ish", "--until", "2025-03-09")
    assert bad_time.exit_code == 2 and "unrecognised timestamp" in bad_time.output
    db.close()


def test_spike_and_threshold_rule_on_one_burst_make_one_alert(db, model_id):
    config = parse_config(config_text(extra_alerts="  thresholds:\n    - {count: 20, window: 1h, severity: critical}"))
    burst_hour = 6 * 24 + 8
    add_stream(db, model_id, burst={burst_hour: [("reddit", 22)]})  # a 'high' spike, and 20 within 1 h
    result = run_detection(db, config, now=START + dt.timedelta(hours=burst_hour + 2), notify=True)
    assert len(result.opened) == 1
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 1
    alert_id = result.opened[0]
    rule, severity = db.execute("SELECT rule, severity FROM alerts WHERE id = ?", [alert_id]).fetchone()
    assert (rule, severity) == ("spike", "critical")
    events = db.execute("SELECT kind, detail FROM alert_events WHERE alert_id = ? ORDER BY id", [alert_id]).fetchall()
    # both rules fired in the same hour: one 'opened' at the highest severity, naming both rules
    assert [kind for kind, _ in events] == ["opened"]
    assert "rules fired: spike, threshold:20 in 1h" in events[0][1]
    assert [s for (s,) in db.execute("SELECT state FROM notifications ORDER BY id")] == ["opened:critical"]


def test_backtest_lists_the_alerts_a_live_run_raises(db, model_id):
    config = parse_config(config_text(extra_alerts="  thresholds:\n    - {count: 20, window: 1h, severity: critical}"))
    first, second = 5 * 24 + 8, 6 * 24 + 20  # both rules on the first burst, the spike alone on the second
    add_stream(db, model_id, burst={first: [("reddit", 22)], second: [("mastodon", 15)]})
    end = START + dt.timedelta(hours=second + 3)
    replayed = backtest(db, config, START, end)
    moment = START + dt.timedelta(days=4)
    while moment <= end:  # a live service detecting every hour
        run_detection(db, config, now=moment, notify=False)
        moment += dt.timedelta(hours=1)
    live = db.execute("SELECT rule, severity, window_start, window_end FROM alerts ORDER BY id").fetchall()
    assert len(live) == 2
    assert [(f.rule, f.severity, f.window_start, f.window_end) for f in replayed] == live
    assert (replayed[0].opened_severity, replayed[0].escalations) == ("critical", [])  # both rules at once


def test_detect_says_what_it_could_not_check(cli, tmp_path, model_id):
    """Mentions imported into a watch the watchlist file lacks, or a --at far from the stored history,
    would otherwise give a silent 'Checked 0 series'."""
    from storage import open_db

    (tmp_path / "mentionwatch.yaml").write_text(config_text() + "database: hint.db\n")
    db = open_db(tmp_path / "hint.db")
    add_stream(db, model_id, days=2)
    save_mentions(db, [Mention("reddit", "g1", "globex broke again", iso(START), watches=("globex",)),
                       Mention("reddit", "g2", "globex is slow", iso(START), watches=("globex",))])

    in_range = cli("detect", "--no-notify", "--at", iso(START + dt.timedelta(days=2)))
    assert in_range.exit_code == 0, in_range.output
    assert "Checked 1 series" in in_range.output and "No scored mentions" not in in_range.output
    assert "Not checked, not a watch in mentionwatch.yaml: globex (2 mentions)." in in_range.output

    long_after = cli("detect", "--no-notify", "--at", iso(START + dt.timedelta(days=90)))
    assert long_after.exit_code == 0, long_after.output
    assert "Checked 0 series" in long_after.output
    assert "No scored mentions of acme in the 30 days before 2025-05-30T00:00:00Z" in long_after.output
    assert "mentionwatch score" not in long_after.output  # they are scored, only not in the period
    save_mentions(db, [Mention("reddit", "late", "acme again", iso(START + dt.timedelta(days=80)), watches=("acme",))])
    unscored = cli("detect", "--no-notify", "--at", iso(START + dt.timedelta(days=90)))
    assert "they have unscored mentions: `mentionwatch score`" in unscored.output

    replayed = cli("backtest", "--since", iso(START), "--until", iso(START + dt.timedelta(days=2)))
    assert "globex (2 mentions)" in replayed.output
    only_acme = cli("backtest", "--since", iso(START), "--until", iso(START + dt.timedelta(days=2)), "--watch", "acme")
    assert "globex" not in only_acme.output
    db.close()


def test_a_sensitivity_written_off_or_yes_is_refused():
    """Walkthrough 15: `sensitivity: off` was read as 0.0 without a word (spike alerts still on, for
    the largest spikes), `yes` as 1.0 (the faintest)."""
    import pytest

    from mentionwatch.config import ConfigError

    for written, read_as in (("off", "false"), ("yes", "true")):
        with pytest.raises(ConfigError, match=rf"alerts\.sensitivity: expected a number, got {written} \(YAML reads "
                                              rf"a bare {written} as {read_as}; to switch alerts off write enabled: false\)"):
            parse_config(config_text(f"  sensitivity: {written}"))
    with pytest.raises(ConfigError, match=r"alerts\.min_count: expected a number, got no \(YAML reads a bare no as false\)"):
        parse_config(config_text("  min_count: no"))
    assert parse_config(config_text("  sensitivity: 1")).alerts.sensitivity == 1.0
    # sixth review: a strict number took neither a ${VAR} (text) nor 5e-1 (which YAML reads as text)
    assert parse_config(config_text("  sensitivity: 5e-1")).alerts.sensitivity == 0.5
    with pytest.raises(ConfigError, match=r"sentiment\.batch_size: expected a number, got yes"):
        parse_config(config_text().replace("sentiment: {model: builtin}", "sentiment: {model: builtin, batch_size: yes}"))


def test_a_sensitivity_from_a_variable_is_read(monkeypatch):
    monkeypatch.setenv("MW_TEST_SENSITIVITY", "0.7")
    assert parse_config(config_text("  sensitivity: ${MW_TEST_SENSITIVITY}")).alerts.sensitivity == 0.7


def test_two_threshold_rules_alike_are_refused():
    """Walkthrough 14a: two rules named 'flood' were both shown as threshold:flood."""
    import pytest

    from mentionwatch.config import ConfigError

    with pytest.raises(ConfigError, match=r"alerts\.thresholds\[1\]\.name: a second threshold rule called "
                                          r"'flood': alerts name their rule, so give each its own name"):
        parse_config(config_text("  thresholds: [{name: flood, count: 20}, {name: flood, count: 50}]"))
    for second in ("Flood", "'flood '"):  # shown alike in an alert list
        with pytest.raises(ConfigError, match=r"alerts\.thresholds\[1\]\.name: a second threshold rule called "):
            parse_config(config_text(f"  thresholds: [{{name: flood, count: 20}}, {{name: {second}, count: 50}}]"))


def test_a_watch_s_own_threshold_rules_are_applied(db, model_id):
    from alerts.detect import findings_for_series, watch_series

    text = config_text() + "    alerts:\n      thresholds:\n        - {count: 20, window: 2h, name: surge}\n"
    settings = parse_config(text).alert_settings("acme")
    burst_hour = 6 * 24 + 8
    add_stream(db, model_id, burst={burst_hour: [("reddit", 12)], burst_hour + 1: [("reddit", 12)]})
    until = START + dt.timedelta(hours=burst_hour + 4)
    rules = {finding.rule for series in watch_series(db, "acme", settings, model_id, START, until)
             for finding in findings_for_series(series, settings)}
    assert "threshold:surge" in rules  # 24 in 2 hours; the watch's rules were plain dicts before


# ------------------------------------------------ what a PR analyst walking through the README found

LONG_WATCH = "globex-customer-care-emea-north"


def two_watch_setup(cli, tmp_path, model_id, acme_burst: dict, globex_burst: dict, extra_alerts: str = ""):
    """acme and a watch with a long name, each with its own stream, in a config the CLI reads."""
    from storage import open_db

    (tmp_path / "mentionwatch.yaml").write_text(
        config_text(extra_alerts) + f"  - name: {LONG_WATCH}\n    query: {{any: [globex]}}\ndatabase: two.db\n")
    db = open_db(tmp_path / "two.db")
    add_stream(db, model_id, burst=acme_burst)
    add_stream(db, model_id, burst=globex_burst, watch=LONG_WATCH, seed=1)
    return db


def _rows(output: str, watch: str) -> list[str]:
    return [line for line in output.splitlines() if f" {watch} " in line]


def test_backtest_and_alerts_list_take_the_watch_option_repeated(cli, tmp_path, model_id):
    burst = 6 * 24 + 5
    db = two_watch_setup(cli, tmp_path, model_id, {burst: [("reddit", 40)]}, {burst + 20: [("reddit", 40)]})
    period = ("--since", iso(START), "--until", iso(START + dt.timedelta(days=8)))
    both = cli("backtest", *period, "--watch", "acme", "--watch", LONG_WATCH)
    assert both.exit_code == 0, both.output
    assert "2 alert(s)" in both.stdout
    assert _rows(both.stdout, "acme") and _rows(both.stdout, LONG_WATCH)

    assert cli("detect", "--at", iso(START + dt.timedelta(days=8))).exit_code == 0
    listed = cli("alerts", "list", "--watch", "acme", "--watch", LONG_WATCH)
    assert listed.exit_code == 0, listed.output
    assert _rows(listed.stdout, "acme") and _rows(listed.stdout, LONG_WATCH)
    only_one = cli("alerts", "list", "--watch", LONG_WATCH)
    assert _rows(only_one.stdout, LONG_WATCH) and not _rows(only_one.stdout, "acme")
    db.close()


def test_backtest_replays_a_watch_with_alerts_off_when_it_is_named(cli, tmp_path, model_id):
    """Walkthrough 14a: backtest is for tuning rules before switching alerts on, but a watch with
    `alerts: {enabled: false}` got 'No alerts would have been raised', without a word."""
    burst = 6 * 24 + 5
    db = two_watch_setup(cli, tmp_path, model_id, {burst: [("reddit", 40)]}, {burst + 20: [("reddit", 40)]})
    watchlist = tmp_path / "mentionwatch.yaml"
    watchlist.write_text(watchlist.read_text().replace(
        f"  - name: {LONG_WATCH}\n", f"  - name: {LONG_WATCH}\n    alerts: {{enabled: false}}\n"))
    period = ("--since", iso(START), "--until", iso(START + dt.timedelta(days=8)))
    every = cli("backtest", *period)
    assert every.exit_code == 0, every.output
    assert (f"Alerts are off (alerts.enabled: false) for {LONG_WATCH}: not replayed; name a watch with "
            "--watch to replay its rules all the same.") in every.stdout
    assert _rows(every.stdout, "acme") and not _rows(every.stdout, LONG_WATCH)
    named = cli("backtest", *period, "--watch", LONG_WATCH)
    assert named.exit_code == 0 and "1 alert(s)" in named.stdout and _rows(named.stdout, LONG_WATCH)
    assert "Alerts are off" not in named.stdout
    db.close()


def test_alerts_list_never_cuts_names_and_sorts_by_the_opening_time_it_shows(cli, tmp_path, model_id):
    first = 6 * 24 + 5
    long_incident = {first + hour: [("reddit", 40)] for hour in range(6)}  # opened first, ends last
    db = two_watch_setup(cli, tmp_path, model_id, long_incident, {first + 2: [("reddit", 40)]})
    assert cli("detect", "--at", iso(START + dt.timedelta(days=8))).exit_code == 0
    listed = cli("alerts", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0] == "2 alert(s), most recently opened first:"
    assert lines[1].split()[:4] == ["id", "status", "severity", "opened"]
    assert [line.split()[4] for line in lines[2:]] == [LONG_WATCH, "acme"]  # the later opening first
    opened = [line.split()[3] for line in lines[2:]]
    assert opened == sorted(opened, reverse=True)
    replayed = cli("backtest", "--since", iso(START), "--until", iso(START + dt.timedelta(days=8)))
    assert _rows(replayed.stdout, LONG_WATCH)
    db.close()


def test_backtest_lists_an_incident_going_on_at_since(cli, tmp_path, model_id):
    """Three hours of bursts from hour `burst`: a period starting at the peak hour still shows it."""
    burst = 6 * 24 + 14
    db = two_watch_setup(cli, tmp_path, model_id, {burst + hour: [("reddit", 30)] for hour in range(3)}, {})
    opened = START + dt.timedelta(hours=burst + 1)  # the end of the first hot hour
    at_opening = cli("backtest", "--since", iso(opened), "--until", iso(opened + dt.timedelta(hours=3)),
                     "--watch", "acme")
    assert "1 alert(s)" in at_opening.stdout and "opened before --since" not in at_opening.stdout
    later = cli("backtest", "--since", iso(opened + dt.timedelta(hours=1)),
                "--until", iso(opened + dt.timedelta(hours=3)), "--watch", "acme")
    assert "1 alert(s)" in later.stdout, later.output
    [row] = _rows(later.stdout, "acme")
    assert row.startswith(iso(opened)) and row.endswith("opened before --since")
    db.close()


def test_backtest_period_includes_since_and_excludes_until(db, model_id):
    config = parse_config(config_text())
    burst = 6 * 24 + 5
    add_stream(db, model_id, burst={burst: [("reddit", 40)]})
    opened = START + dt.timedelta(hours=burst + 1)
    assert backtest(db, config, opened - dt.timedelta(hours=3), opened) == []
    [alert] = backtest(db, config, opened, opened + dt.timedelta(hours=3))
    assert alert.opened_at == iso(opened)


def _finding(rule: str, opened_at: str, severity: str, escalations=(), window=("2015-02-22T16:00:00Z",
                                                                                 "2015-02-23T02:00:00Z")):
    from alerts.detect import Finding

    return Finding(watch="delta", source=None, rule=rule, window_start=window[0], window_end=window[1],
                   observed=30.0, expected=5.0, score=10.0,
                   severity=escalations[-1][1] if escalations else severity, opened_at=opened_at,
                   opened_severity=severity, escalations=list(escalations), live=False,
                   peak_start=window[0], peak_end=window[1], rules=(rule,))


def test_merged_escalations_are_the_ones_a_live_run_makes_in_time_order():
    from alerts.detect import merged_alerts

    spike = _finding("spike", "2015-02-22T16:00:00Z", "low", [("2015-02-22T23:00:00Z", "medium")])
    rule = _finding("threshold:20 in 1h", "2015-02-22T17:00:00Z", "high")
    [alert] = merged_alerts([spike, rule])
    assert (alert.opened_at, alert.opened_severity) == ("2015-02-22T16:00:00Z", "low")
    assert alert.escalations == [("2015-02-22T17:00:00Z", "high")]  # medium at 23:00 never happens
    assert alert.severity == "high" and alert.rules == ("spike", "threshold:20 in 1h")

    same_hour = _finding("spike", "2015-02-22T17:00:00Z", "medium")
    [alert] = merged_alerts([same_hour, rule])
    assert (alert.opened_severity, alert.escalations) == ("high", [])  # one opening, at the highest


def test_detect_names_the_watches_it_could_not_check_even_when_it_checked_others(cli, tmp_path, model_id):
    from storage import open_db

    (tmp_path / "mentionwatch.yaml").write_text(
        config_text() + "  - name: globex\n    query: {any: [globex]}\ndatabase: some.db\n")
    db = open_db(tmp_path / "some.db")
    add_stream(db, model_id, days=2)
    result = cli("detect", "--at", iso(START + dt.timedelta(days=2)))
    assert result.exit_code == 0, result.output
    assert "Checked 1 series" in result.stdout
    [line] = [line for line in result.stdout.splitlines() if "globex" in line]
    assert line == "No mentions of globex yet."
    db.close()


def test_an_alert_opens_when_its_first_hot_hour_ends_not_when_detection_ran(db, model_id):
    from alerts.lifecycle import acknowledge
    from alerts.postcrisis import evaluate_alert

    config = parse_config(config_text())
    burst = 6 * 24 + 5
    add_stream(db, model_id, burst={burst: [("reddit", 40)], burst + 1: [("reddit", 40)]})
    [alert_id] = run_detection(db, config, now=START + dt.timedelta(days=8), notify=False).opened
    opened_at = db.execute("SELECT opened_at FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
    assert opened_at == iso(START + dt.timedelta(hours=burst + 1))

    acknowledge(db, alert_id, "sam")  # today: the alert was found by a replay of 2025
    figures = evaluate_alert(db, alert_id)
    assert 0 <= figures["time_to_acknowledge_s"] < 60  # counted from when it was recorded
    assert "when it was recorded" in figures["summary"]


def test_an_alert_found_mid_hour_opens_at_the_time_of_the_run(db, model_id):
    config = parse_config(config_text())
    burst = 6 * 24 + 5
    add_stream(db, model_id, burst={burst: [("reddit", 40)]})
    moment = START + dt.timedelta(hours=burst, minutes=45)  # 40 posts at minutes 0-39: hot already
    [alert_id] = run_detection(db, config, now=moment, notify=False).opened
    assert db.execute("SELECT opened_at FROM alerts WHERE id = ?", [alert_id]).fetchone()[0] == iso(moment)


def test_a_replay_notifies_nobody_unless_asked(cli, tmp_path, model_id):
    from storage import open_db

    (tmp_path / "mentionwatch.yaml").write_text(config_text() + "database: replay.db\n")
    db = open_db(tmp_path / "replay.db")
    burst = 6 * 24 + 5
    add_stream(db, model_id, burst={burst: [("reddit", 40)]})
    during = iso(START + dt.timedelta(hours=burst + 1))  # the incident is still going on then
    replay = cli("detect", "--at", during)
    assert replay.exit_code == 0, replay.output
    assert "1 alert(s) opened" in replay.stdout
    assert "no notifications queued or sent; add --notify to send them" in replay.stdout
    assert db.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0

    db.execute("DELETE FROM alert_mentions")
    db.execute("DELETE FROM alert_events")
    db.execute("DELETE FROM alerts")
    db.conn.commit()
    asked = cli("detect", "--at", during, "--notify")
    assert asked.exit_code == 0, asked.output
    assert "add --notify" not in asked.stdout
    assert [s.split(":")[0] for (s,) in db.execute("SELECT state FROM notifications")] == ["opened"]
    db.close()


def test_threshold_alerts_are_worded_against_their_rule_and_fire_during_warm_up(cli, tmp_path, model_id):
    """Day 2 is inside the 4-day warm-up: the spike rule is silent, the fixed threshold fires."""
    from alerts.notify import message_for
    from storage import open_db

    rule = "  thresholds:\n    - {count: 20, window: 1h, severity: high}"
    (tmp_path / "mentionwatch.yaml").write_text(config_text(rule) + "database: rule.db\n")
    db = open_db(tmp_path / "rule.db")
    burst = 2 * 24 + 10
    add_stream(db, model_id, days=3, burst={burst: [("reddit", 25)]})
    assert cli("detect", "--at", iso(START + dt.timedelta(days=3))).exit_code == 0
    alert_id, rule_name, opened_at = db.execute("SELECT id, rule, opened_at FROM alerts").fetchone()
    assert rule_name == "threshold:20 in 1h" and opened_at < iso(START + dt.timedelta(days=4))

    peak = f"({iso(START + dt.timedelta(hours=burst))} -> {iso(START + dt.timedelta(hours=burst + 1))})"
    shown = cli("alerts", "show", alert_id).stdout
    assert f"negative mentions in 1h at peak {peak}, rule: at least 20 in 1h" in shown
    assert "expected" not in shown and "score" not in shown
    assert "one level up each time the peak doubles past the rule's count" in shown
    [row] = _rows(cli("alerts", "list").stdout, "acme")
    assert re.search(r" threshold:20 in 1h +\d+ +- +\d{4}-", row)  # peak count, and no expected count
    title, body = message_for(db, alert_id, "opened:high")
    assert "over a threshold" in title and "spike" not in title
    assert "rule: at least 20 in 1h" in body and "expected" not in body
    reported = cli("report", "--since", iso(START), "--until", iso(START + dt.timedelta(days=3)), "--out", "rep")
    assert reported.exit_code == 0, reported.output
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert f"{peak}, rule: at least 20 in 1h".replace(">", "&gt;") in html and "vs expected" not in html
    db.close()


def _two_alerts(cli, tmp_path, model_id):
    from storage import open_db

    (tmp_path / "mentionwatch.yaml").write_text(config_text() + "database: life2.db\n")
    db = open_db(tmp_path / "life2.db")
    add_stream(db, model_id, burst={6 * 24 + 5: [("reddit", 40)], 7 * 24 + 5: [("reddit", 40)]})
    assert cli("detect", "--at", iso(START + dt.timedelta(days=8))).exit_code == 0
    return db, [i for (i,) in db.execute("SELECT id FROM alerts ORDER BY id")]


def test_acknowledging_for_someone_else_shows_the_handover(cli, tmp_path, model_id):
    db, (alert_id, _other) = _two_alerts(cli, tmp_path, model_id)
    assert cli("alerts", "ack", alert_id, "--actor", "root", "--owner", "sam", "--note", "yours").exit_code == 0
    shown = cli("alerts", "show", alert_id).stdout
    assert "acknowledged root: owner sam; yours" in " ".join(shown.split())
    db.close()


def test_an_owner_with_a_bidi_override_is_printed_escaped(cli, tmp_path, model_id):
    """Walkthrough 14a: `alerts ack --owner` and `status` printed U+202E raw (the terminal then
    shows the line in another order); `alerts list` and `show` escaped it."""
    db, (alert_id, _other) = _two_alerts(cli, tmp_path, model_id)
    acked = cli("alerts", "ack", alert_id, "--owner", "bi\u202edi")
    assert acked.exit_code == 0 and "\u202e" not in acked.output
    assert f"Alert #{alert_id} acknowledged, owner bi\\u202edi." in acked.output
    status = cli("status").output
    assert "\u202e" not in status and "owner bi\\u202edi" in status
    db.close()


def test_an_alert_resolved_without_acknowledgement_is_not_acknowledged(cli, tmp_path, model_id):
    db, (_one, alert_id) = _two_alerts(cli, tmp_path, model_id)
    assert cli("alerts", "resolve", alert_id, "--actor", "kim").exit_code == 0
    assert db.execute("SELECT acknowledged_at FROM alerts WHERE id = ?", [alert_id]).fetchone()[0] is None
    shown = cli("alerts", "show", alert_id).stdout
    assert "not acknowledged, resolved after" in shown and "acknowledged after" not in shown
    db.close()


def _resolve_at(db, alert_id: int, moment: dt.datetime) -> None:
    """Resolve the alert as if at `moment` (the lifecycle stamps the clock's time)."""
    from alerts.lifecycle import resolve

    resolve(db, alert_id, "sam")
    db.execute("UPDATE alerts SET resolved_at = ? WHERE id = ?", [iso(moment), alert_id])
    db.conn.commit()


def test_a_new_wave_after_resolution_opens_a_new_alert_even_within_the_cooldown(db, model_id):
    config = parse_config(config_text())  # cooldown 3h: the detector sees one incident
    first, wave = 6 * 24 + 5, 6 * 24 + 7
    add_stream(db, model_id, burst={first: [("reddit", 40)], wave: [("reddit", 120)]})
    [resolved_id] = run_detection(db, config, now=START + dt.timedelta(hours=first + 1)).opened
    resolved_at = START + dt.timedelta(hours=first + 1, minutes=30)
    _resolve_at(db, resolved_id, resolved_at)
    quiet = run_detection(db, config, now=START + dt.timedelta(hours=first + 2))
    assert quiet.opened == [] and quiet.updated == []  # what came before the resolution stays closed

    later = START + dt.timedelta(hours=wave + 1)
    [new_id] = run_detection(db, config, now=later).opened
    window_start, observed, status = db.execute(
        "SELECT window_start, observed, status FROM alerts WHERE id = ?", [new_id]).fetchone()
    assert window_start >= iso(resolved_at) and status == "open"
    assert 120 <= observed < 160  # the wave's hour, not the first burst's 40 posts
    linked = db.execute("SELECT min(m.created_at) FROM alert_mentions a JOIN mentions m ON m.id = a.mention_id "
                        "WHERE a.alert_id = ?", [new_id]).fetchone()[0]
    assert linked >= iso(resolved_at)
    opened = db.execute("SELECT detail FROM alert_events WHERE alert_id = ? AND kind = 'opened'", [new_id]).fetchone()
    assert f"after alert #{resolved_id} was resolved" in opened[0]
    states = db.execute("SELECT alert_id, state FROM notifications ORDER BY id").fetchall()
    assert [alert_id for alert_id, state in states if state.startswith("opened")] == [resolved_id, new_id]
    assert db.execute("SELECT status FROM alerts WHERE id = ?", [resolved_id]).fetchone()[0] == "resolved"

    again = run_detection(db, config, now=later)  # the same data: no alert opens twice
    assert again.opened == [] and again.updated == []
    assert run_detection(db, config, now=later + dt.timedelta(hours=1)).opened == []
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 2
    [replayed] = backtest(db, config, START, later)  # a replay knows no resolutions: one incident
    assert replayed.window_start < iso(resolved_at)


def test_a_threshold_alert_escalates_as_its_peak_doubles_past_the_rule(db, model_id):
    rule = "  thresholds:\n    - {count: 20, window: 1h, severity: medium}"
    config = parse_config(config_text(rule))
    burst = 2 * 24 + 10  # inside the warm-up: the spike rule is silent
    add_stream(db, model_id, days=3, burst={burst: [("reddit", 25)], burst + 1: [("reddit", 90)]})
    [alert_id] = run_detection(db, config, now=START + dt.timedelta(hours=burst + 1)).opened
    assert db.execute("SELECT severity FROM alerts WHERE id = ?", [alert_id]).fetchone()[0] == "medium"
    grown = run_detection(db, config, now=START + dt.timedelta(hours=burst + 2))
    assert grown.updated == [alert_id]
    # 90+ in the hour is over 4x the rule's 20: two doublings, two levels up
    assert db.execute("SELECT severity FROM alerts WHERE id = ?", [alert_id]).fetchone()[0] == "critical"
    states = [s for (s,) in db.execute("SELECT state FROM notifications ORDER BY id")]
    assert states == ["opened:medium", "escalated:critical"]
    [replayed] = backtest(db, config, START, START + dt.timedelta(days=3))
    assert (replayed.opened_severity, [s for _at, s in replayed.escalations]) == ("medium", ["critical"])


def test_chinese_terms_standing_out_are_character_pairs_not_whole_sentences():
    from alerts.explain import over_represented_terms, words

    alert = ["等了三个小时都没人理", "客服等了两个小时，没人理", "客服电话没人接", "退款三天了还没到账，客服没人理"]
    baseline = ["酒店很好，房间干净", "外卖很快，味道不错", "服务态度很好"] * 5
    terms = [t["term"] for t in over_represented_terms(alert, baseline)]
    assert {"客服", "没人", "小时"} <= set(terms)
    assert "等了三个小时都没人理" not in terms and all(len(term) == 2 for term in terms)
    assert words("ACME checkout keeps failing, it's awful") == {"acme", "checkout", "keeps", "failing", "awful"}


def test_an_alert_summary_names_its_window_in_utc_and_says_since_while_it_goes_on():
    from alerts.detect import Finding, _window_words

    def finding(start, end):
        return Finding(watch="acme", source=None, rule="spike", window_start=start, window_end=end,
                       observed=9, expected=1, score=6, severity="low", opened_at=start,
                       opened_severity="low", escalations=[], live=True, peak_start=start, peak_end=end)

    later = dt.datetime(2015, 2, 24, tzinfo=dt.timezone.utc)
    assert _window_words(finding("2015-02-22T17:00:00Z", "2015-02-22T23:00:00Z"), later) == \
        "between 2015-02-22 17:00 and 23:00 UTC"
    assert _window_words(finding("2015-02-22T17:00:00Z", "2015-02-23T01:00:00Z"), later) == \
        "between 2015-02-22 17:00 and 2015-02-23 01:00 UTC"
    during_last_hour = dt.datetime(2015, 2, 22, 22, 30, tzinfo=dt.timezone.utc)
    assert _window_words(finding("2015-02-22T17:00:00Z", "2015-02-22T23:00:00Z"), during_last_hour) == \
        "since 2015-02-22 17:00 UTC"


def test_a_replay_words_its_summary_as_of_the_time_it_looks_from(db, model_id):
    """`detect --at` during a burst's first hour: the hour is not over at that time, whatever the clock says."""
    config = parse_config(config_text())
    burst_hour = START + dt.timedelta(hours=6 * 24 + 10)
    add_stream(db, model_id, burst={6 * 24 + 10: [("reddit", 40)]})  # minutes 0 to 39 of the hour
    [alert_id] = run_detection(db, config, now=burst_hour + dt.timedelta(minutes=45), notify=False).opened
    explanation, window_end = db.execute("SELECT explanation, window_end FROM alerts WHERE id = ?",
                                         [alert_id]).fetchone()
    assert window_end == iso(burst_hour + dt.timedelta(hours=1))
    assert f" since {burst_hour:%Y-%m-%d %H:%M} UTC; " in json.loads(explanation)["summary"]


def test_an_alert_seen_mid_hour_is_described_again_once_its_hour_is_over(db, model_id):
    """Walkthrough 14a: a run at 10:30 stored '… since 10:00' with the posts up to 10:30; a later run
    changed nothing else (same window end, severity, score), so the summary, the sources and the
    linked posts stopped at 10:30 for good, and `export --alert` missed the rest of the hour."""
    config = parse_config(config_text())
    burst_hour = START + dt.timedelta(hours=6 * 24 + 10)
    # the peak hour, then a smaller hot hour (minutes 0 to 49) that is going on at the first run
    add_stream(db, model_id, burst={6 * 24 + 10: [("reddit", 80)], 6 * 24 + 11: [("reddit", 50)]})
    [alert_id] = run_detection(db, config, now=burst_hour + dt.timedelta(minutes=80), notify=False).opened

    def linked() -> int:
        return db.execute("SELECT count(*) FROM alert_mentions WHERE alert_id = ?", [alert_id]).fetchone()[0]

    early = linked()
    burst_peak = json.loads(db.execute("SELECT explanation FROM alerts").fetchone()[0])["summary"]
    assert " negative mentions in 1h at peak" in burst_peak, burst_peak  # the peak hour is over
    later = run_detection(db, config, now=burst_hour + dt.timedelta(hours=4), notify=False)
    assert later.opened == [] and later.updated == []  # nothing new happened to the incident
    start, end, explanation = db.execute("SELECT window_start, window_end, explanation FROM alerts WHERE id = ?",
                                         [alert_id]).fetchone()
    negatives_in_window = db.execute(
        "SELECT count(*) FROM mentions m JOIN scores s ON s.mention_id = m.id "
        "WHERE s.label = 'negative' AND m.created_at >= ? AND m.created_at < ?", [start, end]).fetchone()[0]
    assert early < 130 <= negatives_in_window == linked()
    summary = json.loads(explanation)["summary"]
    assert " since " not in summary and f"{negatives_in_window} negative mentions" in summary, summary
    assert [k for (k,) in db.execute("SELECT kind FROM alert_events WHERE alert_id = ?", [alert_id])] == ["opened"]


def test_a_peak_seen_mid_hour_says_its_count_is_part_of_the_hour(db, model_id):
    """Left alone last session: a spike found 21 seconds into its hour read '58 in 21s at peak,
    2 expected', against an hourly expectation."""
    config = parse_config(config_text())
    burst_hour = START + dt.timedelta(hours=6 * 24 + 10)
    add_stream(db, model_id, burst={6 * 24 + 10: [("reddit", 40)]})  # minutes 0 to 39
    run_detection(db, config, now=burst_hour + dt.timedelta(minutes=30, seconds=30), notify=False)
    summary = json.loads(db.execute("SELECT explanation FROM alerts").fetchone()[0])["summary"]
    assert " negative mentions in the first 30 min of 1h at peak (" in summary, summary
    assert " expected in 1h (" in summary, summary
    run_detection(db, config, now=burst_hour + dt.timedelta(hours=4), notify=False)  # caught up
    summary = json.loads(db.execute("SELECT explanation FROM alerts").fetchone()[0])["summary"]
    assert " negative mentions in 1h at peak (" in summary and "expected in" not in summary, summary


def test_an_alert_described_before_seen_until_is_left_as_it_was(db, model_id):
    """Second review: an alert stored before the explanation kept seen_until was described again by
    any run, a replay at 11:30 too, which cut its full description down to '… since 10:00'."""
    config = parse_config(config_text())
    burst_hour = START + dt.timedelta(hours=6 * 24 + 10)
    add_stream(db, model_id, burst={6 * 24 + 10: [("reddit", 80)], 6 * 24 + 11: [("reddit", 50)]})
    [alert_id] = run_detection(db, config, now=burst_hour + dt.timedelta(hours=4), notify=False).opened
    explanation = json.loads(db.execute("SELECT explanation FROM alerts").fetchone()[0])
    del explanation["seen_until"]
    with db.conn:
        db.execute("UPDATE alerts SET explanation = ?", [json.dumps(explanation, ensure_ascii=False)])
    before = db.execute("SELECT explanation, updated_at FROM alerts").fetchone()
    linked = db.execute("SELECT count(*) FROM alert_mentions WHERE rank IS NOT NULL").fetchone()[0]
    run_detection(db, config, now=burst_hour + dt.timedelta(minutes=90), notify=False)  # detect --at
    assert db.execute("SELECT explanation, updated_at FROM alerts").fetchone() == before
    assert db.execute("SELECT count(*) FROM alert_mentions WHERE rank IS NOT NULL").fetchone()[0] == linked


def test_a_catch_up_by_another_rule_keeps_the_peak_its_count_was_taken_over(db, model_id):
    """Second review: a threshold alert found at 10:20 ('22 in 20m at peak') was caught up by a
    spike finding: its peak grew to the whole hour while its count stayed 22 ('22 in 1h')."""
    from alerts.explain import peak_text

    config = parse_config(config_text("  min_count: 30\n  thresholds: [{count: 12, window: 1h, severity: critical}]"))
    burst_hour = START + dt.timedelta(hours=6 * 24 + 10)
    add_stream(db, model_id, burst={6 * 24 + 10: [("reddit", 40)]})
    [alert_id] = run_detection(db, config, now=burst_hour + dt.timedelta(minutes=20), notify=False).opened
    rule, observed, first = db.execute("SELECT rule, observed, explanation FROM alerts").fetchone()
    assert rule.startswith("threshold:")
    run_detection(db, config, now=burst_hour + dt.timedelta(hours=4), notify=False)
    rule_now, observed_now, later = db.execute("SELECT rule, observed, explanation FROM alerts").fetchone()
    peak_before, peak_after = json.loads(first)["peak"], json.loads(later)["peak"]
    assert (rule_now, observed_now) == (rule, observed)
    assert (peak_after["start"], peak_after["end"]) == (peak_before["start"], peak_before["end"])
    assert peak_text(rule, observed, 12, 0, peak_after).startswith(f"{observed:g} negative mentions in 20m at peak")


def test_a_rerun_with_a_longer_cooldown_widens_the_newest_alert_backwards(db, model_id):
    """Walkthrough 14a: two bursts 4 hours apart are two alerts with a 3-hour cooldown; re-run with
    6 hours they are one incident, and the README says the newest alert's window grows over it.
    It stayed as it was: a window growing only backwards counted as no change."""
    burst = 6 * 24 + 10
    # the second burst is the bigger: the wider incident has its peak, so only its start is new
    add_stream(db, model_id, burst={burst: [("reddit", 60)], burst + 4: [("reddit", 80)]})
    after = START + dt.timedelta(hours=burst + 12)
    first, second = run_detection(db, parse_config(config_text()), now=after, notify=False).opened
    looser = parse_config(config_text().replace("cooldown: 3h", "cooldown: 6h"))
    result = run_detection(db, looser, now=after, notify=False)
    assert result.opened == [] and result.updated == [second]
    windows = dict(db.execute("SELECT id, window_start FROM alerts").fetchall())
    assert windows[second] == windows[first] == iso(START + dt.timedelta(hours=burst))
    assert run_detection(db, looser, now=after, notify=False).updated == []  # and only once


def test_backtest_leaves_out_an_escalation_made_at_until(db, model_id):
    """--until is not included: a change a live run would make at --until is outside the period,
    and the severity listed is the one reached before it."""
    config = parse_config(config_text())
    burst = 6 * 24 + 10
    add_stream(db, model_id, burst={burst: [("reddit", 15)], burst + 1: [("reddit", 80)]})
    opened, escalated = (START + dt.timedelta(hours=burst + h) for h in (1, 2))
    [whole] = backtest(db, config, opened, escalated + dt.timedelta(hours=1))
    assert [at for at, _severity in whole.escalations] == [iso(escalated)]
    [cut] = backtest(db, config, opened, escalated)
    assert cut.opened_at == iso(opened) and cut.escalations == []
    assert cut.severity == cut.opened_severity == whole.opened_severity != whole.severity


def test_backtest_with_an_empty_day_gives_the_whole_day_hint(cli, tmp_path):
    (tmp_path / "mentionwatch.yaml").write_text(config_text())
    result = cli("backtest", "--since", "2015-02-22", "--until", "2015-02-22")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.strip().endswith(
        "(a date means midnight at its start and --until is not included: use --until 2015-02-23 "
        "for the whole of 2015-02-22)")


def test_an_incident_a_replay_stored_is_announced_by_the_next_run_while_it_goes_on(db, model_id):
    """`detect --at` a few minutes back (or --no-notify) stores the alert quietly; the next notifying
    run finds it unchanged, and must still tell the team about an incident that is going on."""
    config = parse_config(config_text())
    burst = 6 * 24 + 5
    add_stream(db, model_id, burst={burst: [("reddit", 40)]})
    during = START + dt.timedelta(hours=burst + 1)
    [alert_id] = run_detection(db, config, now=during, notify=False).opened
    assert db.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0

    later = run_detection(db, config, now=during + dt.timedelta(minutes=5), notify=True)
    assert later.opened == []
    states = [s for (s,) in db.execute("SELECT state FROM notifications WHERE alert_id = ?", [alert_id])]
    assert [s.split(":")[0] for s in states] == ["opened"]
    run_detection(db, config, now=during + dt.timedelta(minutes=10), notify=True)
    assert db.execute("SELECT count(*) FROM notifications").fetchone()[0] == 1  # not twice


def test_an_incident_over_when_the_next_run_comes_is_not_announced_late(db, model_id):
    config = parse_config(config_text())
    burst = 6 * 24 + 5
    add_stream(db, model_id, burst={burst: [("reddit", 40)]})
    run_detection(db, config, now=START + dt.timedelta(hours=burst + 1), notify=False)
    run_detection(db, config, now=START + dt.timedelta(hours=burst + 30), notify=True)  # long over
    assert db.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0


def test_a_source_added_to_a_watch_waits_out_its_own_warm_up(db, model_id):
    """With per_source, a source that starts mid-window must not be judged against days of zeros
    it never had: its first ordinary hours are not a spike."""
    config = parse_config(config_text(per_source=True))
    add_stream(db, model_id)
    first_day = 6 * 24 + 2
    new_posts = [Mention("bluesky", f"bsky-{hour}-{k}", f"acme is terrible {hour}-{k}",
                         iso(START + dt.timedelta(hours=hour, minutes=k)), watches=("acme",))
                 for hour in range(first_day, first_day + 3) for k in range(8)]
    save_mentions(db, new_posts)
    ids = dict(db.execute("SELECT external_id, id FROM mentions WHERE source = 'bluesky'").fetchall())
    db.conn.executemany("INSERT INTO scores VALUES (?, ?, 'negative', 0.9, 0.05, 0.05, '2025-01-01T00:00:00Z')",
                        [(ids[m.external_id], model_id) for m in new_posts])
    db.conn.commit()
    run_detection(db, config, now=START + dt.timedelta(hours=first_day + 3), notify=False)
    assert db.execute("SELECT count(*) FROM alerts WHERE source = 'bluesky'").fetchone()[0] == 0


def test_detect_at_a_future_time_is_refused_in_one_line(cli, tmp_path):
    (tmp_path / "mentionwatch.yaml").write_text(config_text() + "database: future.db\n")
    cli("init")  # creates the database beside the watchlist
    result = cli("detect", "--at", "2999-01-01T00:00:00Z")
    assert result.exit_code == 2
    assert "--at" in result.output and "is in the future" in result.output
    assert "Traceback" not in result.output


def test_an_acknowledged_alert_a_replay_stored_is_not_announced_as_opened(db, model_id):
    from alerts.lifecycle import acknowledge

    config = parse_config(config_text())
    burst = 6 * 24 + 5
    add_stream(db, model_id, burst={burst: [("reddit", 40)]})
    during = START + dt.timedelta(hours=burst + 1)
    [alert_id] = run_detection(db, config, now=during, notify=False).opened
    acknowledge(db, alert_id, "dana")
    run_detection(db, config, now=during + dt.timedelta(minutes=5), notify=True)
    assert db.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0


# one incident is one alert across rules, within the cooldown (walkthrough 8) ---------------------

def test_rules_firing_back_to_back_within_the_cooldown_make_one_alert():
    from alerts.detect import merged_alerts

    threshold = _finding("threshold:20 in 1h", "2015-02-22T03:00:00Z", "medium",
                         window=("2015-02-22T02:00:00Z", "2015-02-22T07:00:00Z"))
    spike = _finding("spike", "2015-02-22T09:00:00Z", "high", window=("2015-02-22T08:00:00Z", "2015-02-22T09:00:00Z"))
    again = _finding("threshold:20 in 1h", "2015-02-22T14:00:00Z", "medium",
                     window=("2015-02-22T13:00:00Z", "2015-02-22T14:00:00Z"))
    [alert] = merged_alerts([threshold, spike, again], cooldown=6 * 3600)
    assert (alert.window_start, alert.window_end) == ("2015-02-22T02:00:00Z", "2015-02-22T14:00:00Z")
    assert alert.escalations == [("2015-02-22T09:00:00Z", "high")]
    assert len(merged_alerts([threshold, spike, again], cooldown=0)) == 3  # touching is not overlapping
    # a finding starting a whole cooldown after the alert's end is a new incident
    assert len(merged_alerts([threshold, spike, again], cooldown=4 * 3600)) == 2


def test_a_live_run_adds_a_finding_within_the_cooldown_to_the_stored_alert(db, model_id, monkeypatch):
    import alerts.detect as detect

    config = parse_config(config_text())  # cooldown 3h
    add_stream(db, model_id)
    end = START + dt.timedelta(days=8)
    threshold = dataclasses.replace(
        _finding("threshold:20 in 1h", iso(end - dt.timedelta(hours=4)), "medium",
                 window=(iso(end - dt.timedelta(hours=5)), iso(end - dt.timedelta(hours=3)))), watch="acme", live=True)
    spike = dataclasses.replace(
        _finding("spike", iso(end - dt.timedelta(minutes=30)), "high",
                 window=(iso(end - dt.timedelta(hours=1)), iso(end))), watch="acme", live=True)
    monkeypatch.setattr(detect, "findings_for_series", lambda *args, **kwargs: [threshold])
    [first] = run_detection(db, config, now=end - dt.timedelta(hours=2), notify=False).opened
    monkeypatch.setattr(detect, "findings_for_series", lambda *args, **kwargs: [spike])
    second = run_detection(db, config, now=end, notify=False)
    assert second.opened == [] and second.updated == [first]
    assert db.execute("SELECT window_start, window_end, severity FROM alerts").fetchall() == [
        (iso(end - dt.timedelta(hours=5)), iso(end), "high")]


def test_a_day_long_count_rule_reaches_back_from_when_it_fired_not_from_its_look_back():
    """Review: with "70 in 1d" the window starts a day before the rule fires, and the cooldown was
    counted from there: a second incident 27 hours after the first was folded into it, unannounced."""
    from alerts.detect import findings_for_series, merged_alerts
    from alerts.series import Series
    from mentionwatch.config import AlertSettings

    settings = AlertSettings(thresholds=[{"count": 70, "window": "1d"}], min_count=10**6)  # spike rule off
    for quiet_hours in (12, 20, 26):  # after the first incident's day: each time a new incident
        negatives = np.zeros(24 * 12)
        negatives[200] = negatives[200 + 24 + quiet_hours] = 70
        series = Series("acme", None, START, settings.bucket, negatives, negatives + 50)
        series.ends_at = START + dt.timedelta(hours=len(negatives))
        findings = findings_for_series(series, settings)
        assert len(findings) == 2
        assert len(merged_alerts(findings, settings.cooldown)) == 2, quiet_hours


def test_a_peak_seen_just_before_its_bucket_ends_reads_in_whole_minutes():
    """Review: 59 min 40 s of an hour read 'in the first 1 h 0 min of 1h'."""
    from alerts.explain import peak_text, readable_duration

    def peak(end: str, bucket: float = 3600.0) -> str:
        return peak_text("spike", 30, 9, 5.2, {"start": "2026-12-06T17:00:00Z", "end": end, "bucket": bucket})

    assert " in the first 59 min of 1h at peak " in peak("2026-12-06T17:59:40Z")
    assert " in the first 21s of 1h at peak " in peak("2026-12-06T17:00:21Z")
    assert " in 1h at peak " in peak("2026-12-06T18:00:00Z") and "expected in" not in peak("2026-12-06T18:00:00Z")
    assert readable_duration(3580) == "1h" and readable_duration(7510) == "2 h 5 min"
