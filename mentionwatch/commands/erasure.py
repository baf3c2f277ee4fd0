"""The `forget` command: erase stored mentions on request (a person's posts, a post deleted at its
source, or everything older than a date), after showing what would go."""
from __future__ import annotations

import datetime as dt

import click

from mentionwatch.app import INTERRUPTED_EXIT, App, UserMistake, actor_or_login_name, main, pass_app
from mentionwatch.cli_types import StoredIdRange

SHOWN_MISSING_IDS = 10


@main.command()
@click.argument("mention_ids", nargs=-1, type=StoredIdRange())
@click.option("--author", help="Every stored post of this author (name as stored; case, width and a "
                               "leading @ do not matter).")
@click.option("--url", help="The post at this address (http or https, a trailing / and utm_ "
                            "parameters do not matter).")
@click.option("--source", help="Only on this source, e.g. reddit (with --author or --url) "
                               "[default: every source].")
@click.option("--before", help="Every mention created before this time: 2025-01-01, or an age "
                               "such as 365d (keeping a year); at least 14 days ago. Not combined "
                               "with the others.")
@click.option("--allow-again", is_flag=True,
              help="Do not keep the erased posts (the author, the history before --before) out of "
                   "later crawls and imports.")
@click.option("--lift-cutoff", is_flag=True,
              help="Let mentions older than an earlier --before (or service.keep_mentions) be "
                   "stored again. Used on its own (with --yes).")
@click.option("--yes", is_flag=True, help="Erase (or lift). Without it, only say what would be done.")
@click.option("--by", "--actor", "actor", help="Who erases, for the log [default: your login name].")
@pass_app
def forget(app: App, mention_ids, author, url, source, before, allow_again, lift_cutoff, yes, actor) -> None:
    """Erase stored mentions: by id, by author, by address, or older than a date. Examples:

    \b
      mentionwatch forget --author "jane_doe" --source reddit          # shows what would go
      mentionwatch forget --author "jane_doe" --source reddit --yes    # erases it
      mentionwatch forget 1812 1907 --yes
      mentionwatch forget --before 365d --yes                          # keep one year

    The mentions go with their scores, triage marks and alert links; alerts stay, with their
    counts, and their timelines say how many of their posts were erased. Erased posts, authors
    and history are kept out of later crawls and imports (unless --allow-again); only a hash of
    a post or author is kept, never a name or a text. Files exported before are not touched.
    """
    from storage.erasure import ANY_SOURCE, erase, plan_erasure

    if lift_cutoff:
        _lift_cutoff(app, mention_ids or author or url or source or before or allow_again, yes)
        return
    remember = not allow_again
    selection = _selection(app, mention_ids, author, url, source, before, remember)
    plan = plan_erasure(app.db, selection)
    erased_already = _refuse_what_is_not_stored(app, plan, selection, yes)
    if erased_already and not plan.mention_ids and not selection.author:
        _say_erased_already(app, erased_already, yes)
        return
    # an author none of whose posts is stored: a misspelt name, said so; kept out all the same
    # (their later posts are not stored), refused where nothing would be kept out (--allow-again)
    no_author = _no_author_text(app, plan, selection)
    if no_author and not remember:
        raise UserMistake(f"{no_author[:1].lower()}{no_author[1:]}; nothing was erased."
                          + _close_authors_text(app.db, author))
    if not yes:
        if no_author:
            no_author += "." + _close_authors_text(app.db, author)
        click.echo(_preview(plan, selection, remember, no_author))
        return
    authors = [(source or ANY_SOURCE, author)] if (author and remember) else []
    try:
        done = erase(app.db, selection, what=_what(selection, remember), actor=actor_or_login_name(actor),
                     remember_posts=remember, remember_authors=authors)
    except KeyboardInterrupt:
        click.echo("\nInterrupted: the erasure may not be complete (what was erased stays erased, but "
                   "erased words may still be in the database file): run the same command again to "
                   "finish it.", err=True)
        raise SystemExit(INTERRUPTED_EXIT) from None
    author_only = not (selection.mention_ids or selection.url)
    if no_author and author_only and done.plan.mention_ids:
        no_author = None  # a post of theirs was stored since the check, and erased
    if no_author and author_only:
        where = f"on {selection.source}" if selection.source else "on any source"
        click.echo(f"{no_author}.{_close_authors_text(app.db, author)}")
        click.echo(f"Their posts {where} will be kept out of later crawls and imports "
                   f"(erasure #{done.erasure_id}).")
    else:
        click.echo(f"Erased {_mentions(len(done.plan.mention_ids))}{_by_source(done.plan)}; "
                   f"erasure #{done.erasure_id}." + _alerts_text(done.plan))
        if erased_already:
            click.echo(_erased_already_text(erased_already))
        if no_author:  # beside ids or an address that were found; the close names still stored
            click.echo(f"{no_author}.{_close_authors_text(app.db, author)}")
        if remember:
            click.echo(_kept_out_text(selection))
    if not done.file_clean:
        click.echo("Warning: another program (the service, a long export or report) is reading the "
                   "database: the erased text leaves the database file once it has finished (the "
                   "running service sees to it within a minute). Nothing erased can be read any more.",
                   err=True)


def _lift_cutoff(app: App, anything_else, yes: bool) -> None:
    """Without --yes, only say what would change, as every other use of `forget` does."""
    from storage.erasure import kept_out_before, lift_cutoff

    if anything_else:
        raise UserMistake("--lift-cutoff is used on its own")
    cutoff = lift_cutoff(app.db) if yes else kept_out_before(app.db)
    if cutoff is None:
        click.echo("No history was kept out by date: nothing to lift.")
    elif not yes:
        click.echo(f"Mentions created before {cutoff} are kept out of crawls and imports. Nothing "
                   "is lifted yet: run the same command with --yes to let them in again.")
    else:
        click.echo(f"Mentions created before {cutoff} may be stored again. (With "
                   "service.keep_mentions set, the service erases what is older than that within a "
                   "day.)")


def _selection(app: App, mention_ids, author, url, source, before, remember: bool):
    from mentionwatch.commands.triage import _require_sources, _time_option
    from storage.erasure import Selection

    if author is not None and not author.strip():
        raise UserMistake("Invalid value for --author: empty")
    if url is not None and not url.strip():
        raise UserMistake("Invalid value for --url: empty")
    if before and (mention_ids or author or url):
        raise UserMistake("--before erases by age and is used on its own, without ids, --author or --url")
    if source and not (author or url):
        raise UserMistake("--source narrows --author or --url; give one of them")
    before_text = _time_option(before, "--before") if before else None
    if before_text and remember:
        _refuse_recent_cutoff(before_text)
    selection = Selection(mention_ids=tuple(dict.fromkeys(mention_ids)), author=author, url=url,
                          source=source, before=before_text)
    if selection.is_empty():
        raise UserMistake("say what to erase: mention ids, --author, --url or --before (see --help)")
    if source:
        _require_sources(app.db, [source])
    return selection


def _refuse_recent_cutoff(before_text: str) -> None:
    """History erased by age is kept out of later storing: a date in the future, or a few days
    ago (a typo for another year), would keep out what the monitor collects next."""
    from storage.erasure import MIN_AGE_KEPT_OUT
    from storage.timeutil import from_iso, to_iso

    latest = dt.datetime.now(dt.timezone.utc) - MIN_AGE_KEPT_OUT
    # '14d' was worked out a moment ago, in whole seconds rounded up: it is "at least 14 days ago"
    latest_whole_second = latest.replace(microsecond=0) + dt.timedelta(seconds=bool(latest.microsecond))
    if from_iso(before_text) > latest_whole_second:
        raise UserMistake(
            f"Invalid value for --before: {before_text} is less than {MIN_AGE_KEPT_OUT.days} days ago; "
            f"mentions older than it would be kept out of every later crawl, new ones included. Use "
            f"a date before {to_iso(latest)[:10]}, or add --allow-again to erase without keeping out")


def _refuse_what_is_not_stored(app: App, plan, selection, yes: bool) -> list[int]:
    """Ids or an address that match nothing are a mistake (a typo), not an erasure of nothing.
    Ids erased before are no mistake: the same command run again after a Ctrl-C finishes the
    erasure (returned, to be said so)."""
    from storage.erasure import Selection, erased_before, finish_earlier_erasures, plan_erasure

    erased_already = erased_before(app.db, plan.missing_ids)
    known = set(erased_already)
    never_used = [one for one in plan.missing_ids if one not in known]
    if never_used:
        raise UserMistake(f"no mention with id {_listed(never_used)}; nothing was erased")
    if selection.url and not plan_erasure(app.db, Selection(url=selection.url, source=selection.source)).mention_ids:
        where = f" on {selection.source}" if selection.source else ""
        finished = " (if an earlier erasure of it was stopped, its erased words are now out of the database " \
                   "file)" if yes and finish_earlier_erasures(app.db) else ""
        raise UserMistake(f"no stored mention at the address given with --url{where}; nothing was erased{finished}")
    return erased_already


def _listed(mention_ids: list[int]) -> str:
    shown = ", ".join(map(str, mention_ids[:SHOWN_MISSING_IDS]))
    more = len(mention_ids) - SHOWN_MISSING_IDS
    return f"{shown} and {more} more" if more > 0 else shown


def _erased_already_text(mention_ids: list[int]) -> str:
    one = len(mention_ids) == 1
    return (f"Mention{'' if one else 's'} {_listed(mention_ids)} {'was' if one else 'were'} erased already "
            "(ids are never reused).")


def _say_erased_already(app: App, mention_ids: list[int], yes: bool) -> None:
    """Every id asked for was erased before: nothing to erase, and with --yes the end of an
    erasure stopped during its merge is done (its words taken out of the database file)."""
    from storage.erasure import finish_earlier_erasures

    if not yes:
        click.echo(_erased_already_text(mention_ids) + " Nothing is left to erase.")
        return
    clean = finish_earlier_erasures(app.db)
    click.echo(_erased_already_text(mention_ids) + " Nothing was left to erase; the words of earlier "
               "erasures are out of the database file" + ("." if clean else " once the programs reading it "
                                                            "have finished."))


def _no_author_text(app: App, plan, selection) -> str | None:
    """For an --author that no stored mention is by: a sentence saying so, without its full stop;
    None when the author has posts stored, or no --author was given."""
    from mentionwatch.terminal import terminal_safe
    from storage.erasure import Selection, plan_erasure

    if not selection.author:
        return None
    if selection.mention_ids or selection.url:  # the plan holds what those found too
        if plan_erasure(app.db, Selection(author=selection.author, source=selection.source)).mention_ids:
            return None
    elif plan.mention_ids:
        return None
    from storage.erasure import CASE_SENSITIVE_NAMES

    where = f" on {selection.source}" if selection.source else ""
    if selection.source in CASE_SENSITIVE_NAMES:  # 'Dang' and 'dang' are two accounts there
        apart_from = f"apart from width and a leading @; case counts on {selection.source}"
    elif selection.source:
        apart_from = "apart from case, width and a leading @"
    else:
        apart_from = f"apart from case (except on {', '.join(_sources_where_case_counts())}), width and a leading @"
    return (f"No stored mention is by '{terminal_safe(selection.author.strip())}'{where} (check the "
            f"spelling: names are matched as stored, {apart_from})")


def _sources_where_case_counts() -> list[str]:
    from storage.erasure import CASE_SENSITIVE_NAMES

    return sorted(name for name in CASE_SENSITIVE_NAMES if not name.startswith("*"))


def _close_authors_text(db, author: str) -> str:
    """' Stored authors with a close name: a (reddit), b (mastodon).', or '' when none is close."""
    from mentionwatch.terminal import terminal_safe

    close = _close_authors(db, author)
    if not close:
        return ""
    return " Stored authors with a close name: " + ", ".join(
        f"{terminal_safe(name)} ({', '.join(terminal_safe(source) for source in sources)})"
        for name, sources in close) + "."


def _close_authors(db, author: str, count: int = 3) -> list[tuple[str, list[str]]]:
    """(name, its sources) of stored authors whose names are close to `author`'s (on any source:
    the name may be stored on another one than --source says), the `count` closest forms with every
    spelling of each. Accents do not count here: a request typed 'Jose Nunez' is shown the stored
    'José Núñez'."""
    import difflib

    from crawler.matching import normalize_text
    from storage.erasure import author_form

    def compared(name: str) -> str:
        return normalize_text(author_form(name) or "")

    wanted = compared(author)
    reach = max(2, len(wanted) // 3)
    # compared form: each (name as stored, its source); every spelling is shown, since the erasure
    # itself keeps accents ('José Núñez' and 'Jose Nunez' are two requests)
    names: dict[str, list[tuple[str, str]]] = {}
    for name, source in db.execute("SELECT DISTINCT author, source FROM mentions WHERE author IS NOT NULL "
                                   "AND length(author) BETWEEN ? AND ?",
                                   [len(wanted) - reach, len(wanted) + reach + 2]):
        names.setdefault(compared(name), []).append((name, source))
    names.pop("", None)
    close = difflib.get_close_matches(wanted, list(names), n=count, cutoff=0.75)
    spellings: dict[str, list[str]] = {}
    for form in close:
        for name, source in sorted(names[form]):
            spellings.setdefault(name, []).append(source)
    return list(spellings.items())


def _what(selection, remember: bool = True) -> str:
    """How the erasure log describes it: never a name, an address or a text. One that keeps nothing
    out says so (`restore` cannot find its posts in a backup)."""
    from storage.erasure import ALLOWED_AGAIN_WHAT

    where = f"on {selection.source}" if selection.source else "on every source"
    parts = []
    if selection.mention_ids:
        parts.append(f"{len(selection.mention_ids)} mention id{'s' if len(selection.mention_ids) > 1 else ''}")
    if selection.author:
        parts.append(f"one author {where}")
    if selection.url:
        parts.append(f"one address {where}")
    if selection.before:
        parts.append(f"mentions created before {selection.before}")
    return f"{ALLOWED_AGAIN_WHAT if not remember else 'mentionwatch forget:'} " + ", ".join(parts)


def _preview(plan, selection, remember: bool, no_author: str | None = None) -> str:
    if not plan.mention_ids:
        lines = [no_author or "No stored mention matches."]
        if remember and (selection.author or selection.before):
            # only the sentence's first letter goes lower case, never a date or a name in it
            kept_out = _kept_out_text(selection, "would be", " all the same")
            lines.append(f"With --yes: {kept_out[:1].lower()}{kept_out[1:]}")
        return "\n".join(lines)
    lines = [f"Would erase {_mentions(len(plan.mention_ids))}{_by_source(plan)}, with "
             f"{plan.scores} sentiment score{'s' if plan.scores != 1 else ''} and "
             f"{plan.triage_marks} triage mark{'s' if plan.triage_marks != 1 else ''}." + _alerts_text(plan, "would")]
    if no_author:
        lines.append(no_author)
    if remember:
        lines.append(_kept_out_text(selection, "would be"))
    lines.append("Nothing is erased yet: run the same command with --yes to erase.")
    return "\n".join(lines)


def _kept_out_text(selection, verb: str = "are", also: str = "") -> str:
    if selection.before:
        return (f"Mentions created before {selection.before} {verb} kept out of later crawls and "
                f"imports{also} (forget --lift-cutoff --yes lets them in again).")
    if selection.author:
        where = f"on {selection.source}" if selection.source else "on any source"
        return f"This author's posts {where} {verb} kept out of later crawls and imports{also}."
    return f"The erased posts {verb} kept out of later crawls and imports{also}."


def _alerts_text(plan, mood: str = "") -> str:
    if not plan.alerts:
        return ""
    verb = "would lose" if mood == "would" else "lost"
    if len(plan.alerts) == 1:
        [(alert_id, count)] = plan.alerts.items()
        return f" Alert #{alert_id} {verb} {_mentions(count, 'post')} from its explanation."
    # per alert: one post behind two alerts is one post, not two
    each = ", ".join(f"#{alert_id} {_mentions(plan.alerts[alert_id], 'post')}" for alert_id in sorted(plan.alerts))
    return f" Alerts {verb} posts from their explanations: {each}."


def _mentions(count: int, noun: str = "mention") -> str:
    return f"1 {noun}" if count == 1 else f"{count} {noun}s"


def _by_source(plan) -> str:
    if not plan.per_source:
        return ""
    return " (" + ", ".join(f"{source} {count}" for source, count in plan.per_source.most_common()) + ")"
