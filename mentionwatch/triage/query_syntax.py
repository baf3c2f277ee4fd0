"""Reading a search query that FTS5 cannot parse: stray punctuation separates words, a broken
structure is refused.

FTS5 fails on any character outside its syntax ('delay OR late!', '太慢, 很慢', '%慢'). The index
ignores punctuation, so here it separates words as it does in the indexed text: `late!` is `late`,
a lone `&`, `+` or `%` is dropped, and punctuation inside a run of letters keeps its words together
as a phrase, as the index sees them (`don't` is the phrase "don t", `wi-fi` is "wi fi"). In a run
with Chinese, Japanese or Korean characters, found as text rather than through the index, words
joined by ASCII punctuation are kept as typed (`1.5米`, `7-11便利店`), while other punctuation
(`太慢！很慢`) and a prefix `*` separate words, as they do in a query FTS5 reads as typed.
Everything that is still structure must be well formed, or the query is refused (UnreadableQuery)
rather than searched as something else: quotes and brackets closed, AND / OR / NOT with words on
both sides, and no `-word` (a minus does not leave a word out in FTS5: NOT does).

Kept as they are: "quoted phrases", brackets, AND / OR / NOT, a `*` right after a word (prefix)
and a title: or text: column filter in front of a word. A bracket beside a word gets the AND that
FTS5 wants written there (`lost (bag OR luggage)`).
"""
from __future__ import annotations

import itertools
import re
import unicodedata

from mentionwatch.triage.fulltext import has_no_space_script

OPERATORS = ("AND", "OR", "NOT")
COLUMNS = ("title", "text")
_COLUMN_FILTERS = tuple(name + ":" for name in COLUMNS)
# what takes the bracketed group after it as its own (FTS5's NEAR(a b), title:(a OR b), title:NEAR(…))
_BINDS_A_GROUP = (*_COLUMN_FILTERS, "NEAR", *(f"{column}NEAR" for column in _COLUMN_FILTERS))
# field names people type in other tools' search boxes (author:bob, source:reddit): the index has no
# such column, and read as words they would be the phrase "author bob", which finds nothing
# ("by:" and "from:" are left out: 'delayed by:2 hours' is ordinary text)
_FIELDS_ELSEWHERE = frozenset({"author", "user", "source", "site", "lang", "language", "watch", "sentiment",
                               "date"})
_NEAR_DISTANCE = re.compile(r",\s*(\d+)\s*$")  # how the inside of NEAR(a b, 3) ends
_PIECE = re.compile(r'\s*(?:(?P<quoted>"(?:[^"]|"")*")|(?P<bracket>[()])|(?P<chunk>[^\s"()]+))')


class UnreadableQuery(ValueError):
    """The query's structure is broken; the message says where, in one line."""


def is_word_char(char: str) -> bool:
    """Whether `char` belongs to a word, roughly as FTS5's tokenizer decides: ASCII letters, digits
    and _, and any other character that is neither a space nor punctuation (CJK, emoji ...)."""
    if char.isascii():
        return char.isalnum() or char in "_\x1a"
    return not char.isspace() and not unicodedata.category(char).startswith("P")


def repaired_query(query: str) -> str:
    """`query` as valid FTS5 text: stray punctuation turned into word separators.

    Raises UnreadableQuery for an unclosed quote or bracket, empty brackets, an operator without
    words on both sides, or a `-word`.
    """
    marked = [(piece, binds) for piece, binds in _pieces(query) if piece]
    pieces = [piece for piece, _binds in marked]
    _check_brackets(pieces)
    _check_operators(pieces)
    return " ".join(_with_and_beside_brackets(marked))


def _with_and_beside_brackets(marked: list[tuple[str, bool]]) -> list[str]:
    """AND written out between a bracket and a word or bracket beside it: FTS5 reads two words side
    by side as both (`late delayed`), but refuses `lost (bag OR luggage)` and `酒店(wifi)` unless the
    AND is there. Not after a piece that binds the bracket after it (NEAR(a b), text:(a b))."""
    joined: list[str] = []
    binds_next = False
    for piece, binds in marked:
        previous = joined[-1] if joined else None
        ends_operand = previous is not None and previous not in (*OPERATORS, "(")
        starts_operand = piece not in (*OPERATORS, ")")
        group_beside = previous == ")" or piece == "(" or (binds and piece.endswith(":"))
        if ends_operand and starts_operand and group_beside and not binds_next:
            joined.append("AND")
        joined.append(piece)
        binds_next = binds
    return joined


def lowercase_operator_hint(query: str) -> str | None:
    """A line for when nothing was found and `query` has `and`, `or` or `not` outside quotes in
    other than capitals: FTS5 searched it as a word, rarely what was meant then."""
    chunks = [match.group("chunk") for match in _PIECE.finditer(query) if match.group("chunk")]
    word = next((chunk for chunk in chunks if chunk.upper() in OPERATORS and chunk not in OPERATORS),
                None)
    if word is None:
        return None
    return (f"hint: {word!r} was searched as a word; AND, OR and NOT are operators only in capitals "
            f"({word.upper()})")


def _pieces(query: str) -> list[tuple[str, bool]]:
    """Quoted phrases, brackets, operators and words (FTS5 text each; '' for what has no word), each
    with whether it binds the bracket after it (NEAR (, text:( ): no AND goes between them."""
    pieces = []
    position = 0
    while query[position:].strip():
        match = _PIECE.match(query, position)
        if match is None:  # only a quote the pattern could not close is left
            raise UnreadableQuery(f"a quote (\") is not closed: {query[position:].strip()[:20]!r}")
        position = match.end()
        chunk = match.group("chunk")
        if chunk and has_no_space_script(chunk):  # its last part may bind what follows (酒店，text:(a OR b))
            *before, chunk = _cjk_parts(chunk) or [""]
            pieces.extend((_chunk(part), False) for part in before)
        if chunk and query[position:].startswith('"'):  # source:"reddit", title:"refund"
            _refuse_unknown_field(chunk + query[position:].split('"', 2)[1])
            quoted = _PIECE.match(query, position)
            if chunk in _COLUMN_FILTERS and quoted and quoted.group("quoted"):
                pieces.append((chunk + quoted.group("quoted"), False))
                position = quoted.end()
                continue
        if chunk and chunk.strip("-") == "" and query[position:].lstrip()[:1] in ('(', '"'):
            raise UnreadableQuery(f"'{chunk}{query[position:].lstrip()[:1]}': a minus does not leave words out; "
                                  "write NOT before them, after the words to keep")
        near_group = _near_group(query, position) if chunk in _BINDS_A_GROUP and chunk.endswith("NEAR") else None
        if near_group:
            phrases, distance, position = near_group
            pieces.extend(_near_with_distance(chunk, phrases, distance))
            continue
        if chunk in _BINDS_A_GROUP and query[position:].lstrip().startswith("("):
            pieces.append((chunk, True))
            continue
        pieces.append((match.group("quoted") or match.group("bracket") or _chunk(chunk), False))
    return pieces


def _near_group(query: str, position: int) -> tuple[str, str, int] | None:
    """(phrases, distance, end) of the bracket after NEAR at `position` when it ends in a distance
    (NEAR(a "b c", 3)); else None. Read character by character: a quote opens or closes a phrase
    ("" inside one closes and opens it again), and the first bracket outside a phrase ends it."""
    opening = len(query) - len(query[position:].lstrip())
    if not query.startswith("(", opening):
        return None
    in_phrase = False
    for at in range(opening + 1, len(query)):
        char = query[at]
        if char == '"':
            in_phrase = not in_phrase
        elif char in "()" and not in_phrase:
            if char == "(":
                return None
            distance = _NEAR_DISTANCE.search(query, opening + 1, at)
            return (query[opening + 1:distance.start()], distance[1], at + 1) if distance else None
    return None


def _near_with_distance(near: str, phrases: str, distance: str) -> list[tuple[str, bool]]:
    """NEAR(a b, 3): its phrases read as any other words, its distance kept as FTS5 writes it (read
    as words, the comma would be dropped and the 3 searched for)."""
    inside = [piece for piece in _pieces(phrases) if piece[0]]
    if not inside:
        raise UnreadableQuery(f"{near}(…, {distance}) holds no word")
    return [(near, True), ("(", False), *inside, (f", {distance}", False), (")", False)]


def _chunk(chunk: str) -> str:
    """One run of characters between spaces, quotes and brackets, as FTS5 text."""
    if chunk in OPERATORS:
        return chunk
    _refuse_unknown_field(chunk)
    column = next((name + ":" for name in COLUMNS if chunk.startswith(name + ":")), "")
    if not _words(chunk[len(column):]):
        column = ""  # 'text:' alone is the word text
    rest = chunk[len(column):]
    words = _words(rest)
    if not words:
        return ""
    unsigned = rest.lstrip("-")
    if unsigned != rest and is_word_char(unsigned[:1] or " "):
        raise UnreadableQuery(f"{chunk!r}: a minus does not leave a word out; write NOT {unsigned} "
                              "after the words to keep")
    phrase = words[0] if len(words) == 1 else '"' + " ".join(words) + '"'
    if len(words) > 1 and has_no_space_script(rest):
        # found as text (triage.fulltext), where the phrase "1 5米" could never match 1.5米: as typed
        typed = rest[rest.index(words[0]):rest.rindex(words[-1]) + len(words[-1])]
        phrase = '"' + typed.replace('"', '""') + '"'
    prefix = "*" if rest.endswith("*") and is_word_char(rest[-2:-1] or " ") else ""
    return column + phrase + prefix


def _cjk_parts(chunk: str) -> list[str]:
    """A chunk with Chinese, Japanese or Korean characters cut where FTS5 syntax, read unrepaired,
    separates its words: at non-ASCII punctuation and spaces (太慢！很慢) and after a prefix `*`
    (wifi*太差); each part is then read as a chunk of its own (operators, a minus, a prefix)."""
    parts, current = [], ""
    for char in chunk:
        if not char.isascii() and not is_word_char(char):
            parts.append(current)
            current = ""
        elif char == "*":
            parts.append(current + char)
            current = ""
        else:
            current += char
    return [part for part in parts + [current] if part]


def _refuse_unknown_field(chunk: str) -> None:
    """`author:bob` and the like: refused in one line, never searched as the phrase "author bob"."""
    name, colon, value = chunk.partition(":")
    if colon and name.lower() in _FIELDS_ELSEWHERE and _words(value):
        raise UnreadableQuery(f"'{name}:' is not a field search can look in, only title: and text: are "
                              f"(export filters by --source, --watch and --sentiment; to search the "
                              f"words themselves, write \"{name} {value}\")")


def _words(text: str) -> list[str]:
    return ["".join(run) for is_word, run in itertools.groupby(text, is_word_char) if is_word]


def _check_brackets(pieces: list[str]) -> None:
    depth = 0
    for previous, piece in zip([None] + pieces, pieces):
        if piece == ")" and previous == "(":
            raise UnreadableQuery("the brackets () hold no word")
        depth += {"(": 1, ")": -1}.get(piece, 0)
        if depth < 0:
            raise UnreadableQuery("a closing bracket ')' has no opening one")
    if depth > 0:
        raise UnreadableQuery("a bracket '(' is not closed")


def _check_operators(pieces: list[str]) -> None:
    padded = [None] + pieces + [None]
    for before, piece, after in zip(padded, padded[1:], padded[2:]):
        if piece in OPERATORS and (before in (None, "(", *OPERATORS) or after in (None, ")", *OPERATORS)):
            raise UnreadableQuery(f"{piece} needs words on both sides (to search for the word "
                                  f"itself, write \"{piece}\" in quotes)")
