"""PNG charts for the report (matplotlib, Agg backend: no display needed).

`volume_chart` draws mention volume and negative volume per time bucket, the negative share below
it, and shades each alert's window, with the alert's number in a strip above the chart (numbers
that would overprint each other take another row; those with no room are listed in a caption);
a first or last bucket that the period covers only in part is hatched, and legends stand beside
the plots. Buckets and the time axis follow the report's time zone (UTC unless given): its local
hours and midnights, so a local day across a change of the clocks is 23 or 25 hours.
`sources_chart` shows each source's mentions by sentiment, with the count written after each bar
kept inside the plot and the legend beside it. An empty period gives 0-based axes and a
note, a long title is wrapped and a long source name is cut with '…'.
Every chart has a fixed pixel size (CHART_SIZES) so pages lay out the same way every time.
Text falls back to an installed font with Chinese, Japanese and Korean glyphs when there is one
(source names such as 应用商店); matplotlib's warnings never reach the terminal. Every label is
drawn as written: a name with `$...$` is not read as math, and a control or invisible formatting
character in a name is drawn as its escape ('\\u202e'), as on the terminal and in report.html
(`chart_text`), so a right-to-left override does not reverse the name. A chart that cannot be
drawn raises ChartError, whose message is one line for the user.
"""
from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import functools
import math
import re
import shutil
import subprocess
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mentionwatch.terminal import terminal_safe  # noqa: E402
from mentionwatch.triage.atomic import replacing  # noqa: E402
from mentionwatch.triage.risk import watch_mentions_sql  # noqa: E402
from storage.timeutil import from_iso  # noqa: E402

DPI = 100
CHART_SIZES = {"volume": (1000, 560), "sources": (1000, 360)}  # width, height in pixels
MIN_SHARE_MENTIONS = 3  # a share from one or two posts is noise: the line has a gap there
COLOURS = {"negative": "#c0392b", "neutral": "#95a5a6", "positive": "#27ae60",
           "unscored": "#d5d8dc", "all": "#5d6d7e", "alert": "#f39c12"}
PARTIAL_STYLE = {"hatch": "////", "edgecolor": "white", "linewidth": 0}  # a bucket cut by the period
EMPTY_NOTE = "no mentions in this period"
LABEL_LANES = 3  # rows of alert numbers above the volume chart
LABEL_GAP_PX = 6  # the least room between two alert numbers in a row
CAPTION_ALERTS = 30  # alert numbers listed at most in the caption of those with no room
TITLE_WIDTH = 80  # columns of a title line (a Chinese character takes two)
MAX_TITLE_LINES = 3
SOURCE_LABEL_WIDTH = 32  # columns of a source name beside its bar (a Chinese character takes two)
NOTE_PAD_PX = 6  # room left between a bar's note and the right edge of the sources plot
MIN_BAR_ROOM = 0.2  # the least share of the sources plot's width left to the bars


LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z in Unix seconds: the last moment a chart shows
FIRST_SECOND = -62135596800  # 0001-01-01T00:00:00Z: the first (a bar may start before it)
LAST_EAST_OF_UTC = dt.datetime(9999, 12, 31, 9, 59, 59, tzinfo=dt.timezone.utc)  # year 9999 at UTC+14
_EPOCH = dt.datetime(1970, 1, 1)


BASE_FONT = "DejaVu Sans"  # matplotlib's own font, always there
CJK_SAMPLE = "中"
_CJK_FONT_NAME = re.compile(r"CJK|Hei|Ming|Song|Kai|Gothic|Mincho|WenQuanYi|WQY|Fallback|"
                            r"Noto Sans (SC|TC|HK|JP|KR)|PingFang|YaHei|SimSun|Nanum|Malgun", re.I)
_FONT_VARIANTS = ("bold", "black", "heavy", "light", "thin", "medium", "italic")


@functools.lru_cache(maxsize=1)
def cjk_font_family() -> str | None:
    """The family name of an installed font with CJK glyphs, or None when there is none."""
    for path in _cjk_font_candidates():
        try:
            if _has_glyph(path, CJK_SAMPLE):
                font_manager.fontManager.addfont(path)  # known to matplotlib even if added lately
                return font_manager.FontProperties(fname=path).get_name()
        except (OSError, RuntimeError, ValueError):  # a broken or unreadable font file
            continue
    return None


def _cjk_font_candidates() -> list[str]:
    """Font files that may have CJK glyphs: fontconfig's Chinese fonts (it also knows fonts
    installed after matplotlib cached its font list), then matplotlib's fonts named like CJK
    fonts; regular sans-serif faces first."""
    paths = []
    fc_list = shutil.which("fc-list")
    if fc_list:
        try:
            listed = subprocess.run([fc_list, "-f", "%{file}\n", ":lang=zh"], capture_output=True,
                                    text=True, timeout=10, check=False).stdout
            paths.extend(line.strip() for line in listed.splitlines() if line.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    paths.extend(font.fname for font in font_manager.fontManager.ttflist
                 if _CJK_FONT_NAME.search(font.name))
    plain_first = lambda path: (any(v in Path(path).name.lower() for v in _FONT_VARIANTS),  # noqa: E731
                                "serif" in Path(path).name.lower(), path)
    return sorted(dict.fromkeys(paths), key=plain_first)


def _has_glyph(path: str, char: str) -> bool:
    from matplotlib.ft2font import FT2Font

    return FT2Font(path).get_char_index(ord(char)) != 0


def chart_text(value: object) -> str:
    """Text from the database (a watch or source name) as drawn on a chart: line breaks and tabs
    as spaces, other control and invisible formatting characters as their escape ('\\u202e'), the
    same as on the terminal and in report.html. Drawn raw, a right-to-left override would show the
    name reversed and a tab would be a box."""
    return terminal_safe(value)


class ChartError(RuntimeError):
    """A chart could not be drawn; the message is the one line shown."""


@contextlib.contextmanager
def _chart_style():
    """CJK glyphs from a fallback font when one is installed; with none, a missing glyph is a
    box in the chart, and the warning matplotlib prints for it is kept off the terminal. Names
    from the database are drawn literally: with math parsing on, 'cost $5 or $6' would be drawn
    as a formula and an unbalanced one such as '$\\frac{1}{$' would stop the report."""
    families = [BASE_FONT, *filter(None, [cjk_font_family()])]
    style = {"font.family": families, "text.parse_math": False}
    with warnings.catch_warnings(), matplotlib.rc_context(style):
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _drawing(path: Path):
    """Turns a failure inside matplotlib into ChartError naming the chart (file errors pass)."""
    try:
        yield
    except (OSError, ChartError):
        raise
    except Exception as exc:  # noqa: BLE001 - matplotlib raises many kinds; each is one line here
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ChartError(f"cannot draw the chart {path.name}: {reason}") from exc


@dataclass
class Series:
    """Counts per time bucket for one watch."""

    starts: list[dt.datetime]
    totals: list[int]
    negatives: list[int]
    bucket_hours: int
    scored: list[int] | None = None  # mentions with a score, the share's base [default: all]
    since: dt.datetime | None = None  # the period, which may start or end inside a bucket
    until: dt.datetime | None = None
    zone: str = "UTC"  # the time zone whose hours and midnights the buckets follow
    end: dt.datetime | None = None  # where the last bucket ends [default: a bucket after its start]

    def __post_init__(self):
        if self.scored is None:
            self.scored = list(self.totals)

    @property
    def last_end(self) -> dt.datetime:
        """The end of the last bucket (a local day may be 23 or 25 hours long)."""
        return self.end or _plus(self.starts[-1], dt.timedelta(hours=self.bucket_hours))

    @property
    def partial(self) -> list[bool]:
        """Per bucket, whether the period covers only part of it (its first or last bucket when
        the period starts or ends inside one): such a bar counts fewer hours than the others."""
        flags = [False] * len(self.starts)
        if not self.starts:
            return flags
        if self.since is not None and self.since > self.starts[0]:
            flags[0] = True
        if self.until is not None and self.until < self.last_end:
            flags[-1] = True
        return flags

    @property
    def shares(self) -> list[float]:
        """Negative share of the scored mentions per bucket; NaN (a gap in the line) where too few
        are scored to tell."""
        return [n / s if s >= MIN_SHARE_MENTIONS else math.nan
                for n, s in zip(self.negatives, self.scored)]


MAX_BARS = 1000  # a chart with more bars than pixels says nothing and takes long to draw


def choose_bucket_hours(since: str, until: str) -> int:
    """Hourly buckets up to two weeks, six-hourly up to two months, daily up to MAX_BARS days,
    then as many days per bar as keeps the chart at MAX_BARS bars at most."""
    span_days = (from_iso(until) - from_iso(since)).total_seconds() / 86400
    if span_days > MAX_BARS:
        return 24 * math.ceil(span_days / MAX_BARS)
    return 1 if span_days <= 14 else 6 if span_days <= 62 else 24


def watch_series(db, watch: str, model_id: str | None, since: str, until: str,
                 bucket_hours: int, links: int | None = None, zone: str = "UTC") -> Series:
    """Mentions and negative mentions of a watch per bucket in [since, until), gaps filled with 0;
    the buckets follow the local hours and midnights of `zone` (bucket_edges). The mentions are
    read from the period's or from the watch's, whichever are fewer (risk.window_first; `links`:
    the watch's links, when counted already)."""
    edges = bucket_edges(since, until, bucket_hours, zone)
    # counted in SQL per cell of this many seconds, a whole number of cells in every bucket: the
    # bucket itself in UTC, an hour for New York's days (midnight is 04:00 or 05:00 UTC)
    cell = math.gcd(bucket_hours * 3600, *edges[:-1])
    rows = db.execute(
        "SELECT (CAST(strftime('%s', m.created_at) AS INTEGER) / :size) * :size AS bucket, "
        "count(*), sum(coalesce(s.label = 'negative', 0)), count(s.label) FROM "
        f"{watch_mentions_sql(db, watch, since, until, links)} "
        "LEFT JOIN scores s ON s.mention_id = m.id AND s.model_id = :model "
        "WHERE m.created_at >= :since AND m.created_at < :until GROUP BY bucket ORDER BY bucket",
        {"size": cell, "watch": watch, "model": model_id, "since": since,
         "until": until}).fetchall()
    buckets = len(edges) - 1
    totals, negatives, scored = [0] * buckets, [0] * buckets, [0] * buckets
    for start, total, negative, scored_count in rows:
        index = bisect.bisect_right(edges, start) - 1
        totals[index] += total
        negatives[index] += negative
        scored[index] += scored_count
    return Series([_moment(edge) for edge in edges[:-1]], totals, negatives, bucket_hours, scored,
                  from_iso(since), from_iso(until), zone, _moment(edges[-1]))


def bucket_edges(since: str, until: str, bucket_hours: int, zone: str = "UTC") -> list[int]:
    """Where the buckets covering [since, until) start, and where the last one ends, in Unix
    seconds: the moments the zone's clocks read a whole number of buckets since 1970-01-01 (local
    hours, 6-hour marks, midnights). A local day across a change of the clocks is 23 or 25 hours
    long; an hour the clocks pass twice is two hourly buckets."""
    size = bucket_hours * 3600
    start, end = int(from_iso(since).timestamp()), int(from_iso(until).timestamp())
    wall = _wall_seconds(start, zone) // size * size
    edges: list[int] = []
    while not edges or edges[-1] < end:
        edges.extend(_moments(wall, zone, both_folds=size == 3600))
        wall += size
    edges = sorted(set(edges))
    while len(edges) > 2 and edges[1] <= start:  # the first of an hour passed twice, before since
        del edges[0]
    while len(edges) > 2 and edges[-2] >= end:  # the second of an hour passed twice, after until
        del edges[-1]
    return edges


def _wall_seconds(moment: int, zone: str) -> int:
    """What the zone's clocks read at `moment` (Unix seconds), as seconds since 1970-01-01."""
    if zone == "UTC":
        return moment
    try:
        offset = dt.datetime.fromtimestamp(moment, ZoneInfo(zone)).utcoffset()
    except (OverflowError, ValueError):  # near year 1 or 9999: no local time to read
        return moment
    return moment + int(offset.total_seconds())


def _moments(wall: int, zone: str, both_folds: bool) -> list[int]:
    """The moments (Unix seconds) the zone's clocks read `wall`: the earlier one where they read it
    twice (both with `both_folds`), and the change itself where they skip it."""
    if zone == "UTC":
        return [wall]
    tz = ZoneInfo(zone)
    try:
        local = _EPOCH + dt.timedelta(seconds=wall)
        first = int(local.replace(tzinfo=tz, fold=0).timestamp())  # in a gap: the change's moment
        second = local.replace(tzinfo=tz, fold=1)
        read_twice = dt.datetime.fromtimestamp(second.timestamp(), tz).replace(tzinfo=None) == local
    except (OverflowError, ValueError):  # past year 9999 (or before year 1)
        return [min(wall, LAST_SECOND)]
    return [first, int(second.timestamp())] if both_folds and read_twice else [first]


def _moment(seconds: int) -> dt.datetime:
    """Unix seconds as a UTC datetime, within years 1 to 9999."""
    return dt.datetime.fromtimestamp(min(max(seconds, FIRST_SECOND), LAST_SECOND), tz=dt.timezone.utc)


def source_breakdown(db, watch: str, model_id: str | None, since: str, until: str,
                     links: int | None = None) -> dict:
    """{source: {label: count}} for a watch in [since, until); unscored mentions as 'unscored'.
    The mentions are read as in watch_series."""
    rows = db.execute(
        "SELECT m.source, coalesce(s.label, 'unscored'), count(*) FROM "
        f"{watch_mentions_sql(db, watch, since, until, links)} "
        "LEFT JOIN scores s ON s.mention_id = m.id AND s.model_id = :model "
        "WHERE m.created_at >= :since AND m.created_at < :until GROUP BY 1, 2 ORDER BY 1, 2",
        {"watch": watch, "model": model_id, "since": since, "until": until}).fetchall()
    breakdown: dict[str, dict[str, int]] = {}
    for source, label, count in rows:
        breakdown.setdefault(source, {})[label] = count
    return breakdown


def volume_chart(series: Series, alerts: list[dict], title: str, path: Path) -> Path:
    """Two panels: mentions and negative mentions per bucket; negative share; alerts shaded."""
    with _drawing(path), _chart_style():
        return _save(_draw_volume(series, alerts, title), path)


def volume_figure(series: Series, alerts: list[dict], title: str):
    """The figure `volume_chart` saves (a matplotlib Figure, open: close it with plt.close)."""
    with _chart_style():
        return _draw_volume(series, alerts, title)


def _draw_volume(series: Series, alerts: list[dict], title: str):
    spans = _alerts_in_period(alerts, series)
    if spans:  # a strip above the chart holds the alert numbers, clear of bars and legends
        fig, (strip, top, bottom) = _figure("volume", rows=3, height_ratios=(0.6, 3, 2))
    else:
        fig, (top, bottom) = _figure("volume", rows=2, height_ratios=(3, 2))
        strip = None
    _draw_counts(top, series, bool(spans))
    _draw_shares(bottom, series)
    for axis in filter(None, (strip, top, bottom)):
        _shade(axis, spans)
    _time_axis(bottom, series)
    (strip or top).set_title(wrapped_title(chart_text(title)), loc="left", fontsize=12)
    if spans:
        _label_alerts(fig, strip, spans)
    return fig


def _draw_counts(axis, series: Series, alerts_shown: bool) -> None:
    """Mentions and negative mentions per bucket; a bucket the period covers only in part is
    hatched and lighter, so that its smaller count does not read as a dip."""
    widths = _bar_widths(series)
    partial = series.partial
    for hatched in (False, True):
        chosen = [i for i, flag in enumerate(partial) if flag == hatched]
        if not chosen:
            continue
        starts = [series.starts[i] for i in chosen]
        width = widths if isinstance(widths, dt.timedelta) else [widths[i] for i in chosen]
        extra = PARTIAL_STYLE if hatched else {}
        axis.bar(starts, [series.totals[i] for i in chosen], width=width, align="edge",
                 color=COLOURS["all"], alpha=0.2 if hatched else 0.35,
                 label=None if hatched else "all mentions", **extra)
        axis.bar(starts, [series.negatives[i] for i in chosen], width=width, align="edge",
                 color=COLOURS["negative"], alpha=0.45 if hatched else 1.0,
                 label=None if hatched else "negative", **extra)
    axis.set_ylabel(f"mentions per {_bucket_name(series.bucket_hours)}")
    axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    if any(series.totals):
        axis.set_ylim(bottom=0)
    else:  # nothing to scale to: a 0-based axis and a note instead of -0.04 to 0.04
        axis.set_ylim(0, 1)
        _note(axis, EMPTY_NOTE)
    axis.grid(axis="y", alpha=0.3)
    handles, labels = axis.get_legend_handles_labels()
    if any(partial):
        handles.append(Patch(facecolor=COLOURS["negative"], alpha=0.45, **PARTIAL_STYLE))
        labels.append(f"partial {_bucket_name(series.bucket_hours)}:\nthe period covers\n"
                      "only part of it")
    if alerts_shown:
        handles.append(Patch(color=COLOURS["alert"], alpha=0.3))
        labels.append("alert window\n(#number above)")
    _legend_beside(axis, handles, labels)


def _bar_widths(series: Series) -> dt.timedelta | list[dt.timedelta]:
    """Each bar 90% of its bucket: one width in UTC, one per bar in a zone whose clocks change (a
    local day across the change is 23 or 25 hours)."""
    if series.zone == "UTC" or not series.starts:
        return dt.timedelta(hours=series.bucket_hours) * 0.9
    ends = [*series.starts[1:], series.last_end]
    return [(end - start) * 0.9 for start, end in zip(series.starts, ends)]


def _draw_shares(axis, series: Series) -> None:
    """The negative share per bucket and the period's average; a note when there is none."""
    shares = series.shares
    if not any(series.totals):
        _note(axis, EMPTY_NOTE)
    elif all(math.isnan(share) for share in shares):
        _note(axis, f"fewer than {MIN_SHARE_MENTIONS} scored mentions in every "
                    f"{_bucket_name(series.bucket_hours)}: no share to show")
    else:
        axis.plot(series.starts, [share * 100 for share in shares], color=COLOURS["negative"],
                  linewidth=1.2, marker=".", markersize=2, label="negative share")
        total, negative = sum(series.scored), sum(series.negatives)
        if total:
            axis.axhline(100 * negative / total, color="#333", linestyle="--", linewidth=0.8,
                         label=f"period average\n{100 * negative / total:.0f}%")
        _legend_beside(axis, *axis.get_legend_handles_labels())
    axis.set_ylim(0, 100)
    axis.set_ylabel("negative share (%)")
    axis.grid(axis="y", alpha=0.3)


def _note(axis, text: str) -> None:
    """A grey line of text in the middle of an axis (what is missing there, and why)."""
    axis.text(0.5, 0.5, text, transform=axis.transAxes, ha="center", va="center", color="#5d6d7e")


def _legend_beside(axis, handles, labels) -> None:
    """The legend to the right of the plot, where it hides no bar and no alert number."""
    axis.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                fontsize=8)


def _time_axis(axis, series: Series) -> None:
    """The x axis spans the period's buckets exactly (margins could pass year 9999); the dates
    show the year where the span needs it, and the time of day only where ticks are not whole
    days; ticks and label are in the series' time zone."""
    zone = _tzinfo(series.zone)
    if series.starts:
        # the end of year 9999 in UTC is year 10000 east of it, which the axis cannot show
        last_shown = series.last_end if series.zone == "UTC" else min(series.last_end, LAST_EAST_OF_UTC)
        axis.set_xlim(series.starts[0], last_shown)
    locator = mdates.AutoDateLocator(tz=zone)
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(
        locator, tz=zone, formats=["%Y", "%b", "%b %d", "%H:%M", "%H:%M", "%S.%f"]))
    axis.set_xlabel(f"time ({series.zone})")


def _tzinfo(zone: str) -> dt.tzinfo:
    return dt.timezone.utc if zone == "UTC" else ZoneInfo(zone)


def wrapped_title(title: str, limit: int = TITLE_WIDTH) -> str:
    """The title in lines of at most `limit` columns (a Chinese, Japanese or Korean character
    takes two), at most MAX_TITLE_LINES of them: a long watch name would run off the chart."""
    lines, line = [], ""
    for word in title.split(" "):
        candidate = f"{line} {word}" if line else word
        if _columns(candidate) <= limit:
            line = candidate
            continue
        if line:
            lines.append(line)
        while _columns(word) > limit:  # a word longer than a line is cut
            cut = _fitting(word, limit)
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    lines.append(line)
    if len(lines) > MAX_TITLE_LINES:
        lines = lines[:MAX_TITLE_LINES]
        lines[-1] = lines[-1][:_fitting(lines[-1], limit - 1)] + "…"
    return "\n".join(lines)


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _fitting(word: str, limit: int) -> int:
    """How many leading characters of `word` fit in `limit` columns (at least one)."""
    count = 0
    while count < len(word) and _columns(word[:count + 1]) <= limit:
        count += 1
    return max(count, 1)


def sources_chart(breakdown: dict, title: str, path: Path) -> Path:
    """Horizontal stacked bars: each source's mentions split by sentiment."""
    with _drawing(path), _chart_style():
        return _save(_draw_sources(breakdown, title), path)


def sources_figure(breakdown: dict, title: str):
    """The figure `sources_chart` saves (a matplotlib Figure, open: close it with plt.close)."""
    with _chart_style():
        return _draw_sources(breakdown, title)


def _draw_sources(breakdown: dict, title: str):
    fig, (axis,) = _figure("sources", rows=1)
    sources = sorted(breakdown, key=lambda s: sum(breakdown[s].values()))
    rows = list(range(len(sources)))  # a row per source, even where two names are drawn alike
    left = [0] * len(sources)
    for label in ("negative", "neutral", "positive", "unscored"):
        values = [breakdown[s].get(label, 0) for s in sources]
        drawn = [row for row in rows if values[row]]  # an empty bar would pin the axis's end
        if drawn:
            axis.barh(drawn, [values[row] for row in drawn], left=[left[row] for row in drawn],
                      color=COLOURS[label], label=label)
            left = [a + b for a, b in zip(left, values)]
    notes = [axis.annotate(f" {_source_note(breakdown[source])}", (left[row], row), va="center",
                           fontsize=8) for row, source in enumerate(sources)]
    axis.set_xlabel("mentions")
    axis.set_title(wrapped_title(chart_text(title)), loc="left", fontsize=12)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    if sources:
        axis.set_yticks(rows, [source_label(source) for source in sources])
        _legend_beside(axis, *axis.get_legend_handles_labels())
        _fit_notes(fig, axis, notes, left)
    else:  # nothing to scale to: a 0-based axis and a note instead of -0.06 to 0.06
        axis.set_xlim(0, 1)
        axis.set_yticks([])
        _note(axis, EMPTY_NOTE)
    return fig


def source_label(source: str) -> str:
    """A source's name as drawn beside its bar: escaped as `chart_text` does, and cut with '…'
    past SOURCE_LABEL_WIDTH columns, as a longer name would squeeze the bars off the chart."""
    text = chart_text(source)
    if _columns(text) <= SOURCE_LABEL_WIDTH:
        return text
    return text[:_fitting(text, SOURCE_LABEL_WIDTH - 1)] + "…"


def _fit_notes(fig, axis, notes, ends: list[int]) -> None:
    """Ends the x axis where each bar's note (its count and negative share, written after the
    bar) still fits inside the plot, so that none runs under the legend beside it or off the
    chart. A note too wide for the plot at any scale is left as drawn."""
    for note in notes:  # the plot's width is laid out without them; they are fitted into it
        note.set_in_layout(False)
    fig.draw_without_rendering()  # lays the figure out: the plot's width in pixels is final
    renderer = fig.canvas.get_renderer()
    width = axis.get_window_extent(renderer).width
    high = max(ends) * 1.05
    for note, end in zip(notes, ends):
        room = width - note.get_window_extent(renderer).width - NOTE_PAD_PX
        if room > width * MIN_BAR_ROOM:
            high = max(high, end * width / room)
    axis.set_xlim(0, high)


def _source_note(labels: dict[str, int]) -> str:
    """'5,040 (12% negative)', or with unscored ones '5,040 (12% negative of 40 scored, 5,000
    not scored yet)': the share is of the scored mentions only."""
    total = sum(labels.values())
    unscored = labels.get("unscored", 0)
    scored = total - unscored
    if not scored:
        return f"{total:,} (not scored yet)"
    share = f"{labels.get('negative', 0) / scored:.0%} negative"
    if not unscored:
        return f"{total:,} ({share})"
    return f"{total:,} ({share} of {scored:,} scored, {unscored:,} not scored yet)"


def _figure(kind: str, rows: int, height_ratios=None):
    width, height = CHART_SIZES[kind]
    fig, axes = plt.subplots(rows, 1, figsize=(width / DPI, height / DPI), dpi=DPI, sharex=True,
                             gridspec_kw={"height_ratios": height_ratios} if height_ratios else None,
                             squeeze=False, layout="constrained")
    return fig, list(axes[:, 0])


def _alerts_in_period(alerts: list[dict], series: Series) -> list[tuple[dict, dt.datetime,
                                                                          dt.datetime]]:
    """(alert, start, end) for each alert whose window overlaps the chart, cut to it, earliest
    first."""
    if not series.starts:
        return []
    low, high = series.starts[0], series.last_end
    spans = []
    for alert in alerts:
        start, end = from_iso(alert["window_start"]), from_iso(alert["window_end"])
        if end >= low and start <= high:
            spans.append((alert, max(start, low), min(end, high)))
    return sorted(spans, key=lambda span: span[1])


def _shade(axis, spans) -> None:
    """Each alert's window, shaded behind what the axis shows."""
    for _alert, start, end in spans:
        axis.axvspan(start, end, color=COLOURS["alert"], alpha=0.3, zorder=0)


def _label_alerts(fig, strip, spans) -> None:
    """Writes each alert's number in the strip above the chart, at the start of its window, in
    the first of LABEL_LANES rows where it overlaps no other number; numbers that find no room
    are listed in a caption under the chart instead."""
    strip.set_yticks([])
    strip.tick_params(axis="x", bottom=False)
    strip.set_ylabel("alerts", rotation=0, ha="right", va="center", fontsize=8)
    fig.draw_without_rendering()  # lays the figure out: pixel positions are final from here
    renderer = fig.canvas.get_renderer()
    right_edge = strip.get_window_extent(renderer).x1
    lane_ends = [-math.inf] * LABEL_LANES
    left_out = []
    for alert, start, _end in spans:
        label = strip.text(start, 0.5, f" #{alert['id']}", transform=strip.get_xaxis_transform(),
                           fontsize=8, color="#9a5f0a", va="center", ha="left")
        box = label.get_window_extent(renderer)
        if box.x1 > right_edge:  # at the right end: written leftwards from the edge
            label.set_x(strip.get_xlim()[1])
            label.set_horizontalalignment("right")
            box = label.get_window_extent(renderer)
        lane = next((i for i, end in enumerate(lane_ends) if box.x0 >= end + LABEL_GAP_PX), None)
        if lane is None:
            label.remove()
            left_out.append(alert)
            continue
        label.set_y(1 - (lane + 0.5) / LABEL_LANES)
        lane_ends[lane] = box.x1
    if left_out:
        _caption(fig, left_out)


def _caption(fig, left_out: list[dict]) -> None:
    """A line under the chart naming the shaded alerts whose number found no room above it."""
    names = ", ".join(f"#{alert['id']}" for alert in left_out[:CAPTION_ALERTS])
    more = len(left_out) - CAPTION_ALERTS
    names += f" and {more} more" if more > 0 else ""
    alerts = "alerts" if len(left_out) > 1 else "alert"
    fig.text(0.01, 0.008, f"Also shaded, no room for their numbers above: {alerts} {names} (see "
             "the alert list).", fontsize=8, color="#9a5f0a", ha="left", va="bottom")
    fig.get_layout_engine().set(rect=(0, 0.04, 1, 0.96))  # room for the caption


def _plus(moment: dt.datetime, delta: dt.timedelta) -> dt.datetime:
    """moment + delta, stopping at the end of year 9999 (a bad date stored as 9999-12-31)."""
    # Not dt.datetime.max: its microseconds round up to year 10000 in matplotlib's float dates.
    last = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=moment.tzinfo)
    try:
        return min(moment + delta, last)
    except OverflowError:
        return last


def _save(fig, path: Path) -> Path:
    try:
        with replacing(path) as temporary:  # a chart from an earlier report survives a failure
            fig.savefig(temporary, dpi=DPI, format="png")
    finally:
        plt.close(fig)
    return path


def _bucket_name(hours: int) -> str:
    if hours > 24 and hours % 24 == 0:
        return f"{hours // 24} days"
    return {1: "hour", 24: "day"}.get(hours, f"{hours} h")
