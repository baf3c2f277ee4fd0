"""The report's sources chart, as a walkthrough met it: its legend stands beside the plot, clear
of every bar and of the count written after it, and names from the database (sources, watches)
are drawn with their control and invisible formatting characters escaped, as on the terminal."""
from __future__ import annotations

import datetime as dt

import pytest
from matplotlib.text import Text

from mentionwatch.triage import charts
from storage import Mention, open_db, save_mentions

UTC = dt.timezone.utc
BIDI_SOURCE = "微博 \u202eevil\tx"  # a right-to-left override and a tab
AIRLINE_SOURCES = {  # four sources of 40 airline tweets, as `mentionwatch score` labelled them
    "reddit": {"negative": 18, "neutral": 6, "positive": 16},
    "mastodon": {"negative": 12, "neutral": 15, "positive": 13},
    "hackernews": {"negative": 21, "neutral": 12, "positive": 7},
    "bluesky": {"negative": 20, "neutral": 11, "positive": 9},
}


def _drawn(figure):
    figure.canvas.draw()
    return figure.canvas.get_renderer()


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _drawn_texts(figure) -> list[str]:
    return [text.get_text() for text in figure.findobj(Text) if text.get_text()]


@pytest.mark.parametrize("breakdown", [
    AIRLINE_SOURCES,
    {**AIRLINE_SOURCES, BIDI_SOURCE: {"unscored": 40}},  # one unscored source as long as the rest
    {"reddit": {"negative": 40, "unscored": 5000}, "x" * 60: {"negative": 5040},
     "appstore": {"positive": 3, "unscored": 1}, "应用商店" * 10: {"negative": 3}},
], ids=["airline", "one-unscored", "long-notes-and-names"])
def test_the_sources_legend_stands_beside_the_plot_and_hides_no_bar_or_count(breakdown):
    figure = charts.sources_figure(breakdown, "eq: mentions per source by sentiment")
    try:
        renderer = _drawn(figure)
        axis = figure.axes[0]
        plot = axis.get_window_extent(renderer)
        legend = axis.get_legend().get_window_extent(renderer)
        assert not _overlap(legend, plot)
        assert legend.x0 >= plot.x1 and legend.x1 <= figure.bbox.width
        notes = [text for text in axis.texts if "negative" in text.get_text()
                 or "not scored" in text.get_text()]
        assert len(notes) == len(breakdown)
        for note in notes:
            box = note.get_window_extent(renderer)
            assert not _overlap(box, legend), note.get_text()
            assert plot.x0 <= box.x0 and box.x1 <= plot.x1, f"{note.get_text()!r} leaves the plot"
        for bar in axis.patches:
            assert not _overlap(bar.get_window_extent(renderer), legend)
        labels = [label.get_window_extent(renderer) for label in axis.get_yticklabels()]
        assert all(0 <= box.x0 for box in labels)
    finally:
        charts.plt.close(figure)


def test_the_sources_axis_is_not_pinned_to_the_longest_bar_by_an_empty_one():
    figure = charts.sources_figure({**AIRLINE_SOURCES, "weibo": {"unscored": 40}}, "eq")
    try:
        _drawn(figure)
        assert figure.axes[0].get_xlim()[1] > 40  # room for "40 (not scored yet)" after the bar
        assert all(bar.get_width() > 0 for bar in figure.axes[0].patches)
    finally:
        charts.plt.close(figure)


def test_chart_text_escapes_what_the_terminal_escapes_and_keeps_chinese():
    assert charts.chart_text(BIDI_SOURCE) == "微博 \\u202eevil x"
    assert charts.chart_text("应用商店 café\u200d") == "应用商店 café\u200d"  # the joiner stays
    assert charts.source_label("\u202eweibo") == "\\u202eweibo"
    assert charts.source_label("应用商店") == "应用商店"
    long = charts.source_label("应用商店" * 10)
    assert long.endswith("…") and charts._columns(long) <= charts.SOURCE_LABEL_WIDTH


def test_names_on_the_charts_are_drawn_escaped():
    watch = "acme\u202eevil"
    series = charts.Series([dt.datetime(2024, 3, 1, h, tzinfo=UTC) for h in range(3)],
                           [4, 5, 6], [1, 2, 3], 1)
    figures = [charts.volume_figure(series, [], f"{watch}: mentions"),
               charts.sources_figure({BIDI_SOURCE: {"negative": 2}, "应用商店": {"positive": 1}},
                                     f"{watch}: mentions per source")]
    try:
        for figure in figures:
            _drawn(figure)
            texts = _drawn_texts(figure)
            assert not any("\u202e" in text or "\t" in text for text in texts), texts
            assert any(text.startswith("acme\\u202eevil: mentions") for text in texts), texts
        sources = [label.get_text() for label in figures[1].axes[0].get_yticklabels()]
        assert sorted(sources) == ["应用商店", "微博 \\u202eevil x"]
    finally:
        for figure in figures:
            charts.plt.close(figure)


def test_two_sources_drawn_alike_keep_a_bar_each():
    figure = charts.sources_figure({"a\tb": {"negative": 2}, "a b": {"positive": 3}}, "w")
    try:
        _drawn(figure)
        axis = figure.axes[0]
        assert [label.get_text() for label in axis.get_yticklabels()] == ["a b", "a b"]
        assert len(axis.patches) == 2
        assert len({bar.get_y() for bar in axis.patches}) == 2
    finally:
        charts.plt.close(figure)


def test_report_draws_a_bidi_source_name_escaped(cli, tmp_path, monkeypatch):
    db_path = tmp_path / "zh.db"
    db = open_db(db_path)
    save_mentions(db, [Mention(source=BIDI_SOURCE, external_id=f"m{i}", text="酒店太差了 bad",
                               created_at=f"2015-02-24T1{i}:00:00Z", watches=("eq",))
                       for i in range(3)])
    db.close()
    drawn: dict[str, list[str]] = {}
    save = charts._save

    def recording(figure, path):  # the texts of each chart as the report draws it
        _drawn(figure)
        drawn[path.name] = _drawn_texts(figure)
        return save(figure, path)

    monkeypatch.setattr(charts, "_save", recording)
    result = cli("--db", db_path, "report", "--since", "2015-02-20", "--until", "2015-02-25",
                 "--out", tmp_path / "rep")
    assert result.exit_code == 0, result.output
    assert sorted(drawn) == ["eq-sources.png", "eq-volume.png"]
    texts = drawn["eq-sources.png"]
    assert "微博 \\u202eevil x" in texts
    assert not any("\u202e" in text or "\t" in text for name in drawn for text in drawn[name])
    assert (tmp_path / "rep" / "eq-sources.png").stat().st_size > 0
