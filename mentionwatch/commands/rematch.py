"""The `rematch` command: apply the watches' current queries to the mentions already stored, after
showing what would change (the work is done in storage/rematch.py); and `rename`, which moves a
renamed watch's stored history to its new name (storage/rename.py)."""
from __future__ import annotations

import time

import click

from mentionwatch.app import App, UserMistake, main, pass_app
from mentionwatch.terminal import terminal_safe

EXAMPLE_CHARS = 80


@main.command()
@click.option("--watch", "watches", multiple=True,
              help="Only this watch (repeatable) [default: every watch in the watchlist].")
@click.option("--any-source", is_flag=True,
              help="Also link posts of sources the watch does not collect from (collection will not go on "
                   "linking them).")
@click.option("--yes", is_flag=True, help="Apply. Without it, only say what would change.")
@pass_app
def rematch(app: App, watches: tuple[str, ...], any_source: bool, yes: bool) -> None:
    """Apply each watch's current query to the mentions already stored. Examples:

    \b
      mentionwatch rematch                  # shows what would change, with example posts
      mentionwatch rematch --watch acme --yes

    A mention linked to the watch that its query no longer matches (an `exclude` added) is
    unlinked from it; a stored mention it now matches (a widened query) is linked. The mentions
    themselves stay. Links made by `import --watch` are kept, and so are the posts behind alerts.
    Only posts of the watch's own sources are linked (its source types, and the sources of the
    posts linked to it) unless --any-source is given.
    """
    from storage.rematch import WatchRule, apply_rematch, plan_rematch

    chosen = _chosen_watches(app, watches)
    rules = [WatchRule.of(watch, None if any_source else app.db) for watch in chosen]
    older_crawls = _crawls_on_the_older_query(app, [watch.name for watch in chosen])
    started = time.monotonic()
    plan = plan_rematch(app.db, rules)
    if not yes:
        for changes in plan.watches:
            click.echo("\n".join(_preview_lines(changes)))
        click.echo(_read_line(plan, time.monotonic() - started))
        if any(changes.unlink or changes.link for changes in plan.watches):  # else there is nothing to apply
            click.echo("Nothing is changed yet: run the same command with --yes to apply.")
        _note_older_crawls(older_crawls)
        return
    apply_rematch(app.db, plan)
    for changes in plan.watches:
        click.echo(_done_line(changes))
    click.echo(_read_line(plan, time.monotonic() - started))
    _note_older_crawls(older_crawls)


def _note_older_crawls(watches: list[str]) -> None:
    if watches:
        click.echo(f"Note: a crawl of {', '.join(watches)} that started before the watchlist was last changed "
                   "is still running: it stores posts by the old query; run rematch again once it is over.")


def _crawls_on_the_older_query(app: App, watches: list[str]) -> list[str]:
    """The watches with a crawl still running that started before the watchlist file last changed:
    it matches posts by the query it read, and would store what a rematch now unlinks."""
    import datetime as dt

    from storage.crawl_processes import close_runs_of_gone_processes
    from storage.rename import RUNNING_AT_MOST
    from storage.timeutil import to_iso

    close_runs_of_gone_processes(app.db)  # a killed crawl's runs are not a crawl still going

    try:
        changed = dt.datetime.fromtimestamp(app.config_path.stat().st_mtime, dt.timezone.utc)
    except OSError:
        return []
    oldest_running = to_iso(dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=RUNNING_AT_MOST))
    return [watch for watch in watches if app.db.execute(
        "SELECT 1 FROM crawl_runs WHERE watch = ? AND status = 'running' AND started_at > ? "
        "AND started_at <= ? LIMIT 1", [watch, oldest_running, to_iso(changed)]).fetchone()]


def _chosen_watches(app: App, names: tuple[str, ...]) -> list:
    """The watches named (each must be in the watchlist), else every watch of the watchlist."""
    for name in names:
        app.require_configured_watch(name)
    configured = app.config.watches
    if not configured:
        raise UserMistake(f"no watches in {app.config_path}: nothing to match stored mentions against")
    chosen = set(names)
    return [watch for watch in configured if not chosen or watch.name in chosen]


def _preview_lines(changes) -> list[str]:
    if not (changes.unlink or changes.link):
        return [f"{changes.watch}: nothing to change.", *_kept_lines(changes, "would stay")]
    lines = [f"{changes.watch}: would unlink {_mentions(len(changes.unlink))} its query no longer "
             f"matches{_unknown_origin(changes)}, and link {_mentions(len(changes.link))} it now matches."]
    lines += _examples("unlink", changes.unlink_examples, len(changes.unlink))
    lines += _examples("link", changes.link_examples, len(changes.link))
    lines += _kept_lines(changes, "would stay")
    return lines


def _unknown_origin(changes) -> str:
    count = changes.unlink_of_unknown_origin
    if not count:
        return ""
    return (f" ({count} of them linked before mentionwatch recorded how links are made: an "
            "import --watch made before then is unlinked too, if its posts do not match)")


def _examples(verb: str, examples, total: int) -> list[str]:
    if not examples:
        return []
    lines = [f"  {verb}, e.g. (id, source, text):"]
    for example in examples:
        lines.append(f"    {example.mention_id}  {terminal_safe(example.source)}  "
                     f"{terminal_safe(example.text[:EXAMPLE_CHARS])}")
    if total > len(examples):
        lines.append(f"    ... and {total - len(examples):,} more")
    return lines


def _kept_lines(changes, verb: str) -> list[str]:
    """What rematch leaves for this watch, and why; `verb`: 'would stay' or 'stayed'."""
    lines = []
    if changes.imports_kept:
        lines.append(f"  {_links(changes.imports_kept)} made by 'mentionwatch import --watch "
                     f"{changes.watch}' that the query does not match {verb} (an import is not checked "
                     "against the query).")
    for source, count in sorted(changes.other_sources.items()):
        lines.append(f"  {_mentions(count)} from {terminal_safe(source)}, a source this watch does not collect "
                     f"from, {'matches' if count == 1 else 'match'} its query: not linked (--any-source "
                     f"links {'it' if count == 1 else 'them'}).")
    for source, count in sorted(changes.left_alone.items()):
        lines.append(f"  {_mentions(count)} from {terminal_safe(source)} {verb} linked "
                     f"(collected with options.match_query: false, not by the query).")
    if changes.alerts:
        ids = ", ".join(f"#{alert_id}" for alert_id in sorted(changes.alerts))
        lines.append(f"  {_mentions(sum(changes.alerts.values()), 'unlinked post')} {verb} behind "
                     f"alert{'s' if len(changes.alerts) > 1 else ''} {ids} (an alert keeps the posts "
                     "it was raised on).")
    return lines


def _done_line(changes) -> str:
    line = f"{changes.watch}: unlinked {_mentions(changes.unlinked)}, linked {_mentions(changes.linked)}."
    return "\n".join([line, *_kept_lines(changes, "stayed")])


def _read_line(plan, seconds: float) -> str:
    return (f"{plan.mentions_read:,} stored mention{'s' if plan.mentions_read != 1 else ''} matched against "
            f"the quer{'ies' if len(plan.watches) != 1 else 'y'} of {len(plan.watches)} "
            f"watch{'es' if len(plan.watches) != 1 else ''} in {seconds:.1f} s.")


def _mentions(count: int, noun: str = "mention") -> str:
    return f"1 {noun}" if count == 1 else f"{count:,} {noun}s"


def _links(count: int) -> str:
    return "1 link" if count == 1 else f"{count:,} links"


@main.command()
@click.argument("old")
@click.argument("new")
@click.option("--yes", is_flag=True, help="Move. Without it, only say what would move.")
@pass_app
def rename(app: App, old: str, new: str, yes: bool) -> None:
    """After renaming a watch in the watchlist (OLD to NEW), move its stored history to NEW.

    \b
      mentionwatch rename acme acme-corp         # shows what would move
      mentionwatch rename acme acme-corp --yes

    Every mention linked to OLD (imported ones too), its alerts (resolved ones too: a wave already
    dealt with does not alert again), its crawl runs and its sources' cursors (collection goes on
    where it stopped) become NEW's.
    """
    from storage.crawl_processes import close_runs_of_gone_processes
    from storage.rename import apply_rename, plan_rename

    close_runs_of_gone_processes(app.db)  # a killed crawl's runs are not a crawl still going
    plan = plan_rename(app.db, old, new)
    _check_rename(app, plan)
    what = _rename_what(plan)
    if not yes:
        click.echo(f"Would move from {old} to {new}: {what}.")
        click.echo("Nothing is changed yet: run the same command with --yes to move them.")
        return
    apply_rename(app.db, plan)
    click.echo(f"Moved from {old} to {new}: {what}.")


def _check_rename(app: App, plan) -> None:
    """One line for a rename that cannot be meant, or would leave two live alerts for one watch."""
    from storage.rename import names_differing_only_in_case, stored_watch_names

    configured = {watch.name for watch in app.config.watches}
    if plan.old == plan.new:
        raise UserMistake(f"{plan.old!r} is both the old and the new name")
    if plan.old in configured:
        raise UserMistake(f"{plan.old!r} is still a watch in {app.config_path}: rename it there first, "
                          "then move its history")
    app.require_configured_watch(plan.new)
    if plan.empty:
        stored = sorted(stored_watch_names(app.db) - configured)
        raise UserMistake(f"nothing is stored under {plan.old!r} (names stored that are not in the watchlist: "
                          f"{', '.join(stored) or 'none'})")
    clashes = names_differing_only_in_case(app.db, plan.new, plan.old)
    if clashes:
        raise UserMistake(f"the database holds {', '.join(repr(name) for name in clashes)}, which differs from "
                          f"{plan.new!r} only in capitals: their report charts would overwrite each other on a "
                          "Mac or Windows disk (choose another name)")
    if plan.running_crawls:
        source, started_at, process = plan.running_crawl
        by = f" by process {process.rpartition(':')[2]} on {process.rpartition(':')[0]}" if process else ""
        raise UserMistake(f"a crawl of {plan.old!r} is running ({source}, started {started_at}{by}, before the "
                          "rename): it would store under the old name again; run this once it is over (a "
                          "running service starts the renamed watch's crawls within seconds)")
    if plan.live_alerts and plan.new_live_alerts:
        raise UserMistake(f"both {plan.old!r} and {plan.new!r} have open or acknowledged alerts: resolve "
                          f"{plan.new!r}'s first ('mentionwatch alerts list --watch {plan.new}'), so that one "
                          "incident is not two live alerts")


def _rename_what(plan) -> str:
    linked_too = f" ({plan.already_linked:,} of them linked to {plan.new} already)" if plan.already_linked else ""
    live = f" ({plan.live_alerts} open or acknowledged)" if plan.live_alerts else ""
    dropped = (f" ({plan.cursors_dropped} more dropped: {plan.new} has its own, from a poll since the rename)"
               if plan.cursors_dropped else "")
    return (f"{_mentions(plan.mentions)}{linked_too}, {plan.alerts} alert{'s' if plan.alerts != 1 else ''}{live}, "
            f"{plan.crawl_runs:,} crawl run{'s' if plan.crawl_runs != 1 else ''} and "
            f"{plan.cursors} source cursor{'s' if plan.cursors != 1 else ''}{dropped}")
