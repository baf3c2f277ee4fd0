"""What a walkthrough of `mentionwatch report` and `mentionwatch browse` found, each checked on
the page, the chart or the command's output as a person would meet it."""
from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from matplotlib.text import Text

from mentionwatch.triage import charts
from storage import Mention, open_db, save_mentions
from test_browse import STARTUP_SECONDS, _free_port
from test_export import MODEL, _stock  # the small stocked database of the export tests

UTC = dt.timezone.utc
README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
REPORT_README = README[README.index("### `mentionwatch report`"):README.index("### `mentionwatch browse`")]
BROWSE_README = README[README.index("### `mentionwatch browse`"):
                       README.index("### Measured: exporting a million mentions")]
BIDI_TEXT = "acme \u202eevil bidi\u202c refund"


def _hourly(start: dt.datetime, hours: int, per_hour: int = 10) -> charts.Series:
    starts = [start + dt.timedelta(hours=h) for h in range(hours)]
    return charts.Series(starts, [per_hour] * hours, [per_hour // 2] * hours, 1)


def _alert(alert_id: int, start: dt.datetime, hours: float) -> dict:
    end = start + dt.timedelta(hours=hours)
    return {"id": alert_id, "window_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "window_end": end.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _drawn(figure):
    figure.canvas.draw()
    return figure.canvas.get_renderer()


def _alert_numbers(figure) -> dict[int, object]:
    """{alert id: its number's text artist} as drawn on the figure."""
    found = {}
    for axis in figure.axes:
        for text in axis.texts:
            if text.get_text().strip().startswith("#"):
                found[int(text.get_text().strip()[1:])] = text
    return found


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


# ------------------------------------------------------------------ 1. open alerts at the end

def _insert_alert(db, watch, opened_at, status="open", resolved_at=None):
    db.execute("INSERT INTO alerts (watch, rule, severity, window_start, window_end, opened_at, "
               "updated_at, status, resolved_at) VALUES (?, 'spike', 'high', ?, ?, ?, ?, ?, ?)",
               [watch, opened_at, opened_at, opened_at, opened_at, status, resolved_at])


def report_with_acme_row(cli, db_path, out, *args) -> tuple[str, str]:
    """report.html of `mentionwatch report --watch acme ARGS`, and acme's row of its risk table."""
    result = cli("--db", db_path, "report", "--watch", "acme", *args, "--out", out)
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text(encoding="utf-8")
    return page, page[page.index('<tr><td><a href="#watch-acme">'):].split("</tr>")[0]


def test_open_alerts_are_those_open_at_the_end_of_the_period(cli, tmp_path):
    _stock(tmp_path / "s.db")  # alert 7 of acme: opened 2024-03-02T12:00, still open
    db = open_db(tmp_path / "s.db")
    _insert_alert(db, "acme", "2024-03-01T09:00:00Z", "resolved", "2024-03-02T00:00:00Z")  # before
    _insert_alert(db, "acme", "2024-03-02T09:00:00Z", "resolved", "2024-03-09T00:00:00Z")  # since
    _insert_alert(db, "acme", "2024-03-04T09:00:00Z")  # opened after the period: not counted
    _insert_alert(db, "acme", "2024-03-05T09:00:00Z", "acknowledged")  # nor this one
    db.conn.commit()
    db.close()
    page, row = report_with_acme_row(cli, tmp_path / "s.db", tmp_path / "r", "--since", "2024-02-28",
                                     "--until", "2024-03-03")
    assert row.endswith('<td class="num">2</td>')  # alert 7 and the one resolved since
    assert "opened before the end of the period and not resolved by then" in page


def test_the_default_period_holds_an_alert_opened_after_the_newest_post(cli, tmp_path):
    """Detection opens an alert a few minutes after the posts behind it: a report with no --until
    must still count it as open (it once said 0 beside the listed live alert)."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    db = open_db(tmp_path / "live.db")
    save_mentions(db, [Mention("hackernews", str(i), "acme is broken again",
                               (now - dt.timedelta(minutes=60 - i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               watches=("acme",)) for i in range(50)])  # the newest 11 minutes ago
    _insert_alert(db, "acme", (now - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    db.conn.commit()
    db.close()
    result = cli("--db", tmp_path / "live.db", "report", "--watch", "acme", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    row = page[page.index('<tr><td><a href="#watch-acme">'):].split("</tr>")[0]
    assert row.endswith('<td class="num">1</td>')


# ------------------------------------------------------------------ 2. alert numbers readable

def test_alert_numbers_overprint_nothing_and_every_alert_is_named():
    start = dt.datetime(2015, 2, 17, tzinfo=UTC)
    series = _hourly(start, 7 * 24)
    crowded = [_alert(6 + i, start + dt.timedelta(hours=2 + i), 1) for i in range(8)]  # 8 in 10 h
    alerts = [_alert(1, start, 3), *crowded, _alert(20, start + dt.timedelta(days=6, hours=23), 1)]
    figure = charts.volume_figure(series, alerts, "united: mentions")
    try:
        renderer = _drawn(figure)
        numbers = _alert_numbers(figure)
        boxes = {i: text.get_window_extent(renderer) for i, text in numbers.items()}
        for (a, box_a), (b, box_b) in itertools.combinations(boxes.items(), 2):
            assert not _overlap(box_a, box_b), f"#{a} and #{b} overprint each other"
        legends = [axis.get_legend().get_window_extent(renderer) for axis in figure.axes
                   if axis.get_legend()]
        assert legends
        for i, box in boxes.items():
            assert not any(_overlap(box, legend) for legend in legends), f"#{i} under a legend"
            assert 0 <= box.x0 and box.x1 <= figure.bbox.width
        caption = " ".join(text.get_text() for text in figure.texts)
        for alert in alerts:  # each is numbered above the chart or listed under it
            assert alert["id"] in numbers or f"#{alert['id']}" in caption
    finally:
        charts.plt.close(figure)


def test_alert_numbers_with_no_room_are_listed_in_a_caption():
    start = dt.datetime(2014, 1, 1, tzinfo=UTC)
    series = charts.Series([start + dt.timedelta(days=d) for d in range(420)], [5] * 420,
                           [1] * 420, 24)
    alerts = [_alert(100 + i, start + dt.timedelta(days=400, hours=i), 1) for i in range(9)]
    figure = charts.volume_figure(series, alerts, "united: mentions")
    try:
        _drawn(figure)
        numbers = _alert_numbers(figure)
        caption = " ".join(text.get_text() for text in figure.texts)
        left_out = [a["id"] for a in alerts if a["id"] not in numbers]
        assert left_out and numbers
        assert all(f"#{i}" in caption for i in left_out)
    finally:
        charts.plt.close(figure)


# ------------------------------------------------------------------ 3. hidden characters

def _add_bidi_mention(db_path) -> int:
    db = open_db(db_path)
    save_mentions(db, [Mention("forum", "bidi", BIDI_TEXT, "2024-03-01T10:00:00Z",
                               author="mallory\u200b", watches=("acme",))])
    mention_id = db.execute("SELECT id FROM mentions WHERE external_id = 'bidi'").fetchone()[0]
    db.execute("INSERT INTO scores VALUES (?, ?, 'negative', 0.99, 0.005, 0.005, "
               "'2024-03-06T00:00:00Z')", [mention_id, MODEL])
    db.execute("INSERT INTO alert_mentions (alert_id, mention_id, rank) VALUES (7, ?, 0)",
               [mention_id])
    db.conn.commit()
    db.close()
    return mention_id


def test_report_shows_bidi_controls_escaped_not_obeyed(cli, tmp_path):
    _stock(tmp_path / "s.db")
    mention_id = _add_bidi_mention(tmp_path / "s.db")
    result = cli("--db", tmp_path / "s.db", "report", "--watch", "acme", "--since", "2024-02-28",
                 "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert f"mention {mention_id}" in page
    assert "\u202e" not in page and "\u202c" not in page and "\u200b" not in page
    assert "acme \\u202eevil bidi\\u202c refund" in page
    assert "mallory\\u200b" in page


def test_browse_shows_bidi_controls_escaped_and_the_json_keeps_them(tmp_path):
    from mentionwatch.triage.browse import make_datasette

    _stock(tmp_path / "watch.db")
    mention_id = _add_bidi_mention(tmp_path / "watch.db")
    datasette = make_datasette(tmp_path / "watch.db", MODEL)

    async def fetch(path):
        return await datasette.client.get(path)

    table = asyncio.run(fetch(f"/watch/mentions?id={mention_id}")).text
    query = asyncio.run(fetch("/watch/mentions_of_alert?alert_id=7")).text
    for page in (table, query):
        assert "\u202e" not in page and "\u200b" not in page
        assert "acme \\u202eevil bidi\\u202c refund" in page
    rows = asyncio.run(fetch(f"/watch/mentions.json?id={mention_id}&_shape=array")).json()
    assert rows[0]["text"] == BIDI_TEXT  # downloads keep the stored text


# ------------------------------------------------------------------ 4. watches with no mentions

def _watchlist(tmp_path, db_path) -> Path:
    config = tmp_path / "mentionwatch.yaml"
    config.write_text(f"database: {db_path}\nwatches:\n"
                      "  - {name: acme, query: {any: [acme]}}\n"
                      "  - {name: globex, query: {any: [globex]}}\n"
                      "  - {name: quiet-brand, query: {any: [zzzz]}}\n", encoding="utf-8")
    return config


def test_a_watch_of_the_watchlist_with_no_mentions_is_reported_and_can_be_named(cli, tmp_path):
    _stock(tmp_path / "s.db")
    config = _watchlist(tmp_path, tmp_path / "s.db")
    everything = cli("--config", config, "report", "--out", tmp_path / "all")
    assert everything.exit_code == 0, everything.output
    assert "  quiet-brand: no baseline yet, 0 alerts; no mentions in the period" in everything.output
    page = (tmp_path / "all" / "report.html").read_text(encoding="utf-8")
    section = page[page.index('<h2 id="watch-quiet-brand">'):]
    assert "No mentions of this watch in the period." in section

    named = cli("--config", config, "report", "--watch", "quiet-brand", "--out", tmp_path / "one")
    assert named.exit_code == 0, named.output
    assert named.output.splitlines()[0].endswith("(the newest mention)")
    assert sorted(p.name for p in (tmp_path / "one").glob("*.png")) == [
        "quiet-brand-sources.png", "quiet-brand-volume.png"]

    unknown = cli("--config", config, "report", "--watch", "initech", "--out", tmp_path / "x")
    assert unknown.exit_code == 2
    assert unknown.stderr.strip() == ("Error: no watch named 'initech' in the watchlist or the "
                                      "database (known: acme, globex, quiet-brand)")


# ------------------------------------------------------------------ 6. long titles

def test_a_long_watch_name_keeps_the_whole_title_on_the_chart():
    name = "hotel-reviews-chinese-market-long-watch-name-for-testing-abcdefg"
    title = f"{name}: mentions, negative mentions and negative share"
    series = _hourly(dt.datetime(2015, 2, 17, tzinfo=UTC), 48)
    drawings = (lambda: charts.volume_figure(series, [_alert(3, series.starts[5], 2)], title),
                lambda: charts.volume_figure(series, [], title),
                lambda: charts.sources_figure({"weibo": {"negative": 3}}, f"{name}: 酒店评论 " * 2))
    for draw in drawings:
        figure = draw()
        try:
            renderer = _drawn(figure)
            title = figure.axes[0].get_title(loc="left")
            title_text = next(t for t in figure.axes[0].findobj(Text) if t.get_text() == title)
            box = title_text.get_window_extent(renderer)
            assert 0 <= box.x0 and box.x1 <= figure.bbox.width
            assert name in title_text.get_text().replace("\n", "")
        finally:
            charts.plt.close(figure)


# ------------------------------------------------------------------ 7. empty period

def test_a_period_with_no_mentions_has_zero_based_axes_and_says_so():
    start = dt.datetime(2015, 3, 1, tzinfo=UTC)
    empty = charts.Series([start + dt.timedelta(hours=h) for h in range(96)], [0] * 96, [0] * 96, 1)
    volume = charts.volume_figure(empty, [], "united")
    try:
        _drawn(volume)
        assert [axis.get_ylim()[0] for axis in volume.axes] == [0, 0]  # counts, share
        assert all(float(tick) >= 0 for axis in volume.axes for tick in axis.get_yticks())
        for axis in volume.axes:
            assert "no mentions in this period" in [text.get_text() for text in axis.texts]
    finally:
        charts.plt.close(volume)
    sources = charts.sources_figure({}, "united")
    try:
        _drawn(sources)
        assert sources.axes[0].get_xlim()[0] == 0
        assert "no mentions in this period" in [text.get_text() for text in sources.axes[0].texts]
    finally:
        charts.plt.close(sources)


# ------------------------------------------------------------------ 8. dates on the time axis

def _tick_texts(figure) -> tuple[list[str], str]:
    _drawn(figure)
    axis = figure.axes[-1].xaxis
    return [t.get_text() for t in axis.get_ticklabels() if t.get_text()], axis.get_offset_text().get_text()


def test_the_time_axis_names_years_and_leaves_out_midnight():
    year_and_more = charts.Series([dt.datetime(2014, 1, 1, tzinfo=UTC) + dt.timedelta(days=d)
                                   for d in range(424)], [3] * 424, [1] * 424, 24)
    figure = charts.volume_figure(year_and_more, [], "united")
    try:
        labels, offset = _tick_texts(figure)
        for i, j in itertools.combinations(range(len(labels)), 2):  # no "Jan 01" twice unnamed
            if labels[i] == labels[j]:
                assert any(re.search(r"\b(19|20)\d\d\b", label) for label in labels[i:j]), labels
        assert any("2015" in label for label in labels) or "2015" in offset
        assert not any("00:00" in label for label in labels)
    finally:
        charts.plt.close(figure)
    week = _hourly(dt.datetime(2015, 2, 18, tzinfo=UTC), 7 * 24)
    figure = charts.volume_figure(week, [], "united")
    try:
        labels, offset = _tick_texts(figure)
        assert "Feb 18" in labels and not any("00:00" in label for label in labels)
        assert "2015" in offset
    finally:
        charts.plt.close(figure)


# ------------------------------------------------------------------ 9, 10. --out

def test_an_empty_out_is_refused(cli, tmp_path):
    _stock(tmp_path / "s.db")
    result = cli("--db", tmp_path / "s.db", "report", "--out", "")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: Invalid value for --out: the folder name is empty"
    assert not list(tmp_path.glob("*.png")) and not (tmp_path / "report.html").exists()


def test_out_under_a_dangling_link_names_the_missing_target(cli, tmp_path):
    _stock(tmp_path / "s.db")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    result = cli("--db", tmp_path / "s.db", "report", "--out", "dangling/r")
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: Invalid value for --out: 'dangling' is a link to "
                                     f"'{tmp_path / 'gone'}', which does not exist")
    assert not (tmp_path / "gone").exists()


# ------------------------------------------------------------------ 11-14. browse

@pytest.fixture
def datasette_client(tmp_path):
    from mentionwatch.triage.browse import make_datasette

    ids = _stock(tmp_path / "watch.db")
    db = open_db(tmp_path / "watch.db")
    db.execute("INSERT INTO alerts (id, watch, rule, severity, window_start, window_end, "
               "opened_at, updated_at, observed, expected) VALUES (8, 'globex', "
               "'threshold:20 in 1h', 'high', '2024-03-03T00:00:00Z', '2024-03-03T01:00:00Z', "
               "'2024-03-03T01:00:00Z', '2024-03-03T01:00:00Z', 25, 20)")
    db.conn.commit()
    db.close()
    datasette = make_datasette(tmp_path / "watch.db", MODEL)

    def request(method, path, **kwargs):
        return asyncio.run(getattr(datasette.client, method)(path, **kwargs))

    return request, ids


def test_the_alert_mentions_table_opens_beside_the_canned_query(datasette_client):
    request, ids = datasette_client
    table = request("get", "/watch/alert_mentions.json?_shape=array")
    assert table.status_code == 200
    assert sorted(row["mention_id"] for row in table.json()) == sorted([ids["p1"], ids["p3"]])
    assert "mention_id" in request("get", "/watch/alert_mentions").text
    query = request("get", "/watch/mentions_of_alert.json?_shape=array&alert_id=7")
    assert sorted(row["mention_id"] for row in query.json()) == sorted([ids["p1"], ids["p3"]])


def test_open_alerts_leave_expected_empty_for_a_threshold_rule(datasette_client):
    request, _ = datasette_client
    rows = request("get", "/watch/open_alerts.json?_shape=array").json()
    assert {row["id"]: row["expected"] for row in rows} == {8: None, 7: None}
    assert "20.0" not in request("get", "/watch/open_alerts").text


def test_changing_requests_get_405_and_refusals_print_no_traceback(datasette_client, capfd):
    request, _ = datasette_client
    for path in ("/", "/watch", "/watch/alerts", "/watch/open_alerts", "/watch/search"):
        response = request("post", path, data={"q": "x"})
        assert response.status_code == 405, path
    assert request("put", "/watch/alerts").status_code == 405
    capfd.readouterr()
    for sql in ("DELETE FROM triage", "WITH x AS (SELECT 1) DELETE FROM triage",
                "SELECT 1; DELETE FROM triage"):
        refused = request("get", "/watch.json", params={"sql": sql})
        assert 400 <= refused.status_code < 500, sql
        printed = capfd.readouterr()
        lines = (printed.out + printed.err).strip().splitlines()
        assert len(lines) <= 1, f"{sql}: {lines[:5]}"
        assert "Traceback" not in printed.out + printed.err


def test_ctrl_c_stops_browse_with_one_line_and_exit_0(tmp_path):
    _stock(tmp_path / "watch.db")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mentionwatch", "--db", str(tmp_path / "watch.db"), "browse",
         "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, process.stderr.read()[-2000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/-/versions.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "browse did not answer"
            time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert err.strip().splitlines()[-1] == "stopped"
    assert "Aborted" not in err and "Traceback" not in err


# ------------------------------------------------------------------ 16, 18. words on the page

def test_the_page_says_how_top_posts_are_ranked_and_labels_its_figures(cli, tmp_path):
    from alerts.lifecycle import acknowledge, resolve

    _stock(tmp_path / "s.db")
    db = open_db(tmp_path / "s.db")
    db.execute("UPDATE alerts SET observed = 30, expected = 9, score = 40.0, explanation = ? "
               "WHERE id = 7", ['{"summary": "30 negative mentions, 9 expected (40.0 spreads '
                               'above normal)"}'])
    db.conn.commit()
    acknowledge(db, 7, "dana")
    resolve(db, 7, "dana")
    db.close()
    result = cli("--db", tmp_path / "s.db", "report", "--watch", "acme", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    alert = page[page.index("Alert #7"):].split('<h2 id="risk-formula"')[0]
    assert "Top posts" in alert and "the order the detector ranks them" in alert
    assert "spreads" not in alert
    assert "(40.0 times the usual variation above normal)" in alert
    assert re.search(r"<td>\d+% of \d+ scored mentions</td>", alert)  # the share, of how many
    assert not re.search(r"%\s*\(\d+\)", alert)  # not '65% (2347)'
    assert "top posts" in REPORT_README.lower() and "order the detector ranks them" in REPORT_README


# ------------------------------------------------------------------ 17. partial buckets

def test_partial_first_and_last_buckets_are_drawn_apart():
    since = dt.datetime(2015, 2, 17, 23, 52, 2, tzinfo=UTC)
    until = since + dt.timedelta(days=7)
    start = since.replace(minute=0, second=0)
    series = charts.Series([start + dt.timedelta(hours=h) for h in range(169)], [10] * 169,
                           [5] * 169, 1, since=since, until=until)
    assert series.partial[0] and series.partial[-1] and not any(series.partial[1:-1])
    figure = charts.volume_figure(series, [], "united")
    try:
        top = figure.axes[0]
        hatched = sorted({bar.get_x() for bar in top.patches if bar.get_hatch()})
        assert len(hatched) == 2  # the first and the last hour
        labels = [text.get_text() for text in top.get_legend().get_texts()]
        assert any(label.startswith("partial hour") for label in labels)
    finally:
        charts.plt.close(figure)
    whole = charts.Series(series.starts[:24], [10] * 24, [5] * 24, 1, since=start,
                          until=start + dt.timedelta(hours=24))
    assert not any(whole.partial)


# ------------------------------------------------------------------ 19. README

def test_readme_says_the_page_needs_a_cjk_font_where_it_is_opened():
    assert "report.html" in REPORT_README
    paragraph = REPORT_README[REPORT_README.index("The same goes for `report.html`"):][:400]
    assert "Chinese, Japanese or Korean" in paragraph and "font" in paragraph
    assert "mentions_of_alert" in BROWSE_README and "405" in BROWSE_README
