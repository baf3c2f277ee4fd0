"""The SQL condition of a full-text query: FTS5 for words, text containment for CJK words.

The index (FTS5, tokenizer unicode61) splits text at spaces and punctuation, and at emoji and
Chinese, Japanese and Korean characters (storage.migrations.FTS_SEPARATOR_RANGES), which it holds
none of: those scripts put no spaces between words (Korean attaches particles to them), so a whole
run such as "酒店太差了" would be one token, and a search for 酒店 would find only posts where it
stands alone. Each word or "phrase" of the query that holds such characters (or an emoji) is
matched as text instead (contained in the title or text), and the rest of the query still goes
through the index:

    酒店 wifi          contains 酒店 AND MATCH 'wifi'
    太慢 OR 很慢       contains 太慢 OR contains 很慢
    外卖 NOT 太慢      contains 外卖 AND NOT contains 太慢

AND, OR, NOT and brackets keep their FTS5 meaning and precedence. What has no meaning for text
containment (NEAR, a column filter such as title:, ^ and +) is refused around CJK words with
UnsupportedQuery. A query without CJK characters is one FTS5 MATCH. Punctuation and '_' inside a
bareword split it (太慢！很慢 is 太慢 and 很慢, 酒店_wifi is 酒店 and wifi), as the tokenizer splits
the indexed text.
"""
from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

# Scripts written without spaces between words (or, for Hangul, with particles attached to them).
NO_SPACE_RANGES = (
    (0x0E00, 0x0EFF),    # Thai, Lao
    (0x1000, 0x109F),    # Myanmar
    (0x1100, 0x11FF),    # Hangul Jamo
    (0x1780, 0x17FF),    # Khmer
    (0x2E80, 0x2FDF),    # CJK radicals, Kangxi radicals
    (0x3005, 0x3007),    # 々 〆 〇
    (0x3040, 0x30FF),    # Hiragana, Katakana
    (0x3100, 0x31FF),    # Bopomofo, Hangul compatibility Jamo, Katakana extensions
    (0x3400, 0x4DBF),    # CJK extension A
    (0x4E00, 0x9FFF),    # CJK unified ideographs
    (0xA960, 0xA97F),    # Hangul Jamo extended A
    (0xAC00, 0xD7FF),    # Hangul syllables, Jamo extended B
    (0xF900, 0xFAFF),    # CJK compatibility ideographs
    (0xFF66, 0xFFDC),    # halfwidth Katakana and Hangul
    (0x20000, 0x3134F),  # CJK extensions B-G
    (0x1F000, 0x1FAFF),  # emoji: the index splits words at them and holds none (see storage.migrations)
)
_NO_SPACE = re.compile("[" + "".join(f"{chr(low)}-{chr(high)}" for low, high in NO_SPACE_RANGES) + "]")

# FTS5 query syntax (https://sqlite.org/fts5.html#full_text_query_syntax): quoted strings with ""
# for a quote, barewords of ASCII letters, digits, _ and \x1a or any non-ASCII character, and
# single-character operators. Unlike FTS5, a non-ASCII space (the ideographic space U+3000 that
# Chinese and Japanese input methods type) separates words here, as an ASCII space does.
_TOKEN = re.compile(r'\s*(?:(?P<quoted>"(?:[^"]|"")*")|(?P<bare>(?:[A-Za-z0-9_\x1a]|[^\x00-\x7f\s])+)'
                    r'|(?P<punct>[(){}:,+*^-]))')


class UnsupportedQuery(ValueError):
    """The query combines CJK words with syntax that text containment cannot follow."""


def has_no_space_script(text: str) -> bool:
    """Whether `text` has a character of a script written without spaces (Chinese, Japanese ...)."""
    return _NO_SPACE.search(text) is not None


@dataclass(frozen=True)
class Fts:
    """Part of the query the index answers: FTS5 text."""
    text: str


@dataclass(frozen=True)
class Contains:
    """A CJK word or phrase, found as text in the title or text of a mention."""
    value: str


@dataclass(frozen=True)
class Group:
    """All (AND) or any (OR) of its parts."""
    operator: str
    parts: tuple


@dataclass(frozen=True)
class Without:
    """`keep NOT drop`."""
    keep: object
    drop: object


def search_condition(query: str, params: dict) -> str:
    """SQL over `m` (mentions) selecting what `query` (valid FTS5 syntax) finds.

    Its parameters are added to `params` as :q0, :q1 ...
    Raises UnsupportedQuery for what cannot be searched (see the module's note).
    """
    return _sql(parse(query), params)


def parse(query: str):
    """The query as a tree of Fts / Contains / Group / Without (one Fts when it has no CJK)."""
    if not has_no_space_script(query):
        return Fts(query)
    parser = _Parser(query)
    tree = parser.expression()
    parser.expect_end()
    return tree


class _Parser:
    """Recursive descent over FTS5's grammar; NOT binds tighter than AND, AND tighter than OR, and
    words written side by side (an implicit AND) tightest of all, as in FTS5."""

    def __init__(self, query: str):
        self.query = query
        self.tokens = _tokens(query)
        self.position = 0

    def peek(self, offset: int = 0):
        """The token `offset` ahead; past the end, kind None."""
        index = self.position + offset
        if index < len(self.tokens):
            return self.tokens[index]
        return (None, "", len(self.query), len(self.query))

    def take(self):
        token = self.peek()
        self.position = min(self.position + 1, len(self.tokens))
        return token

    def expect_end(self) -> None:
        if self.position < len(self.tokens):
            raise UnsupportedQuery(f"cannot read it at {self.query[self.peek()[2]:][:20]!r}")

    def expression(self):
        return self._binary("OR", self._all)

    def _all(self):
        return self._binary("AND", self._without)

    def _binary(self, operator: str, operand):
        parts = [operand()]
        while self.peek()[0] == operator:
            self.take()
            parts.append(operand())
        return _group(operator, parts)

    def _without(self):
        tree = self._unit()
        while self.peek()[0] == "NOT":
            self.take()
            tree = _without(tree, self._unit())
        return tree

    def _unit(self):
        if self.peek()[0] == "(":
            self.take()
            tree = self.expression()
            if self.take()[0] != ")":
                raise UnsupportedQuery("a bracket is not closed")
            return tree
        if self._column_filter_ahead() and self._bracket_after_column_filter():
            return self._raw_fts(self._skip_column_filter_group, "a column filter (title:, text:)")
        parts = [self._near_set()]
        while self.peek()[0] in ("string", "-", "{", "^"):  # side by side: an implicit AND
            parts.append(self._near_set())
        return _group("AND", parts)

    def _near_set(self):
        """One phrase, NEAR group, or either behind a column filter: a leaf of the tree."""
        kind, text, _, _ = self.peek()
        if kind == "^":
            return self._raw_fts(self._skip_caret_phrase, "^ (start of a column)")
        if self._column_filter_ahead():
            return self._raw_fts(self._skip_column_filter_set, "a column filter (title:, text:)")
        if kind == "string" and text == "NEAR" and self.peek(1)[0] == "(":
            return self._raw_fts(self._skip_near, "NEAR(...)")
        if kind == "string":
            return self._phrase()
        raise UnsupportedQuery(f"cannot read it at {text or 'the end'!r}")

    def _phrase(self):
        start = self.peek()[2]
        value = self._string()
        strings = 1
        if self.peek()[0] == "*":
            self.take()
        while self.peek()[0] == "+":
            self.take()
            self._string()
            strings += 1
            if self.peek()[0] == "*":
                self.take()
        raw = self.query[start:self.tokens[self.position - 1][3]]
        if not has_no_space_script(raw):
            return Fts(raw)
        if strings > 1:
            raise UnsupportedQuery("+ (joining phrases)" + _CJK_REFUSAL)
        return Contains(value)

    def _string(self) -> str:
        kind, text, _, _ = self.take()
        if kind != "string":
            raise UnsupportedQuery(f"expected a word, found {text!r}")
        return text

    def _raw_fts(self, skip, construct: str) -> Fts:
        """The construct `skip` steps over, kept as FTS5 text; refused when it holds CJK words."""
        start = self.peek()[2]
        skip()
        raw = self.query[start:self.tokens[self.position - 1][3]]
        if has_no_space_script(raw):
            raise UnsupportedQuery(construct + _CJK_REFUSAL)
        return Fts(raw)

    def _column_filter_ahead(self) -> bool:
        kind = self.peek()[0]
        return kind in ("-", "{") or (kind == "string" and self.peek(1)[0] == ":")

    def _bracket_after_column_filter(self) -> bool:
        offset = 0
        while self.peek(offset)[0] not in (":", None):
            offset += 1
        return self.peek(offset + 1)[0] == "("

    def _skip_column_list(self) -> None:
        if self.peek()[0] == "-":
            self.take()
        if self.take()[0] == "{":
            while self.take()[0] not in ("}", None):
                pass
        self.take()  # the colon

    def _skip_column_filter_group(self) -> None:
        self._skip_column_list()
        self.take()  # (
        self.expression()
        self.take()  # )

    def _skip_column_filter_set(self) -> None:
        self._skip_column_list()
        self._near_set()

    def _skip_near(self) -> None:
        self.take()  # NEAR
        depth = 0
        while True:
            kind = self.take()[0]
            depth += {"(": 1, ")": -1}.get(kind, 0)
            if depth == 0 or kind is None:
                return

    def _skip_caret_phrase(self) -> None:
        self.take()  # ^
        self._phrase()


_CJK_REFUSAL = (" cannot be used with Chinese, Japanese or Korean words, which are found as text "
                "(words, \"phrases\", AND, OR, NOT and brackets can)")


def _tokens(query: str) -> list[tuple]:
    """(kind, text, start, end) for each token; kind is 'string', an operator word or the character."""
    tokens = []
    position = 0
    while position < len(query):
        match = _TOKEN.match(query, position)
        if match is None:
            if query[position:].strip():
                raise UnsupportedQuery(f"cannot read it at {query[position:position + 20]!r}")
            break
        position = match.end()
        if match.group("quoted"):
            value = match.group("quoted")[1:-1].replace('""', '"')
            tokens.append(("string", value, match.start("quoted"), match.end()))
        elif match.group("bare"):
            tokens.extend(_bare_words(match.group("bare"), match.start("bare")))
        else:
            tokens.append((match.group("punct"), match.group("punct"), match.start("punct"), match.end()))
    return tokens


def _bare_words(bare: str, start: int) -> list[tuple]:
    """The tokens of a bareword. FTS5 takes any non-ASCII character and '_' into one, but its
    tokenizer splits at punctuation (太慢！很慢 holds 太慢 and 很慢; lost_bag holds lost and bag),
    so a CJK word must not include it."""
    tokens = []
    position = start
    for is_punctuation, run in itertools.groupby(bare, _is_punctuation):
        word = "".join(run)
        if not is_punctuation:
            kind = word if word in ("AND", "OR", "NOT") else "string"
            tokens.append((kind, word, position, position + len(word)))
        position += len(word)
    return tokens


def _is_punctuation(char: str) -> bool:
    """Whether the tokenizer separates words at `char`: '_' is the one ASCII such character
    a bareword can hold (FTS5 barewords are letters, digits, '_' and non-ASCII)."""
    return char == "_" or (not char.isascii() and unicodedata.category(char).startswith("P"))


def _group(operator: str, parts: list):
    """AND / OR of parts: nested groups of the same operator flattened, index parts merged into one
    FTS5 query (the index answers them together, in one lookup)."""
    flat = []
    for part in parts:
        flat.extend(part.parts if isinstance(part, Group) and part.operator == operator else [part])
    indexed = [part for part in flat if isinstance(part, Fts)]
    others = [part for part in flat if not isinstance(part, Fts)]
    if len(indexed) > 1:
        indexed = [Fts(f" {operator} ".join(f"({part.text})" for part in indexed))]
    merged = indexed + others
    return merged[0] if len(merged) == 1 else Group(operator, tuple(merged))


def _without(keep, drop):
    if isinstance(keep, Fts) and isinstance(drop, Fts):
        return Fts(f"({keep.text}) NOT ({drop.text})")
    return Without(keep, drop)


def _sql(tree, params: dict) -> str:
    if isinstance(tree, Fts):
        key = _param(params, tree.text)
        return f"(m.id IN (SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH :{key}))"
    if isinstance(tree, Contains):
        return _contains_sql(tree.value, params)
    if isinstance(tree, Without):
        return f"({_sql(tree.keep, params)} AND NOT {_sql(tree.drop, params)})"
    joined = f" {tree.operator} ".join(_sql(part, params) for part in tree.parts)
    return f"({joined})"


def _contains_sql(value: str, params: dict) -> str:
    """In the title or the text; a NULL title counts as not containing it (so NOT works).

    LIKE ignores the case of ASCII letters, as the index does, and measured as fast as instr().
    """
    key = _param(params, "%" + re.sub(r"([\\%_])", r"\\\1", value) + "%")
    return f"(m.text LIKE :{key} ESCAPE '\\' OR ifnull(m.title LIKE :{key} ESCAPE '\\', 0))"


def _param(params: dict, value: str) -> str:
    """Adds `value` as the next free :q0, :q1 ... and returns its name."""
    index = 0
    while f"q{index}" in params:
        index += 1
    params[f"q{index}"] = value
    return f"q{index}"
