"""The `forget` command: erase stored mentions on request (a person's posts, a post deleted at its
source, or everything older than a date), after showing what would go."""
from __future__ import annotations

import click

from mentionwatch.app import App, UserMistake, actor_or_login_name, main, pass_app


@main.command()
@click.argument("mention_ids", nargs=-1, type=int)
@click.option("--author", help="Every stored post of this author (name as stored, any case).")
@click.option("--url", help="The post at this address.")
@click.option("--source", help="Only on this source, e.g. reddit (with --author or --url) "
                               "[default: every source].")
@click.option("--before", help="Every mention created before this time: 2025-01-01, or an age "
                               "such as 365d (keeping a year). Not combined with the others.")
@click.option("--allow-again", is_flag=True,
              help="Do not keep the erased posts (the author, the history before --before) out of "
                   "later crawls and imports.")
@click.option("--yes", is_flag=True, help="Erase. Without it, only say what would be erased.")
@click.option("--by", "--actor", "actor", help="Who erases, for the log [default: your login name].")
@pass_app
def forget(app: App, mention_ids, author, url, source, before, allow_again, yes, actor) -> None:
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

    selection = _selection(app, mention_ids, author, url, source, before)
    plan = plan_erasure(app.db, selection)
    if plan.missing_ids:
        raise UserMistake(f"no mention with id {', '.join(map(str, plan.missing_ids))}; nothing was erased")
    remember = not allow_again
    if not yes:
        click.echo(_preview(plan, selection, remember))
        return
    authors = [(source or ANY_SOURCE, author)] if (author and remember) else []
    erasure_id, done = erase(app.db, selection, what=_what(selection), actor=actor_or_login_name(actor),
                             remember_posts=remember, remember_authors=authors)
    click.echo(f"Erased {_mentions(len(done.mention_ids))}{_by_source(done)}; erasure #{erasure_id}."
               + _alerts_text(done))
    if remember:
        click.echo(_kept_out_text(selection))


def _selection(app: App, mention_ids, author, url, source, before):
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
    selection = Selection(mention_ids=tuple(dict.fromkeys(mention_ids)), author=author, url=url,
                          source=source, before=_time_option(before, "--before") if before else None)
    if selection.is_empty():
        raise UserMistake("say what to erase: mention ids, --author, --url or --before (see --help)")
    if source:
        _require_sources(app.db, [source])
    return selection


def _what(selection) -> str:
    """How the erasure log describes it: never a name, an address or a text."""
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
    return "mentionwatch forget: " + ", ".join(parts)


def _preview(plan, selection, remember: bool) -> str:
    if not plan.mention_ids:
        lines = ["No stored mention matches."]
        if selection.author and remember:
            lines.append("With --yes, this author's posts would be kept out of later crawls and imports.")
        return "\n".join(lines)
    lines = [f"Would erase {_mentions(len(plan.mention_ids))}{_by_source(plan)}, with "
             f"{plan.scores} sentiment score{'s' if plan.scores != 1 else ''} and "
             f"{plan.triage_marks} triage mark{'s' if plan.triage_marks != 1 else ''}." + _alerts_text(plan, "would")]
    if remember:
        lines.append(_kept_out_text(selection, "would be"))
    lines.append("Nothing is erased yet: run the same command with --yes to erase.")
    return "\n".join(lines)


def _kept_out_text(selection, verb: str = "are") -> str:
    if selection.before:
        return (f"Mentions created before {selection.before} {verb} not stored again by crawls and "
                "imports.")
    if selection.author:
        where = f"on {selection.source}" if selection.source else "on any source"
        return f"This author's posts {where} {verb} kept out of later crawls and imports."
    return f"The erased posts {verb} kept out of later crawls and imports."


def _alerts_text(plan, mood: str = "") -> str:
    if not plan.alerts:
        return ""
    ids = ", ".join(f"#{alert_id}" for alert_id in sorted(plan.alerts))
    verb = "would lose" if mood == "would" else "lost"
    several = len(plan.alerts) > 1
    return (f" Alert{'s' if several else ''} {ids} {verb} {_mentions(sum(plan.alerts.values()), 'post')} "
            f"from {'their' if several else 'its'} explanation{'s' if several else ''}.")


def _mentions(count: int, noun: str = "mention") -> str:
    return f"1 {noun}" if count == 1 else f"{count} {noun}s"


def _by_source(plan) -> str:
    if not plan.per_source:
        return ""
    return " (" + ", ".join(f"{source} {count}" for source, count in plan.per_source.most_common()) + ")"
