"""`mentionwatch report` in the team's time zone: local days and hours in the charts (across a
change of the clocks too), local times on the page, --since/--until read there, and the zone taken
from alerts.timezone when --timezone is not given."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from mentionwatch.triage import charts
from mentionwatch.triage.report import local_time
from storage import open_db
from test_report_cli import _add_new_watch

NEW_YORK = ZoneInfo("America/New_York")


_mentions = _add_new_watch  # negative mentions of a watch at these times (stored form), scored


def _watchlist(tmp_path, global_zone: str, acme_zone: str | None = None) -> str:
    """A watchlist of acme and globex on the database s.db; acme may have its own zone."""
    acme_alerts = f", alerts: {{timezone: {acme_zone}}}" if acme_zone else ""
    config = tmp_path / "mentionwatch.yaml"
    config.write_text(f"database: {tmp_path / 's.db'}\nalerts: {{timezone: {global_zone}}}\n"
                      "watches:\n"
                      f"  - {{name: acme, query: {{any: [acme]}}{acme_alerts}}}\n"
                      "  - {name: globex, query: {any: [globex]}}\n", encoding="utf-8")
    return str(config)


@pytest.fixture
def drawn(monkeypatch):
    """{watch: the Series of its volume chart}, for each chart the report draws (drawn all the same)."""
    series = {}
    draw = charts.volume_chart

    def spy(drawn_series, alerts, title, path):
        series[path.name.removesuffix("-volume.png")] = drawn_series
        return draw(drawn_series, alerts, title, path)

    monkeypatch.setattr(charts, "volume_chart", spy)
    return series


def _per_local_day(series, zone) -> dict[str, int]:
    return {start.astimezone(zone).date().isoformat(): total
            for start, total in zip(series.starts, series.totals)}


def _meta(tmp_path, folder="r") -> str:
    page = (tmp_path / folder / "report.html").read_text(encoding="utf-8")
    return page[page.index('<p class="meta">Period'):].split("</p>")[0]


def test_early_utc_mentions_fall_on_the_previous_day_in_new_york(cli, tmp_path, drawn):
    _mentions(tmp_path / "s.db", "acme", ["2026-01-15T03:00:00Z", "2026-01-15T04:00:00Z",
                                          "2026-01-15T04:59:00Z", "2026-01-15T05:00:00Z",
                                          "2026-01-15T15:00:00Z"])
    result = cli("--db", tmp_path / "s.db", "report", "--since", "2025-11-20", "--until",
                 "2026-01-31", "--timezone", "America/New_York", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    series = drawn["acme"]
    assert series.bucket_hours == 24  # 72 days: a bar per day
    assert all(start.astimezone(NEW_YORK).time() == dt.time(0) for start in series.starts)
    days = _per_local_day(series, NEW_YORK)
    assert (days["2026-01-14"], days["2026-01-15"]) == (3, 2)  # 22:00 to 23:59 the evening before
    assert min(days) == "2025-11-20" and max(days) == "2026-01-30"  # the dates are New York's
    assert _meta(tmp_path).startswith('<p class="meta">Period 2025-11-20 00:00:00 up to '
                                      "2026-01-31 00:00:00 (not included), times in America/New_York")
    figure = charts.volume_figure(series, [], "acme")
    try:
        assert figure.axes[-1].get_xlabel() == "time (America/New_York)"
    finally:
        charts.plt.close(figure)

    in_utc = cli("--db", tmp_path / "s.db", "report", "--since", "2025-11-20", "--until",
                 "2026-01-31", "--out", tmp_path / "utc")
    assert in_utc.exit_code == 0, in_utc.output
    assert _per_local_day(drawn["acme"], dt.timezone.utc)["2026-01-15"] == 5
    assert "times in UTC" in _meta(tmp_path, "utc")


def test_a_new_york_day_across_the_march_change_is_23_hours(cli, tmp_path, drawn):
    _mentions(tmp_path / "s.db", "acme", [
        "2026-03-08T04:30:00Z",  # 7 March 23:30 EST
        "2026-03-08T05:00:00Z",  # 8 March 00:00 EST
        "2026-03-09T03:30:00Z",  # 8 March 23:30 EDT
        "2026-03-09T04:00:00Z",  # 9 March 00:00 EDT
    ])
    result = cli("--db", tmp_path / "s.db", "report", "--since", "2026-01-20", "--until",
                 "2026-04-01", "--timezone", "America/New_York", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    series = drawn["acme"]
    days = _per_local_day(series, NEW_YORK)
    assert (days["2026-03-07"], days["2026-03-08"], days["2026-03-09"]) == (1, 2, 1)
    index = [s.astimezone(NEW_YORK).date() for s in series.starts].index(dt.date(2026, 3, 8))
    assert series.starts[index + 1] - series.starts[index] == dt.timedelta(hours=23)
    assert series.starts[index - 1].astimezone(dt.timezone.utc).hour == 5  # EST: UTC-5
    assert series.starts[index + 1].astimezone(dt.timezone.utc).hour == 4  # EDT: UTC-4
    assert not any(series.partial)  # local midnights to local midnight: no bar cut


def test_an_hour_the_clocks_pass_twice_is_two_hourly_bars(cli, tmp_path, drawn):
    _mentions(tmp_path / "s.db", "acme", ["2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z",
                                          "2026-11-01T06:40:00Z"])
    result = cli("--db", tmp_path / "s.db", "report", "--since", "2026-10-31", "--until",
                 "2026-11-02", "--timezone", "America/New_York", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    series = drawn["acme"]
    assert len(series.starts) == 49  # 31 October and the 25 hours of 1 November
    one_am = [(start, total) for start, total in zip(series.starts, series.totals)
              if start.astimezone(NEW_YORK).hour == 1 and start.month == 11]
    assert [(start.astimezone(dt.timezone.utc).hour, total) for start, total in one_am] == [(5, 1),
                                                                                             (6, 2)]
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "2026-11-01 01:30:00 EDT" in page and "2026-11-01 01:30:00 EST" in page  # the evidence
    assert local_time("2026-11-01T07:30:00Z", "America/New_York") == "2026-11-01 02:30:00"


@pytest.mark.parametrize("global_zone, acme_zone", [("Asia/Shanghai", None),
                                                    ("UTC", "Asia/Shanghai")])
def test_the_default_zone_is_the_watchs_alerts_timezone(cli, tmp_path, drawn, global_zone,
                                                        acme_zone):
    _mentions(tmp_path / "s.db", "acme", ["2026-01-15T20:00:00Z"])
    config = _watchlist(tmp_path, global_zone, acme_zone)
    result = cli("--config", config, "report", "--watch", "acme", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.splitlines()[0].endswith(
        "2026-01-09 04:00:01 to 2026-01-16 04:00:00 (the newest mention), times in Asia/Shanghai")
    assert "times in Asia/Shanghai" in _meta(tmp_path)
    assert drawn["acme"].zone == "Asia/Shanghai"


def test_watches_in_different_zones_are_reported_in_utc_saying_so(cli, tmp_path, drawn):
    _mentions(tmp_path / "s.db", "acme", ["2026-01-15T20:00:00Z"])
    _mentions(tmp_path / "s.db", "globex", ["2026-01-15T21:00:00Z"])
    config = _watchlist(tmp_path, "Asia/Shanghai", "America/New_York")
    result = cli("--config", config, "report", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "Times in UTC: the watches reported have different time zones (America/New_York, "
        "Asia/Shanghai); give --timezone for another."]
    assert "times in UTC" in _meta(tmp_path)
    assert {series.zone for series in drawn.values()} == {"UTC"}

    chosen = cli("--config", config, "report", "--timezone", "Asia/Tokyo", "--out", tmp_path / "t")
    assert chosen.exit_code == 0 and chosen.stderr == ""
    assert "times in Asia/Tokyo" in _meta(tmp_path, "t")


@pytest.mark.parametrize("zone, hint", [
    ("CST", "'CST' is not a time zone (did you mean 'America/Chicago' (US Central) or "
            "'Asia/Shanghai' (China)?)"),
    ("UTC+8", "a time zone is a place, not an offset (did you mean 'Asia/Shanghai' or 'Etc/GMT-8', which is UTC+8 all year?)"),
    ("America/New_Yrok", "(did you mean 'America/New_York'?)"),
    ("EST", "'EST' is UTC-5 all year, without daylight saving"),
])
def test_a_bad_timezone_is_one_line(cli, tmp_path, zone, hint):
    _mentions(tmp_path / "s.db", "acme", ["2026-01-15T20:00:00Z"])
    result = cli("--db", tmp_path / "s.db", "report", "--timezone", zone, "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Invalid value for --timezone: ") and hint in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "r" / "report.html").exists()


@pytest.mark.parametrize("since, shown", [
    ("2026-01-10", "2026-01-10 00:00:00"),  # a date: midnight in Shanghai
    ("2026-01-10 06:30", "2026-01-10 06:30:00"),
    ("2026-01-10T00:00:00Z", "2026-01-10 08:00:00"),  # a zone typed: as typed
    ("2026-01-10 Europe/Paris", "2026-01-10 07:00:00"),
])
def test_since_and_until_without_a_zone_are_read_in_the_reports_zone(cli, tmp_path, since, shown):
    _mentions(tmp_path / "s.db", "acme", ["2026-01-15T20:00:00Z"])
    result = cli("--db", tmp_path / "s.db", "report", "--timezone", "Asia/Shanghai", "--since",
                 since, "--until", "2026-01-20", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert f"{shown} up to 2026-01-20 00:00:00 (not included), times in Asia/Shanghai" in result.stdout


def test_a_time_the_clocks_skip_is_refused_in_one_line(cli, tmp_path):
    _mentions(tmp_path / "s.db", "acme", ["2026-03-15T20:00:00Z"])
    result = cli("--db", tmp_path / "s.db", "report", "--timezone", "America/New_York", "--since",
                 "2026-03-08 02:30", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "did not happen" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    typo = cli("--db", tmp_path / "s.db", "report", "--timezone", "America/New_York", "--since",
               "someday", "--out", tmp_path / "r")
    assert typo.exit_code == 2 and "'someday' is not a time" in typo.stderr  # as typed


@pytest.mark.parametrize("since, until, said", [
    ("2026-02-20", "2026-02-20", "Invalid value for --since: 2026-02-20 is not before --until 2026-02-20 "
     "(read in America/New_York) (a date means midnight at its start and --until is not included: use "
     "--until 2026-02-21 for the whole of 2026-02-20)"),
    ("2026-03-08 02:30", "2026-03-08 01:00", "Invalid value for --since: '2026-03-08 02:30' (read in "
     "America/New_York) is not a time: '2026-03-08 02:30' did not happen"),
    ("1985-04-28 02:30", "2026-02-20", "Invalid value for --since: '1985-04-28 02:30' (read in "
     "America/New_York) is not a time: '1985-04-28 02:30' did not happen"),  # before any post, still refused
])
def test_a_mistake_in_the_period_quotes_it_as_typed_and_the_zone_it_was_read_in(cli, tmp_path, since,
                                                                              until, said):
    _mentions(tmp_path / "s.db", "acme", ["2026-02-15T20:00:00Z"])
    result = cli("--db", tmp_path / "s.db", "report", "--timezone", "America/New_York", "--since", since,
                 "--until", until, "--out", tmp_path / "r")
    assert result.exit_code == 2 and result.stderr.startswith(f"Error: {said}")
    assert "T00:00:00Z" not in result.stderr  # a UTC moment the user never typed


def test_an_alerts_header_is_in_the_reports_zone_and_its_summary_in_utc_as_stored(tmp_path, model_id):
    from alerts.detect import run_detection
    from mentionwatch.config import parse_config
    from mentionwatch.triage.report import build_report
    from test_alerts_detection import START, add_stream, config_text

    db = open_db(tmp_path / "s.db")
    add_stream(db, model_id, burst={6 * 24 + 10: [("reddit", 80)]})
    config = parse_config(config_text())
    run_detection(db, config, now=START + dt.timedelta(days=8), notify=False)
    build_report(db, tmp_path / "r", watches=["acme"], since="2025-03-01T00:00:00Z",
                 until="2025-03-09T00:00:00Z", sentiment_cfg=config.sentiment, configured=["acme"],
                 timezone="America/New_York")
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    header = page[page.index('<div class="alert'):].split("</p>")[0]
    assert "at peak (2025-03-07 05:00:00 -&gt; 2025-03-07 06:00:00)" in header  # 10:00-11:00 UTC
    summary = page[page.index('<div class="alert'):].split("<p>")[1]
    assert "between 2025-03-07 10:00 and 11:00 UTC" in summary  # one clock in one sentence
    assert "at peak (2025-03-07T10:00:00Z -&gt; 2025-03-07T11:00:00Z)" in summary
    db.close()


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Europe/Berlin", "Pacific/Kiritimati"])
def test_a_report_of_everything_from_year_1_is_drawn(cli, tmp_path, zone):
    _mentions(tmp_path / "s.db", "acme", ["2026-02-15T20:00:00Z"])
    result = cli("--db", tmp_path / "s.db", "report", "--timezone", zone, "--since", "0001-01-01",
                 "--until", "9999-12-31", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output  # was a traceback: year -1 is out of range
    assert "acme: " in result.stdout and (tmp_path / "r" / "acme-volume.png").exists()
