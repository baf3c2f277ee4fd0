"""Plain text from the Markdown that Reddit posts and GitHub issues are written in.

Both APIs return the author's source, not what the site shows: `**bold**`, `[text](link)`, Reddit's
`&#x200B;` on the blank lines its rich-text editor leaves, GitHub's hidden `<!-- template -->`
comments. What is matched against a watch's query, scored and shown should be what a reader sees, so
the marks go and the words stay. A link's address is kept after its words (`here (https://…)`): a
team watching its own domain wants the post that links to it. Code (fenced, or in backticks)
is shown as written, so it is kept as written.
"""
from __future__ import annotations

import html
import re

# code: a fenced block (``` or ~~~, or more of them) or a span in backticks, kept as written. A line
# indented four spaces is not taken for code: it is as often a nested list item, and the marks
# this module removes need the start of a line (headings, quotes) that indentation already keeps.
# (a backtick fence's first line holds no backtick: '```acme crashes```' is a span, as on the sites;
# a closing fence may be longer than the opening one)
_CODE = re.compile(r"^(?P<fence>`{3,}(?=[^`\n]*\n)|~{3,})[^\n]*\n.*?(?:^(?P=fence)[`~]*[ \t]*$|\Z)"
                   r"|``[^\n]+?``|`[^`\n]+`",
                   re.MULTILINE | re.DOTALL)
_FENCE_LINE = re.compile(r"^(?:`{3,}|~{3,})[^\n]*\n?|\n?(?:`{3,}|~{3,})[ \t]*$")
_KEPT = re.compile("\ue000(\\d+)\ue001")  # where a piece of code waits while the rest is read
# an entity with its semicolon: html.unescape alone also reads '&region' in an address as '®ion'
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(([^()\s]*)(?:\s+\"[^\"\n]*\")?\)")
_LINK = re.compile(r"\[([^\]\n]*)\]\(((?:[^()\s]|\([^()\s]*\))*)(?:\s+\"[^\"\n]*\")?\)")
_AUTOLINK = re.compile(r"<(https?://[^\s<>]+)>")
_SPOILER = re.compile(r">!(.+?)!<", re.DOTALL)
# '**bold**' and '~~struck~~' within a line ('__' is left alone: Python's __init__)
_PAIRED_MARK = re.compile(r"(\*\*|~~)(?=\S)([^\n]+?)(?<=\S)\1")
_SINGLE_STAR = re.compile(r"(?<![\w*\\])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*\\])\*(?![\w*])")
_LINE_MARK = re.compile(r"^[ \t]{0,3}(?:#{1,6}[ \t]+|(?:>[ \t]?)+)", re.MULTILINE)
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>~|^])")
_INVISIBLE = re.compile("[\u200b\ufeff]")  # zero-width space and BOM: blank lines of Reddit's editor
# the HTML GitHub renders inside Markdown (Reddit shows tags as typed, so only for GitHub)
_GITHUB_TAG = re.compile(
    r"</?(?:details|summary|br|p|div|span|img|picture|source|sub|sup|kbd|b|i|em|strong|code|pre|a|hr|"
    r"h[1-6]|ul|ol|li|table|thead|tbody|tr|td|th|blockquote|ins|del)\b[^<>]*>", re.IGNORECASE)


def markdown_to_text(source: str, *, github: bool = False) -> str:
    """The words of a Markdown post as a reader sees them. `github`: also drop the HTML comments
    and tags GitHub hides or renders (`<!-- … -->`, `<details>`, `<br>` …); Reddit shows them as
    typed, so it keeps them."""
    # the placeholders' private-use characters would be taken for ones (and mean nothing in a post)
    text = source.replace("\r\n", "\n").replace("\r", "\n").replace("\ue000", "").replace("\ue001", "")
    code: list[str] = []
    text = _CODE.sub(lambda found: _set_aside(found, code), text)
    if github:
        text = _GITHUB_TAG.sub("", _without_html_comments(text))
    text = _ENTITY.sub(lambda found: html.unescape(found.group()), text)
    text = _IMAGE.sub(lambda found: found.group(1), text)
    text = _LINK.sub(_link_words, text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _SPOILER.sub(r"\1", text)
    text = _LINE_MARK.sub("", text)
    text = _PAIRED_MARK.sub(r"\2", text)
    text = _SINGLE_STAR.sub(r"\1", text)
    text = _ESCAPED.sub(r"\1", text)
    text = _INVISIBLE.sub("", text)
    text = _KEPT.sub(lambda found: code[int(found.group(1))], text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _without_html_comments(text: str) -> str:
    """Without the `<!-- … -->` comments GitHub hides; one never closed is shown, so it stays.
    (A loop, not a regular expression: one for this takes time growing with the square of a
    text of many unclosed comments.)"""
    kept, position = [], 0
    while (start := text.find("<!--", position)) >= 0:
        end = text.find("-->", start + 4)
        if end < 0:
            break
        kept.append(text[position:start])
        position = end + 3
    kept.append(text[position:])
    return "".join(kept)


def _set_aside(found: re.Match, code: list[str]) -> str:
    """A placeholder for a piece of code; a fenced block is kept without its fence lines."""
    piece = found.group()
    code.append(_FENCE_LINE.sub("", piece) if found.group("fence") else piece)
    return f"\ue000{len(code) - 1}\ue001"


def _link_words(found: re.Match) -> str:
    """`[words](address)` as its words, with the address after them when it leads off the site."""
    words, address = found.group(1).strip(), found.group(2)
    if not address.lower().startswith(("http://", "https://")):
        return words  # '/r/acme', '#emote' (Reddit's `[](#middleparrot)` reaction faces): no address
    if not words or words == address:
        return address
    return f"{words} ({address})"
