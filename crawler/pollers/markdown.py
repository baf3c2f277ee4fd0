"""Plain text from the Markdown that Reddit posts and GitHub issues are written in.

Both APIs return the author's source, not what the site shows: `**bold**`, `[text](link)`, Reddit's
`&#x200B;` on the blank lines its rich-text editor leaves, GitHub's hidden `<!-- template -->`
comments. What is matched against a watch's query, scored and shown should be what a reader sees, so
the marks go and the words stay. A link's address is kept after its words (`here (https://…)`): a
team watching its own domain wants the post that links to it.
"""
from __future__ import annotations

import html
import re

_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(([^()\s]*)(?:\s+\"[^\"\n]*\")?\)")
_LINK = re.compile(r"\[([^\]\n]*)\]\(((?:[^()\s]|\([^()\s]*\))*)(?:\s+\"[^\"\n]*\")?\)")
_AUTOLINK = re.compile(r"<(https?://[^\s<>]+)>")
_SPOILER = re.compile(r">!(.+?)!<", re.DOTALL)
_PAIRED_MARK = re.compile(r"(\*\*|~~)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
_SINGLE_STAR = re.compile(r"(?<![\w*\\])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*\\])\*(?![\w*])")
_LINE_MARK = re.compile(r"^[ \t]{0,3}(?:#{1,6}[ \t]+|(?:>[ \t]?)+)", re.MULTILINE)
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>~|^])")
_INVISIBLE = re.compile("[\u200b\ufeff]")  # zero-width space and BOM: blank lines of Reddit's editor
# the HTML GitHub renders inside Markdown (Reddit shows tags as typed, so only for GitHub)
_GITHUB_TAG = re.compile(
    r"</?(?:details|summary|br|p|div|span|img|picture|source|sub|sup|kbd|b|i|em|strong|code|pre|a|hr|"
    r"h[1-6]|ul|ol|li|table|thead|tbody|tr|td|th|blockquote|ins|del)\b[^<>]*>", re.IGNORECASE)


def markdown_to_text(source: str, *, html_tags: bool = False) -> str:
    """The words of a Markdown post as a reader sees them. `html_tags`: drop the HTML tags GitHub
    renders (`<details>`, `<br>` …); Reddit shows tags as typed, so it keeps them."""
    text = _HTML_COMMENT.sub("", source.replace("\r\n", "\n").replace("\r", "\n"))
    if html_tags:
        text = _GITHUB_TAG.sub("", text)
    text = html.unescape(text)
    text = _IMAGE.sub(lambda found: found.group(1), text)
    text = _LINK.sub(_link_words, text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _SPOILER.sub(r"\1", text)
    text = _LINE_MARK.sub("", text)
    text = _PAIRED_MARK.sub(r"\2", text)
    text = _SINGLE_STAR.sub(r"\1", text)
    text = _ESCAPED.sub(r"\1", text)
    text = _INVISIBLE.sub("", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _link_words(found: re.Match) -> str:
    """`[words](address)` as its words, with the address after them when it leads off the site."""
    words, address = found.group(1).strip(), found.group(2)
    if not address.lower().startswith(("http://", "https://")):
        return words  # '/r/acme', '#emote' (Reddit's `[](#middleparrot)` reaction faces): no address
    if not words or words == address:
        return address
    return f"{words} ({address})"
