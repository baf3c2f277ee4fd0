"""`mentionwatch report` on the real airline tweets, looked at in headless Chromium like a person would.

The tweets are imported per airline (one watch each) with their timestamps through the `import`
command; their crowd labels become the scores; two alerts are put on the busiest negative hours.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser

import pytest

from conftest import skip_unless_ci
from mentionwatch.triage.charts import CHART_SIZES
from storage import open_db

MODEL = "crowd-labels"
AIRLINE_ARGS = ("--source", "twitter", "--id-col", "tweet_id", "--text-col", "text",
                "--time-col", "tweet_created", "--author-col", "name")


def build_airline_db(cli, tweets, workdir):
    """Import Tweets.csv as one watch per airline, score from labels, add two alerts; -> db path."""
    db_path = workdir / "airline.db"
    with tweets.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for airline in sorted({row["airline"] for row in rows}):
        part = workdir / f"{airline}.csv"
        with part.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(row for row in rows if row["airline"] == airline)
        watch = airline.lower().replace(" ", "-")
        result = cli("--db", db_path, "import", part, "--watch", watch, *AIRLINE_ARGS)
        assert result.exit_code == 0, result.output
    db = open_db(db_path)
    ids = dict(db.execute("SELECT external_id, id FROM mentions").fetchall())
    scores = {}
    for row in rows:
        label, confidence = row["airline_sentiment"], float(row["airline_sentiment_confidence"])
        rest = (1 - confidence) / 2
        p = {name: (confidence if name == label else rest)
             for name in ("negative", "neutral", "positive")}
        scores[ids[row["tweet_id"]]] = (label, p["negative"], p["neutral"], p["positive"])
    with db.atomic():
        db.conn.executemany("INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, '2015-03-01T00:00:00Z')",
                            [(i, MODEL, *score) for i, score in scores.items()])
    _add_alert(db, "united", status="resolved")
    _add_alert(db, "us-airways", status="open")
    db.conn.commit()
    db.close()
    return db_path


def _add_alert(db, watch, status):
    """An alert on the watch's busiest negative hour, linked to that hour's negative tweets."""
    hour, count = db.execute(
        "SELECT substr(m.created_at, 1, 13), count(*) FROM mentions m "
        "JOIN mention_watches w ON w.mention_id = m.id AND w.watch = ? "
        "JOIN scores s ON s.mention_id = m.id AND s.label = 'negative' GROUP BY 1 ORDER BY 2 DESC "
        "LIMIT 1", [watch]).fetchone()
    start, end = f"{hour}:00:00Z", f"{hour}:59:59Z"
    negatives = db.execute(
        "SELECT m.id, m.source, m.author, m.url, m.created_at, m.text, s.p_negative FROM mentions m "
        "JOIN mention_watches w ON w.mention_id = m.id AND w.watch = ? "
        "JOIN scores s ON s.mention_id = m.id AND s.label = 'negative' "
        "WHERE m.created_at BETWEEN ? AND ? ORDER BY s.p_negative DESC", [watch, start, end]).fetchall()
    top = [{"mention_id": r[0], "source": r[1], "author": r[2], "author_reach": None, "url": r[3],
            "created_at": r[4], "text": r[5], "p_negative": r[6]} for r in negatives[:3]]
    explanation = {"summary": f"{count} negative mentions of {watch} in one hour",
                   "top_mentions": top, "terms": [{"term": "flight", "count": 9,
                                                   "baseline_rate": 0.1, "lift": 3.2}],
                   "sources": {"twitter": count}}
    hour_after = lambda h: f"{hour}:{h}"  # noqa: E731
    cursor = db.conn.execute(
        "INSERT INTO alerts (watch, rule, status, severity, window_start, window_end, observed, "
        "expected, opened_at, updated_at, acknowledged_at, resolved_at, explanation) "
        "VALUES (?, 'spike', ?, 'high', ?, ?, ?, 4.0, ?, ?, ?, ?, ?)",
        [watch, status, start, end, count, end, end,
         hour_after("59:59Z").replace(hour, _shift(hour, 1)) if status == "resolved" else None,
         hour_after("59:59Z").replace(hour, _shift(hour, 6)) if status == "resolved" else None,
         json.dumps(explanation)])
    db.conn.executemany("INSERT INTO alert_mentions (alert_id, mention_id, rank) VALUES (?, ?, ?)",
                        [(cursor.lastrowid, r[0], rank) for rank, r in enumerate(negatives)])


def _shift(hour_text, hours):
    import datetime as dt

    moment = dt.datetime.strptime(hour_text, "%Y-%m-%dT%H") + dt.timedelta(hours=hours)
    return moment.strftime("%Y-%m-%dT%H")


def png_size(path):
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


class _Sources(HTMLParser):
    """Every src/href in the page, to prove it needs nothing from the network."""

    def __init__(self):
        super().__init__()
        self.refs, self.images, self.links = [], 0, []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "src" or (name == "href" and tag != "a"):
                self.refs.append(value or "")
        self.images += tag == "img"
        if tag == "a":
            self.links.append(dict(attrs).get("href"))


@pytest.fixture(scope="module")
def airline_report(tmp_path_factory):
    """Built once for this module: importing and charting 14,640 tweets takes a few seconds."""
    from click.testing import CliRunner
    from conftest import SHARED_DATA, _require  # the shared_file rule, at module scope

    from mentionwatch.cli import main

    tweets = _require(SHARED_DATA / "airline/Tweets.csv")
    workdir = tmp_path_factory.mktemp("airline")
    runner = CliRunner()
    cli = lambda *args: runner.invoke(main, [str(a) for a in args], catch_exceptions=False)  # noqa: E731
    db_path = build_airline_db(cli, tweets, workdir)
    out = workdir / "report"
    result = cli("--db", db_path, "report", "--since", "2015-02-16", "--out", out)
    assert result.exit_code == 0, result.output
    return db_path, out, result


def test_report_files_are_real_pngs_of_the_expected_size(airline_report):
    _, out, result = airline_report
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 12  # 6 airlines x (volume, sources)
    assert "6 watches, 12 charts" in result.output
    for png in pngs:
        kind = png.stem.rsplit("-", 1)[1]
        assert png_size(png) == CHART_SIZES[kind]
        assert png.stat().st_size > 10_000  # drawn, not blank


def test_report_html_is_self_contained_and_complete(airline_report):
    db_path, out, _ = airline_report
    page = (out / "report.html").read_text(encoding="utf-8")
    parser = _Sources()
    parser.feed(page)
    assert parser.images == 12
    assert parser.refs and all(ref.startswith("data:image/png;base64,") for ref in parser.refs)
    assert all(link.startswith(("#", "https://", "http://")) for link in parser.links)
    assert "<script" not in page
    for watch in ("united", "us-airways", "american", "southwest", "delta", "virgin-america"):
        assert f'id="watch-{watch}"' in page
    db = open_db(db_path)
    alerts = dict(db.execute("SELECT watch, id FROM alerts").fetchall())
    assert f"Alert #{alerts['united']} &middot; resolved" in page
    assert f"Alert #{alerts['us-airways']} &middot; open" in page
    assert "time to acknowledge" in page and "1h 0m" in page and "6h 0m" in page
    assert "How the risk score is computed" in page
    # risk table is sorted, highest first
    scores = [float(s) for s in re.findall(r'<td class="num">([\d.]+)</td><td><span class="level',
                                           page)]
    assert len(scores) == 6 and scores == sorted(scores, reverse=True)


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    skip_unless_ci("chromium is not installed (scripts/test.sh installs Debian's chromium)")


_CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var images = Array.from(document.images);
  var shown = images.filter(function (img) {
    var box = img.getBoundingClientRect();
    return img.complete && img.naturalWidth > 0 && box.width > 100 && box.height > 50;
  });
  document.body.setAttribute('data-images', images.length);
  document.body.setAttribute('data-images-shown', shown.length);
  document.body.setAttribute('data-widths', shown.map(function (i) { return i.naturalWidth; }).join(','));
});
</script>"""


def test_report_renders_in_headless_chromium_with_charts_visible(airline_report, tmp_path):
    chromium = _chromium()
    _, out, _ = airline_report
    # a copy with a small check script; the report itself carries no script
    checked = tmp_path / "checked.html"
    checked.write_text((out / "report.html").read_text(encoding="utf-8")
                       .replace("</body>", _CHECK_SCRIPT + "</body>"), encoding="utf-8")
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,2000",
            "--virtual-time-budget=5000"]
    screenshot = tmp_path / "report.png"
    dom = subprocess.run([*base, "--dump-dom", f"--screenshot={screenshot}", checked.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, dom.stdout[:500]
    attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    assert attributes.get("data-images") == "12"
    assert attributes.get("data-images-shown") == "12"  # loaded, decoded and laid out large
    assert set(attributes["data-widths"].split(",")) == {str(CHART_SIZES["volume"][0])}
    assert png_size(screenshot) == (1100, 2000)
    keep = os.environ.get("MENTIONWATCH_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(screenshot, keep)


@pytest.mark.parametrize("since, until, hours", [
    ("2025-01-01T00:00:00Z", "2025-01-08T00:00:00Z", 1),
    ("2025-01-01T00:00:00Z", "2025-02-15T00:00:00Z", 6),
    ("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 24),
    ("1990-01-01T00:00:00Z", "9999-12-31T00:00:00Z", 24 * 2926),  # one bar per 8 years, 1,000 bars
])
def test_chart_bars_stay_few_enough_to_draw(since, until, hours):
    from mentionwatch.triage.charts import MAX_BARS, choose_bucket_hours
    from storage.timeutil import from_iso

    assert choose_bucket_hours(since, until) == hours
    assert (from_iso(until) - from_iso(since)).total_seconds() / 3600 / hours <= MAX_BARS


def test_chinese_source_names_draw_without_warnings_and_times_say_utc(tmp_path):
    import datetime as dt
    import warnings

    from mentionwatch.triage import charts

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        charts.sources_chart({"应用商店": {"negative": 5, "positive": 3}, "twitter": {"neutral": 2}},
                             "waimai: 外卖 mentions per source", tmp_path / "s.png")
        series = charts.Series([dt.datetime(2024, 3, 1, h, tzinfo=dt.timezone.utc) for h in range(3)],
                               [4, 5, 6], [1, 2, 3], 1)
        charts.volume_chart(series, [], "应用商店 volume", tmp_path / "v.png")
    assert [str(w.message) for w in caught] == []
    assert png_size(tmp_path / "s.png") == CHART_SIZES["sources"]
    figure = charts.volume_figure(series, [], "volume")
    try:
        assert figure.axes[-1].get_xlabel() == "time (UTC)"
    finally:
        charts.plt.close(figure)


def test_a_cjk_font_is_chosen_only_when_it_has_the_glyphs(monkeypatch):
    import matplotlib
    from matplotlib import font_manager

    from mentionwatch.triage import charts

    dejavu = font_manager.findfont("DejaVu Sans")
    charts.cjk_font_family.cache_clear()
    try:
        monkeypatch.setattr(charts, "_cjk_font_candidates", lambda: [dejavu, "/no/such/font.ttf"])
        assert charts.cjk_font_family() is None  # DejaVu Sans has no Chinese glyphs
        monkeypatch.undo()
        charts.cjk_font_family.cache_clear()
        installed = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True,
                                   check=False).stdout if shutil.which("fc-list") else ""
        family = charts.cjk_font_family()
        if installed.strip():  # a Chinese font is installed: the charts use it as a fallback
            assert family is not None
            with charts._chart_style():
                assert matplotlib.rcParams["font.family"] == ["DejaVu Sans", family]
        else:
            assert family is None
    finally:
        charts.cjk_font_family.cache_clear()
