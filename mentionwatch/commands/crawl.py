"""Collector commands: `crawl` (poll sources once, then a summary table), `sources` (what exists),
`bench parsers` (parsing speed on the recorded API responses) and `bench spiders` (the Scrapy
spider on a generated local site)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from mentionwatch.app import App, UserMistake, bench, main, pass_app, shared_data_folder
from mentionwatch.cli_types import GivenPath
from mentionwatch.terminal import terminal_safe
from mentionwatch.text_table import table_lines

ALL_FAILED_EXIT = 1
ERROR_LINES_SHOWN = 5  # per source; the rest are counted, and all are kept in crawl_runs


@main.command()
@click.option("--watch", "watch_names", multiple=True, help="Only this watch (repeat for more).")
@click.option("--source", "source_types", multiple=True,
              help="Only sources of this type, e.g. reddit, or the one source a label of the table "
                   "names, e.g. rss#3f9a21c0 (repeat for more).")
@pass_app
def crawl(app: App, watch_names: tuple[str, ...], source_types: tuple[str, ...]) -> None:
    """Poll every enabled source of every watch once and store the new mentions.

    Prints a summary per watch and source. Exit code 1 only when every source failed.
    """
    from crawler.collect import collect_all, source_chosen

    app.require_config_file()
    config = app.config
    watch_names, source_types = tuple(dict.fromkeys(watch_names)), tuple(dict.fromkeys(source_types))
    for name in watch_names:
        app.require_configured_watch(name)
    for source_type in source_types:
        _check_source_choice(config, source_type)
    # a label (rss#3f9a21c0) of a type also given whole (rss) would crawl that source twice
    source_types = tuple(s for s in source_types if "#" not in s or s.partition("#")[0] not in source_types)
    planned = [(w.name, s.type) for w in config.watches for s in w.sources
               if s.enabled and _chosen(w.name, watch_names)
               and (not source_types or any(source_chosen(s, wanted) for wanted in source_types))]
    if not planned:
        click.echo("Nothing to crawl: no enabled sources match (add sources to your watches).")
        return
    show_progress = sys.stderr.isatty()

    def progress(watch, source_cfg, result):
        if show_progress:
            click.echo(f"  {watch.name}/{result.source}: {result.status}, {result.new} new "
                       f"({result.seconds:.1f}s)", err=True)

    if show_progress:
        click.echo(f"Crawling {len(planned)} source(s)...", err=True)
    results = []
    for watch_name in watch_names or (None,):
        for source_type in source_types or (None,):
            results += collect_all(app.db, config, watch_name=watch_name, source_type=source_type,
                                   progress=progress)
    click.echo(summary_table(results))
    for result in results:
        for line in result.errors[:ERROR_LINES_SHOWN]:
            # the pollers make remote text safe where they quote it; this guards every other line
            click.echo(terminal_safe(f"{result.watch}/{result.source}: {line}"), err=True)
        if result.retry_at is not None and not result.errors:  # a long pause asked on the last page
            click.echo(f"{result.watch}/{result.source}: the site asked for a pause until "
                       f"{result.retry_at:%Y-%m-%d %H:%M} UTC: the service polls it again after that",
                       err=True)
        left_out = len(result.errors) - ERROR_LINES_SHOWN
        if left_out > 0:
            click.echo(f"{result.watch}/{result.source}: … and {left_out} more error"
                       f"{'s' if left_out > 1 else ''} (all {len(result.errors)} are kept in the "
                       f"database: table crawl_runs, id {result.run_id}; see mentionwatch browse)",
                       err=True)
    if results and all(r.status == "failed" for r in results):
        raise SystemExit(ALL_FAILED_EXIT)


def _check_source_choice(config, wanted: str) -> None:
    """A --source value must be a known type, or the label of a source of the watchlist
    (`type#key`, as `crawl` and `status` show a source when its watch has several of a type)."""
    from crawler.pollers import SOURCES
    from crawler.source_types import settings_key

    source_type, label_key, key = wanted.partition("#")
    if source_type not in SOURCES:
        known = ", ".join(sorted(SOURCES))
        raise UserMistake(f"unknown source type {source_type!r} (known: {known})")
    if not label_key:
        return
    labels = sorted({f"{s.type}#{settings_key(s)}" for w in config.watches for s in w.sources
                     if s.type == source_type})
    if wanted not in labels:
        known = ", ".join(labels) if labels else "none"
        raise UserMistake(f"no {source_type} source labelled {wanted!r} in the watchlist "
                          f"(its {source_type} sources: {known})")


def _chosen(name: str, wanted: tuple[str, ...]) -> bool:
    """No --watch / --source given means all of them."""
    return not wanted or name in wanted


def summary_table(results) -> str:
    """Plain-text table: one row per watch and source, then the totals."""
    header = ("watch", "source", "status", "fetched", "new", "duplicates", "filtered", "rejected",
              "errors", "time")
    rows = [(r.watch, r.source, r.status, r.fetched, r.new, r.duplicates, r.filtered, r.rejected,
             len(r.errors), f"{r.seconds:.1f}s") for r in results]
    if len(results) > 1:
        rows.append(("total", "", "", *(sum(r[i] for r in rows) for i in range(3, 9)),
                     f"{sum(r.seconds for r in results):.1f}s"))
    return "\n".join(table_lines([header, *rows], right=range(3, len(header))))


@main.command()
def sources() -> None:
    """List the supported source types, what they need and their options."""
    from crawler.pollers import COMMON_OPTIONS, SOURCES

    for info in SOURCES.values():
        kind = "Scrapy spider" if info.poller is None else "API"
        click.echo(f"{info.type}  ({kind})")
        click.echo(f"    {info.description}")
        if info.secrets:
            click.echo(f"    optional environment variables: {', '.join(info.secrets)}")
        default_address = _default_base_url(info.poller)
        if default_address:
            click.echo(f"    base_url: the API's address, to use another server or a proxy (default {default_address})")
        for name, text in info.options.items():
            click.echo(f"    options.{name}: {text}")
        click.echo("")
    click.echo("Every source also takes:")
    for name, text in COMMON_OPTIONS.items():
        click.echo(f"    {name}: {text}")


def _default_base_url(poller) -> str:
    if poller is None:
        return ""
    if poller.source == "googleplay":  # the library's host (crawler.pollers.googleplay)
        from crawler.pollers.googleplay import PLAY_BASE_URL

        return PLAY_BASE_URL
    return poller.default_base_url


RECORDED_PAYLOADS = (  # (parser's source type, file under the shared data folder, how to read it)
    ("reddit", "api/reddit/response_bodies/r_all_new_2016-12-22.json", "json"),
    ("hackernews", "api/hackernews/search_by_date_query-nodejs.json", "json"),
    ("mastodon", "api/mastodon/test_entity_searchv2.yaml", "vcr-search"),
    ("bluesky", "api/bluesky/thread_view_post_with_embed_media.json", "json"),
    ("rss", "api/rss/nytimes_world_2024-08-08.xml", "bytes"),
    ("appstore", "api/appstore/customerreviews_us_id1321994487.json", "json"),
    ("appstore", "api/appstore/customerreviews_jp_id1404176564_page1.xml", "bytes"),
    ("googleplay", "api/googleplay/google_play_review_jp.mixi.html", "bytes"),
)


@bench.command(name="parsers")
@click.option("--data", "data_dir", type=GivenPath(path_type=Path, file_okay=False), default=None,
              help="The shared data folder [default: $MENTIONWATCH_SHARED_DATA or ../shared/data].")
@click.option("--seconds", default=1.0, show_default=True, help="Time spent on each file.")
def bench_parsers(data_dir: Path | None, seconds: float) -> None:
    """Parse each recorded API response repeatedly and print items parsed per second."""
    from crawler.pollers import SOURCES

    data_dir = data_dir or shared_data_folder()
    if not data_dir.is_dir():
        raise UserMistake(f"{data_dir}: no such folder (give --data or set MENTIONWATCH_SHARED_DATA)")
    click.echo(f"{'source':<11} {'file':<52} {'items':>5} {'items/s':>9}")
    missing = 0
    for source_type, relative, kind in RECORDED_PAYLOADS:
        path = data_dir / relative
        if not path.exists():
            click.echo(f"{source_type:<11} {relative:<52} missing", err=True)
            missing += 1
            continue
        payload = _read_payload(path, kind)
        parse = SOURCES[source_type].poller.parse
        items, runs, started = len(parse(payload)), 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            parse(payload)
            runs += 1
        rate = items * runs / (time.perf_counter() - started)
        # a file whose items are no mentions (Bluesky's recorded post is a quote with no text of
        # its own) has no rate to show
        shown = f"{rate:>9,.0f}" if items else f"{'-':>9}  (no mention in this answer)"
        click.echo(f"{source_type:<11} {path.name:<52} {items:>5} {shown}")
    if missing:
        raise click.ClickException(f"{missing} of {len(RECORDED_PAYLOADS)} recorded files are missing "
                                   f"under {data_dir}")


@bench.command(name="spiders")
@click.option("--pages", default=100, show_default=True, help="Listing pages of the generated site.")
@click.option("--reviews", default=20, show_default=True, help="Reviews on each listing page.")
def bench_spiders(pages: int, reviews: int) -> None:
    """Time the review spider (real Scrapy, one process per crawl) on a generated site on 127.0.0.1:
    a one-page crawl, a full crawl and an incremental one, polite delays off."""
    from crawler.spiders.bench import run_bench

    run_bench(pages, reviews)


def _read_payload(path: Path, kind: str):
    if kind == "bytes":
        return path.read_bytes()
    if kind == "vcr-search":
        import yaml

        interactions = yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]
        body = next(i for i in interactions if "/api/v2/search" in i["request"]["uri"])
        return json.loads(body["response"]["body"]["string"])
    return json.loads(path.read_text(encoding="utf-8"))
