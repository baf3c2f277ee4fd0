"""Reading mentions from a CSV, TSV or JSONL file for `mentionwatch import`.

Rows become `Mention`s; a row that cannot become one is reported with its line number and reason,
and the rest of the file is still imported. That includes a row with bytes that are not text in the
file's encoding: they are read as lone surrogates ('surrogateescape') so the row can be found and
rejected, instead of being changed silently into U+FFFD. A CSV quote that is never closed costs the
line it opened on, not the rest of the file. What is read but not stored whole (a reach that is no
number, an author that is a JSON object) is counted in `ImportNotes.warnings`, and so is a row whose
id an earlier row of the file had with another text (only the first is stored).
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import difflib
import functools
import html
import html.entities
import itertools
import json
import re
import shlex
import stat
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from storage import Mention
from storage.mentions import LINKED_BY_IMPORT, MAX_SQLITE_INTEGER
from storage.timeutil import parse_file_timestamp, to_iso

from mentionwatch.legacy_text import byte_order_mark_encoding, east_asian_encoding, not_utf8_hint
from mentionwatch.terminal import terminal_safe
from mentionwatch.triage.export import neutralise
from mentionwatch.triage.query import EARLIER_EXPORT_COLUMNS, EXPORT_COLUMNS

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

DEFAULT_ENCODING = "utf-8"
MAX_SHOWN_COLUMNS = 100  # in the missing-column error; more are counted, not listed
MAX_COLUMN_NAME_CHARS = 60
# what 'surrogateescape' makes of a bad byte, and a lone surrogate in UTF-16 ('surrogatepass')
_UNDECODED_BYTE = re.compile("[\ud800-\udfff]")
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\\t": "\t", "\t": "\t", "|": "|"}  # --delimiter
# a quoted field running over more characters is taken for an unclosed quote: ten times the longest
# text kept (100,000 characters), so a real post with many line breaks is never cut off
MAX_RECORD_CHARS = 1_000_000
SNIFFED_BYTES = 65_536  # how much of the file tells its kind and encoding
# 5.70306E+17: what Excel shows (and saves as CSV) for a long number such as a tweet id
_EXCEL_SHORTENED = re.compile(r"\d[.,]\d+[eE]\+?\d+|\d[eE]\+\d+")  # 5.70306E+17, 5.7e17, 5E+17 (not '1e3')
_EXACT_FLOAT_INTEGERS = 2**53  # a float id beyond this has lost digits
# a number where a time belongs: scientific notation (5.70306E+17), or an integer of 12 digits and
# more (read as Unix milliseconds, so refused only past year 9999: an id, most likely)
_NUMBER_NOT_TIME = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+|[+-]?\d{12,}")
# 12,300 / 12 300 / 12'300 / 12.300 (a reach counts people: 12.300 is no fraction of one)
AHEAD_OF_NOW = dt.timedelta(minutes=10)  # a created_at later than now by more than this is warned about
_THOUSANDS = re.compile(r"\d{1,3}(?:([,.\u00a0 '，])\d{3})(?:\1\d{3})*")  # ， as Chinese input writes it
# 1.2K followers, 1,5M; Chinese and Japanese 1.2万 (ten thousand, 'w' in Chinese posts), 3亿 / 3億
_SHORT_COUNT = re.compile(r"(\d+(?:[.,]\d+)?)\s*([kKmMbBwW万萬亿億])")
_COUNT_UNITS = {"k": 1_000, "m": 1_000_000, "b": 1_000_000_000, "w": 10_000, "万": 10_000, "萬": 10_000,
                "亿": 100_000_000, "億": 100_000_000}
_COUNT_SUFFIX = re.compile(r"(?<=[kKmMbBwW万萬亿億])\s*(?:\+|人)$")
_SINGLE_BYTE_ENCODINGS = {"cp1252", "iso8859-1", "iso8859-15", "cp1250", "mac-roman"}  # codecs' names
# a compressed file's first bytes -> what it is and the command that unpacks it
_COMPRESSED = {b"\x1f\x8b": ("gzip-compressed", "gunzip"), b"BZh": ("bzip2-compressed", "bunzip2"),
               b"\xfd7zXZ\x00": ("xz-compressed", "unxz")}
_SEPARATOR_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}  # as --delimiter takes them


@dataclass(frozen=True)
class ColumnMap:
    """Which column of the file holds which field."""

    id: str = "id"
    text: str = "text"
    created_at: str = "created_at"
    author: str = "author"
    url: str = "url"
    lang: str = "lang"
    reach: str = "author_reach"
    title: str = "title"
    # optional columns the user named (option -> column): a CSV/TSV file must have them too
    named: tuple[tuple[str, str], ...] = ()

    def options(self) -> dict[str, str]:
        """Option -> column of the columns a file must have: the required ones, the named ones."""
        return {"--id-col": self.id, "--text-col": self.text, "--time-col": self.created_at,
                **dict(self.named)}

    def read(self) -> tuple[str, ...]:
        """Every column the import reads when the file has it."""
        return (self.id, self.text, self.created_at, self.author, self.url, self.lang, self.reach,
                self.title, *dict(self.named).values())

    def paths(self) -> tuple[str, ...]:
        """The columns that may be dotted paths into a JSON object (user.screen_name)."""
        return tuple(column for column in (self.id, self.text, self.created_at, self.author,
                                           self.url, self.lang, self.reach, self.title)
                     if "." in column)

    def of_field(self) -> dict[str, str]:
        """Mention field -> the file's column, to name the column in a reason."""
        return {"external_id": self.id, "text": self.text, "created_at": self.created_at,
                "author_reach": self.reach, "author": self.author, "url": self.url,
                "lang": self.lang, "title": self.title}


@dataclass(frozen=True)
class ReadOptions:
    """How to read the file: its encoding, separator and date order, and whether to keep
    HTML entities (&amp;) as written."""

    encoding: str = DEFAULT_ENCODING
    delimiter: str | None = None  # None: told by the header line
    date_order: str | None = None  # 'dmy' or 'mdy' for 03/05/2026
    keep_entities: bool = False
    time_zone: dt.tzinfo | None = None  # of times written without a zone (None: UTC)


class ImportFileError(Exception):
    """The file as a whole cannot be imported (unreadable, or a required column is missing)."""


@dataclass
class RowProblem:
    line: int
    reason: str


# a time of day in a date as exports write it: 10:05, T10, 10 PM, 14時05分, 14h05 (not Unix seconds)
_TIME_OF_DAY = re.compile(r"\d:\d\d|T\d\d|\d\s*[ap]\.?m\b|\d\s*[时時시]|\d{1,2}h\d\d", re.IGNORECASE)


@dataclass
class ImportNotes:
    """What reading a file found besides the mentions: rejected rows, warnings (message ->
    [count, first line]), the ids of texts cut to length, and a failure that ended the reading."""

    problems: list[RowProblem] = field(default_factory=list)
    warnings: dict[str, list[int]] = field(default_factory=dict)
    cut_ids: set[str] = field(default_factory=set)
    stopped: str | None = None  # why the file could not be read to its end

    times_read: int = 0  # rows whose time was read (CSV/TSV) ...
    dates_without_time: int = 0  # ... and of them, those with no time of day ('10/03/2015')

    def reject(self, line: int, reason: str) -> None:
        self.problems.append(RowProblem(line, reason))

    def count_time(self, value: object) -> None:
        self.times_read += 1
        text = str(value).strip() if value is not None else ""
        if text and not text.replace(".", "", 1).isdigit() and not _TIME_OF_DAY.search(text):
            self.dates_without_time += 1

    def warn(self, message: str, line: int = 0) -> None:
        counted = self.warnings.setdefault(message, [0, line])
        counted[0] += 1

    def warning_lines(self) -> list[str]:
        """'author: 2 values left out (an object, not text); the posts kept (first on line 3)':
        one line for each kind of warning."""
        lines = []
        for message, (count, line) in self.warnings.items():
            where = f" (first on line {line})" if line else ""
            plural = "" if count == 1 else "s"
            lines.append(message.replace("{count}", str(count)).replace("{s}", plural) + where)
        return lines


def delimiter_option(value: str) -> str:
    """The separator --delimiter names (',', ';', 'tab' or '|'); ValueError for another."""
    try:
        return DELIMITERS[value]
    except KeyError:
        raise ValueError(f"{value!r} is not one of ',', ';', 'tab', '|'") from None


def check_encoding(name: str) -> str:
    """The encoding's canonical name; ValueError when Python knows no such text encoding."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding {name!r} (e.g. utf-8, cp1252, latin-1)") from None
    if not getattr(info, "_is_text_encoding", True):  # base64, zlib ... are not text encodings
        raise ValueError(f"{name!r} is not a text encoding")
    return info.name


def file_name_problem(path: Path) -> str | None:
    """Why a file cannot be imported, told by its name alone: a .json file is expected to hold
    one JSON document (an array, say), while the import reads JSON Lines, one object per line.
    Every one of its lines would be rejected as invalid JSON; the export refuses .json alike."""
    if path.suffix.lower() != ".json":
        return None
    return (f"{path}: import reads JSON Lines (one JSON object per line), not a .json document: "
            f"if the file has one object per line, name it {path.with_suffix('.jsonl').name}; "
            "a JSON array can be converted with: jq -c '.[]'")


SAVE_TO_A_FILE = "save the data to a file first (e.g. zcat export.csv.gz > export.csv) and give that file"


def not_a_file_problem(path: Path) -> str | None:
    """Why `path` is no file to read, when it is a pipe, a device or '-' (standard input): the file
    is read more than once (its first bytes tell its encoding and kind), and a pipe gives its data
    only once, or, a named pipe with no writer, never."""
    if str(path) == "-":
        return f"-: standard input is not read: {SAVE_TO_A_FILE}"
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # missing or unreadable: opening it says so
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):  # a folder has its own message
        return None
    kind = "a pipe" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket"
    return f"{path}: this is {kind}, not a file: {SAVE_TO_A_FILE}"


def read_mentions(path: Path, columns: ColumnMap, source: str, watches: tuple[str, ...],
                  notes: ImportNotes, options: ReadOptions = ReadOptions(),
                  ) -> Iterator[tuple[int, Mention]]:
    """Yield (line number, Mention) for each row; broken rows and warnings go to `notes`."""
    problem = not_a_file_problem(path) or file_name_problem(path)
    if problem:
        raise ImportFileError(problem)
    suffix = path.suffix.lower()
    text_file = _TextFile(path, _sniff_encoding(path, options.encoding, notes))
    json_lines = suffix in JSON_LINES_SUFFIXES
    if json_lines:
        rows = _jsonl_rows(text_file, columns, notes)
    else:
        default = "\t" if suffix in (".tsv", ".tab") else ","
        rows = _csv_rows(text_file, options.delimiter or default, options.delimiter is None,
                         columns, notes)
    texts_of_ids: dict[str, int] = {}  # id -> hash of the text of the first row with it
    # later than this is later than any clock difference: most likely local times read as UTC
    ahead_of_now = to_iso(dt.datetime.now(dt.timezone.utc) + AHEAD_OF_NOW)
    for line, row in rows:
        try:
            mention = _row_to_mention(row, columns, source, watches, options, notes, line, json_lines)
        except ValueError as exc:
            notes.reject(line, str(exc))
            continue
        if mention.cut:
            notes.cut_ids.add(mention.external_id)
        first_text = texts_of_ids.setdefault(mention.external_id, hash(mention.text))
        if first_text != hash(mention.text):  # stored is the first row's text: this one is lost
            notes.warn("{count} row{s} not stored: an earlier row of this file has the same id "
                       "with another text (ids must be unique in a file)", line)
        if not json_lines:
            notes.count_time(row.get(columns.created_at))
        if mention.created_at > ahead_of_now:
            notes.warn("{count} row{s} dated after now (local times read as UTC? give --timezone, then import "
                       "again with --update): stored, but spike detection leaves them out until that time", line)
        yield line, mention
    if notes.times_read > 1 and notes.dates_without_time == notes.times_read:
        notes.warn(f"every {columns.created_at} is a date without a time of day, so the mentions are stored "
                   "at midnight: alerts and charts by the hour will bunch them there; if the export has the "
                   "time in another column, join the two (in a spreadsheet) and import again with --update")


def _sniff_encoding(path: Path, encoding: str, notes: ImportNotes) -> str:
    """The encoding to read the file with, told by its first bytes where they are sure: a
    byte-order mark wins over --encoding. ImportFileError for a workbook, archive or PDF."""
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFFED_BYTES)
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if head.startswith(b"PK\x03\x04"):
        raise ImportFileError(f"{path}: this is an Excel workbook or ZIP archive, not CSV: "
                              "save it as CSV UTF-8 (Excel: File > Save As > CSV UTF-8)")
    if head.startswith(b"%PDF"):
        raise ImportFileError(f"{path}: this is a PDF document, not CSV, TSV or JSON Lines")
    if head.startswith(b"SQLite format 3\x00"):
        raise ImportFileError(f"{path}: this is a SQLite database (a mentionwatch database or backup?), not CSV, "
                              "TSV or JSON Lines: to bring a backup back use 'mentionwatch restore'; to copy "
                              "mentions from another database, export them there first")
    for magic, (kind, command) in _COMPRESSED.items():
        if head.startswith(magic):
            raise ImportFileError(f"{path}: this is a {kind} file, not CSV, TSV or JSON Lines: "
                                  f"unpack it first ({command} {path})")
    marked = byte_order_mark_encoding(head)  # UTF-16: Excel's "Unicode text"
    if marked:
        return marked
    name = codecs.lookup(encoding).name
    utf16 = None if name.startswith(("utf-16", "utf-32")) else _utf16_without_bom(head)
    if utf16:
        raise ImportFileError(f"{path}: looks like UTF-16 text without a byte-order mark "
                              f"(a NUL byte beside each letter): try --encoding {utf16}")
    if head.startswith(codecs.BOM_UTF8):
        if name not in ("utf-8", "utf-8-sig"):
            notes.warn(f"the file starts with a UTF-8 byte-order mark: read as UTF-8, not {encoding}")
        return "utf-8-sig"
    east_asian = east_asian_encoding(head) if name in _SINGLE_BYTE_ENCODINGS and not head.isascii() else None
    if east_asian and not _looks_like_utf8(head):
        notes.warn(f"the file looks like {east_asian[1]} text, which --encoding {encoding} garbles: "
                   f"try --encoding {east_asian[0]}")
    if not name.startswith("utf") and _looks_like_utf8(head):
        notes.warn(f"the file looks like UTF-8 text but is read as {encoding} (--encoding): "
                   f"leave --encoding out if letters come out wrong ({_garbled_example(head, encoding)})")
    return "utf-8-sig" if name == "utf-8" else encoding


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when the first line is written in UTF-16, each of its letters
    (ASCII or Latin-1) a byte beside a NUL byte, which text in UTF-8 or cp1252 never has; else None."""
    sample = head[:512]
    for name, letters, nuls in (("utf-16-le", sample[0::2], sample[1::2]),
                                ("utf-16-be", sample[1::2], sample[0::2])):
        end = letters.find(b"\n")
        line = letters[:end] if end >= 0 else letters[:len(nuls)]
        if (len(line) >= 2 and b"\x00" not in line
                and not nuls[:len(line)].strip(b"\x00")):
            return name
    return None


def _garbled_example(head: bytes, encoding: str) -> str:
    """The file's first non-ASCII letters and what `encoding` makes of them: 'é as Ã©', '返金 as 杩旈噾'."""
    decoded = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    letters = re.search(r"[^\x00-\x7f\s\u00a0\u200b\ufeff]{1,3}", decoded)  # not a no-break space
    written = letters.group() if letters else "é"
    garbled = written.encode("utf-8").decode(encoding, errors="replace")
    # what the terminal would not show (latin-1 reads an emoji's bytes as control characters) as '?'
    return f"{written} as {''.join(c if c.isprintable() else '?' for c in garbled)}"


def _looks_like_utf8(head: bytes) -> bool:
    """Non-ASCII bytes that are all valid UTF-8 (a cut character at the end is allowed)."""
    if head.isascii():
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


# encodings that a common wider one contains: Japanese Excel's Shift_JIS is cp932 (① ㈱), Chinese
# text in GBK may hold characters only GB18030 has (𠮷)
_WIDER_ENCODING = {"shift_jis": "cp932", "gbk": "gb18030", "gb2312": "gb18030"}


@dataclass(frozen=True)
class _TextFile:
    path: Path
    encoding: str

    @functools.cached_property
    def not_utf8_hint(self) -> str:
        return not_utf8_hint(self.path)  # read once, for the first row refused

    @functools.cached_property
    def looks_like_utf8(self) -> bool:
        try:
            with self.path.open("rb") as handle:
                return _looks_like_utf8(handle.read(SNIFFED_BYTES))
        except OSError:
            return False

    def open(self):
        # surrogatepass: UTF-16 keeps a lone surrogate (a broken character) for its row to reject
        errors = "surrogatepass" if self.encoding.startswith("utf-16") else "surrogateescape"
        try:
            return self.path.open("r", encoding=self.encoding, errors=errors, newline="")
        except OSError as exc:
            raise ImportFileError(f"{self.path}: cannot read: {exc.strerror or exc}") from None

    def not_text_reason(self) -> str:
        """Why a row with undecodable bytes is rejected."""
        name = codecs.lookup(self.encoding).name
        if name in ("utf-8", "utf-8-sig"):
            return f"not UTF-8 text ({self.not_utf8_hint})"
        if name.startswith("utf-16"):
            return "not UTF-16 text (a broken character)"
        if self.looks_like_utf8:  # the wider encoding would only garble it differently
            return f"not {self.encoding} text (the file looks like UTF-8: leave --encoding out)"
        wider = _WIDER_ENCODING.get(name)
        if wider:  # Excel writes the wider one under the narrower one's name
            return f"not {self.encoding} text (try --encoding {wider}, which has more characters)"
        return f"not {self.encoding} text (check --encoding)"

    def lines(self, handle, notes: ImportNotes) -> Iterator[tuple[int, str]]:
        """(number, line) of the file's lines; a file that cannot be decoded further (UTF-16
        cut in the middle of a character) ends here, with `notes.stopped` saying why."""
        number = 0
        try:
            for number, line in enumerate(handle, start=1):
                yield number, line
        except UnicodeDecodeError as exc:
            notes.stopped = (f"{self.path}:{number + 1}: cannot be read as {self.encoding} text "
                             f"({exc.reason})")


def _has_undecoded_bytes(values) -> bool:
    return any(isinstance(v, str) and _UNDECODED_BYTE.search(v) for v in values)


class _UnclosedQuote(Exception):
    """The record being read would run to the end of the file or over MAX_RECORD_CHARS."""


class _RecordLines:
    """The lines csv.reader reads, with those of the record being read kept: a record that a
    stray quote made run on is given back, and read again from its second line."""

    def __init__(self, lines: Iterator[tuple[int, str]]):
        self._lines = lines
        self._given_back: deque[tuple[int, str]] = deque()
        self.record: list[tuple[int, str]] = []  # (number, line) of the record being read
        self._record_chars = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self._record_chars > MAX_RECORD_CHARS:
            raise _UnclosedQuote
        numbered = self._given_back.popleft() if self._given_back else next(self._lines, None)
        if numbered is None:
            if self.record:  # csv.reader asks for more: a quoted field is open at the end
                raise _UnclosedQuote
            raise StopIteration
        self.record.append(numbered)
        self._record_chars += len(numbered[1])
        return numbered[1]

    def start_record(self) -> None:
        self.record = []
        self._record_chars = 0

    def first_line(self) -> int:
        return self.record[0][0]

    def read_again_from_second_line(self) -> None:
        self._given_back.extendleft(reversed(self.record[1:]))


def _csv_rows(text_file: _TextFile, delimiter: str, detect: bool, columns: ColumnMap,
              notes: ImportNotes) -> Iterator[tuple[int, dict]]:
    path = text_file.path
    with text_file.open() as handle:
        lines = text_file.lines(handle, notes)
        first = next(lines, None)
        if first is None or not first[1].strip():
            raise ImportFileError(f"{path}: the file is empty" if first is None else
                                  f"{path}:1: the first line is empty: it must name the columns")
        excel_separator = EXCEL_SEPARATOR_LINE.fullmatch(first[1].rstrip("\r\n").strip(" "))  # 'sep=\t' keeps its tab
        if excel_separator:  # Excel's "sep=;" line, before the column names: it says the separator
            if detect:  # unless --delimiter says another
                delimiter, detect = excel_separator[1], False
            first = next(lines, None)
            if first is None or not first[1].strip():
                raise ImportFileError(f"{path}:2: no column names after Excel's 'sep=' line")
        number, delimiter, header = _header_line(text_file, first, lines, delimiter, detect, columns, notes)
        repeated = _repeated_read_column(header, columns)
        if repeated:
            raise ImportFileError(f"{path}:{number}: the header has the column {terminal_safe(repeated)} "
                                  "twice: rename or remove one, so that it is clear which to import")
        missing = {option: name for option, name in columns.options().items() if name not in header}
        if missing:
            other = _other_separator(header, delimiter, columns)
            if other:
                names = terminal_safe(", ".join(missing.values()))
                raise ImportFileError(
                    f"{path}:{number}: missing column{'s' if len(missing) > 1 else ''} {names}: the header is "
                    f"one column, '{terminal_safe(_short(header[0]))}', which contains {other}: is the "
                    f"file separated by {other}? (--delimiter {other})")
            if header and header[0].lstrip().startswith("{"):
                raise ImportFileError(f"{path}:{number}: this line is a JSON object, not column names: the file "
                                      f"looks like JSON Lines; name it {path.with_suffix('.jsonl').name}")
            taken = set(columns.read()) - set(missing.values())
            raise ImportFileError(f"{path}:{number}: {missing_columns_message(missing, header, taken)}")
        ours = tuple(header) in (EXPORT_COLUMNS, *EARLIER_EXPORT_COLUMNS)  # mentionwatch's own export
        header = _optional_columns_in_any_case(header, columns, notes)  # after the checks: they name what the file has
        records = _csv_records(text_file, _RecordLines(lines), delimiter, header, notes)
        yield from _without_export_guards(records) if ours else records


def _without_export_guards(records: Iterator[tuple[int, dict]]) -> Iterator[tuple[int, dict]]:
    """The rows of mentionwatch's own CSV export without the quote it put before a text a spreadsheet
    would run as a formula ('@united lost my bag): imported again, the text is as it was stored."""
    for line, row in records:
        yield line, {name: _unguarded(value) for name, value in row.items()}


def _unguarded(value: str) -> str:
    return value[1:] if value.startswith("'") and neutralise(value[1:]) == value else value


def _optional_columns_in_any_case(header: list[str], columns: ColumnMap, notes: ImportNotes) -> list[str]:
    """The header, with an optional column left at its default name found in another case
    ('Author', 'URL', 'Title', as exports write them) renamed to it, so that it is read; a column
    named with its option (`--text-col Title`) must be written as named, and is never renamed.
    Two such columns ('Author' and 'AUTHOR') leave both unread, with a warning naming the option."""
    named = {columns.id, columns.text, columns.created_at, *dict(columns.named).values()}
    present = set(header)
    renamed = list(header)
    for default, option in ((columns.author, "--author-col"), (columns.url, "--url-col"),
                            (columns.lang, "--lang-col"), (columns.reach, "--reach-col"),
                            (columns.title, "--title-col")):
        if default in present or default in named:
            continue
        same = [position for position, name in enumerate(header)
                if name.strip().casefold() == default.casefold() and name not in named]
        if len(same) == 1:
            renamed[same[0]] = default
        elif same:
            listed = " and ".join(terminal_safe(repr(header[position])) for position in same)
            notes.warn(f"the columns {listed} could each be the {default} column, so neither is read: "
                       f"name the one to import with {option}")
    return renamed


EXCEL_SEPARATOR_LINE = re.compile(r'"?sep=(.)"?')  # Excel's first line naming the separator (also sentiment eval)
HEADER_SEARCH_LINES = 30  # how far an export's lines about itself may push its column names down


def _header_line(text_file: _TextFile, first: tuple[int, str], lines: Iterator[tuple[int, str]], delimiter: str,
                 detect: bool, columns: ColumnMap, notes: ImportNotes) -> tuple[int, str, list[str]]:
    """(line number, separator, column names) of the line that names the columns: the first line,
    or, in an export that opens with lines about itself (a title, the query: Brandwatch's), the first
    of the next HEADER_SEARCH_LINES that names every column the import needs. When none does, the
    line naming most of them (naming none, the first line with the most close names, such as 'Resource
    Id' for id, after lines of 'key, value' pairs about the export; with none, the first line of
    several fields), for the error to list its columns and their close names (the lines read are
    then spent: the import stops anyway)."""
    wanted = len(set(columns.options().values()))  # two options may name one column (--id-col url --url-col url)
    best = _header_candidate(first, delimiter, detect, columns)
    # a first line that another separator than --delimiter splits into the columns is the header read
    # with the wrong one, not a title: no later line is taken for it (the error then names the separator)
    if best[0][0] < wanted and (detect or not _other_separator([first[1]], delimiter, columns)):
        for numbered in itertools.islice(lines, HEADER_SEARCH_LINES):
            candidate = _header_candidate(numbered, delimiter, detect, columns)
            if best[0][0] == 0 == candidate[0][0] and _hint_rank(candidate, columns) > _hint_rank(best, columns):
                best = candidate
            if candidate[0][0] == wanted:
                skipped = numbered[0] - 1
                notes.warn(f"the column names are on line {numbered[0]}: the {skipped} line"
                           f"{' above them was' if skipped == 1 else 's above them were'} skipped")
                best = candidate
                break
            if candidate[0][0] > best[0][0]:
                best = candidate
    _found, (number, line), line_delimiter = best
    return number, line_delimiter, _read_header(text_file, line, line_delimiter, number)


def _hint_rank(candidate: tuple, columns: ColumnMap) -> tuple[int, bool]:
    """For a line naming none of the columns: (how many of them have a close name among its fields,
    whether it has several fields). A data line under the header ranks below it: its words are not
    close to column names."""
    (_named, field_count), (_number, line), line_delimiter = candidate
    fields = [name.strip() for name in _split_line(line, line_delimiter)]
    close = sum(closest_column(name, fields) is not None for name in set(columns.options().values()))
    return close, field_count > 1


def _header_candidate(numbered: tuple[int, str], delimiter: str, detect: bool,
                      columns: ColumnMap) -> tuple[tuple[int, int], tuple[int, str], str]:
    """((how many of the columns the import needs the line names, how many fields it has), the
    line, its separator)."""
    line_delimiter = _header_delimiter(numbered[1], delimiter, columns) if detect else delimiter
    fields = [name.strip() for name in _split_line(numbered[1], line_delimiter)]
    return (len(set(columns.options().values()) & set(fields)), len(fields)), numbered, line_delimiter


def _header_delimiter(line: str, default: str, columns: ColumnMap) -> str:
    """The separator that makes the header line hold the most of the expected column names
    (',' ';' tab '|'); on a tie the file name's, unless it leaves the line one column."""
    wanted = set(columns.options().values()) | {columns.author, columns.url, columns.lang,
                                                columns.reach, columns.title}

    def fit(delimiter: str) -> tuple[int, bool, bool]:
        names = [name.strip() for name in _split_line(line, delimiter)]
        return len(wanted.intersection(names)), len(names) > 1, delimiter == default

    return max((default, ",", ";", "\t", "|"), key=fit)


def _repeated_read_column(header: list[str], columns: ColumnMap) -> str | None:
    """A column the import reads that the header names twice (which one holds the text?); a
    repeated column the import does not read is harmless."""
    read = set(columns.read())
    seen: set[str] = set()
    for name in header:
        if name in seen and name in read:
            return name
        seen.add(name)
    return None


def _other_separator(header: list[str], delimiter: str, columns: ColumnMap) -> str | None:
    """How --delimiter names another separator (',' ';' tab '|') when the header read with
    `delimiter` is one column that this other one splits into columns the import asks for."""
    return other_separator(header, delimiter, set(columns.options().values()))


def other_separator(header: list[str], delimiter: str, wanted: set[str]) -> str | None:
    """As `_other_separator`, for the `wanted` column names (also sentiment eval's)."""
    if len(header) != 1:
        return None
    for separator, option in _SEPARATOR_NAMES.items():
        if separator != delimiter and separator in header[0]:
            if wanted.intersection(name.strip() for name in _split_line(header[0], separator)):
                return option
    return None


def _split_line(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter, strict=True), [])
    except csv.Error:
        return []


def _read_header(text_file: _TextFile, line: str, delimiter: str, number: int = 1) -> list[str]:
    path = text_file.path
    try:
        header = next(csv.reader([line], delimiter=delimiter, strict=True), [])
    except csv.Error as exc:
        raise ImportFileError(f"{path}:{number}: unreadable header: {exc}") from None
    if _has_undecoded_bytes(header):
        raise ImportFileError(f"{path}:{number}: header is {text_file.not_text_reason()}")
    return [name.strip() for name in header]


def _csv_records(text_file: _TextFile, lines: _RecordLines, delimiter: str, header: list[str],
                 notes: ImportNotes) -> Iterator[tuple[int, dict]]:
    """(line, row) of each record after the header; a malformed one is rejected at the line it
    starts on, and one that a quote made run over lines is read again from its second line."""
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    width = len(header)
    while True:
        lines.start_record()
        try:
            values = next(reader)
        except StopIteration:
            return
        except (csv.Error, _UnclosedQuote) as exc:
            _reject_malformed(lines, exc, notes)
            continue
        line = lines.first_line()
        joined = "".join(values)
        if not joined.strip():  # a blank line, or one of empty cells (,,,)
            continue
        values = _fitted_to_header(values, header)
        if len(values) != width:
            if len(lines.record) > 1:
                _reject_malformed(lines, _UnclosedQuote(), notes)
            else:
                notes.reject(line, f"expected {width} fields, found {len(values)}")
        elif _UNDECODED_BYTE.search(joined):
            notes.reject(line, text_file.not_text_reason())
        else:
            yield line, dict(zip(header, values))


def _fitted_to_header(values: list[str], header: list[str]) -> list[str]:
    """A row that differs from the header only by empty trailing fields (a tool that ends every row,
    or the header, with a separator) made as wide as the header; any other row as it is."""
    width = len(header)
    if len(values) > width and not "".join(values[width:]).strip():
        return values[:width]
    if len(values) < width and not "".join(header[len(values):]):
        return values + [""] * (width - len(values))
    return values


def _reject_malformed(lines: _RecordLines, exc: Exception, notes: ImportNotes) -> None:
    if len(lines.record) > 1 or isinstance(exc, _UnclosedQuote):
        notes.reject(lines.first_line(), 'malformed CSV: a quote (") opened on this line is not '
                                         "closed where the row ends; read on from the next line")
        lines.read_again_from_second_line()
    elif "expected after" in str(exc):
        notes.reject(lines.first_line(), 'malformed CSV: a quoted field has a stray quote (") '
                                         'inside: write it as "" or leave the field unquoted')
    else:
        notes.reject(lines.first_line(), f"malformed CSV: {exc}")


def missing_columns_message(missing: dict[str, str], header: list[str],
                            taken: set[str] = frozenset()) -> str:
    """'missing column created_at (did you mean --time-col tweet_created?) (columns are: ...)':
    `missing` maps each option to the column it names; every column of the file is listed, uncut.
    A column `taken` (read for another option) is never suggested. Control characters are escaped."""
    free = [column for column in header if column not in taken]
    described = []
    for option, name in missing.items():
        close = closest_column(name, free)
        name = terminal_safe(name)
        described.append(f"{name} (did you mean {option} {terminal_safe(shlex.quote(close))}?)" if close else name)
    shown = [terminal_safe(_short(name)) for name in header[:MAX_SHOWN_COLUMNS]]
    if len(header) > MAX_SHOWN_COLUMNS:
        shown.append(f"and {len(header) - MAX_SHOWN_COLUMNS} more")
    return (f"missing column{'s' if len(missing) > 1 else ''} {', '.join(described)} "
            f"(columns are: {', '.join(shown)})")


def closest_column(name: str, header: list[str]) -> str | None:
    """The file's column most likely meant by `name`: the same name in another case, then one
    with `name` as one of its words (tweet_id for id, user_name for name), then a spelling
    neighbour (tweet_created for created_at, name for nme); None when nothing is close."""
    wanted = name.lower()
    for column in header:
        if column.lower() == wanted:
            return column
    wanted_words = set(_words(name))
    with_the_words = [column for column in header if wanted_words and wanted_words <= set(_words(column))]
    if with_the_words:
        return min(with_the_words, key=len)
    close = difflib.get_close_matches(name, header, n=1, cutoff=0.6)
    return close[0] if close else None


def _words(column: str) -> list[str]:
    return [word for word in re.split(r"[^0-9a-z]+", column.lower()) if word]


def _short(column: str) -> str:
    # a "column name" this long is a data row read as the header (a file without one)
    if len(column) <= MAX_COLUMN_NAME_CHARS:
        return column
    return column[:MAX_COLUMN_NAME_CHARS].rsplit(" ", 1)[0] + "…"


def _jsonl_rows(text_file: _TextFile, columns: ColumnMap,
                notes: ImportNotes) -> Iterator[tuple[int, dict]]:
    """(line, object) of each JSON line; a column found in no object is warned about once."""
    unseen = columns.options()  # option -> column, while no line has had the column
    paths = columns.paths()
    seen_json = False
    with text_file.open() as handle:
        for line, text in text_file.lines(handle, notes):
            if not text.strip():
                continue
            if _UNDECODED_BYTE.search(text):
                notes.reject(line, text_file.not_text_reason())
                continue
            text = text.rstrip("\r\n")  # so that an error's column is on the line, not after its end
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                if not seen_json and _names_columns_as_a_table(text, columns):
                    raise ImportFileError(f"{text_file.path}:{line}: this line names the columns of a table, "
                                          "not a JSON object: the file looks like CSV; name it "
                                          f"{text_file.path.with_suffix('.csv').name}") from None
                # '{' or '{"id": 1,' as pretty-printed JSON begins (a line cut short ends otherwise)
                object_goes_on = text.lstrip().startswith("{") and text.rstrip().endswith(("{", ",", "[", ":"))
                if not seen_json and (object_goes_on or text.lstrip().startswith("[")):
                    raise ImportFileError(_one_json_document(text_file.path, line,
                                                             text.lstrip().startswith("["))) from None
                notes.reject(line, f"invalid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}")
                continue
            if not seen_json and isinstance(row, list) and any(isinstance(item, dict) for item in row):
                raise ImportFileError(_one_json_document(text_file.path, line, array=True))
            seen_json = True
            if not isinstance(row, dict):
                notes.reject(line, "expected a JSON object")
                continue
            if paths:
                row = _with_paths(row, paths)
            if unseen:
                unseen = {option: column for option, column in unseen.items() if column not in row}
            yield line, row
    for option, column in unseen.items():
        notes.warn(f"no line has {column} ({option})")


def _one_json_document(path: Path, line: int, array: bool) -> str:
    """The error for a JSON array, or an object written over several lines, in a .jsonl file."""
    what, filter_ = ("a JSON array", "'.[]'") if array else ("a JSON object written over several lines", ".")
    return (f"{path}:{line}: the file holds {what}, not JSON Lines (one JSON object per line): "
            f"convert it with: jq -c {filter_} {shlex.quote(path.name)} > lines.jsonl")


def _names_columns_as_a_table(line: str, columns: ColumnMap) -> bool:
    """Whether a line split by ',' ';' tab or '|' names every column the import needs (a CSV header)."""
    wanted = set(columns.options().values())
    return any(wanted <= {name.strip() for name in _split_line(line, separator)} for separator in _SEPARATOR_NAMES)


def _with_paths(row: dict, paths: tuple[str, ...]) -> dict:
    """`row` with the value of each dotted column (user.screen_name) that is not a key itself
    but a path into nested objects."""
    for column in paths:
        if column not in row:
            value = row
            for key in column.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                row[column] = value
    return row


def _row_to_mention(row: dict, columns: ColumnMap, source: str, watches: tuple[str, ...],
                    options: ReadOptions, notes: ImportNotes, line: int,
                    json_lines: bool = False) -> Mention:
    """A Mention ready for storage; ValueError says why this row cannot be one, naming the
    file's column."""
    unescape = not options.keep_entities
    mention = Mention(
        source=source,
        external_id=_external_id(row.get(columns.id), columns.id, json_lines),
        text=_text(row.get(columns.text), columns.text, unescape),
        created_at=_created_at(row.get(columns.created_at), columns.created_at, options),
        url=_optional(row.get(columns.url), columns.url, notes, line),
        author=_optional(row.get(columns.author), columns.author, notes, line),
        author_reach=_reach(row.get(columns.reach), columns.reach, notes, line),
        title=_entities(_optional(row.get(columns.title), columns.title, notes, line), unescape),
        lang=_optional(row.get(columns.lang), columns.lang, notes, line),
        watches=watches,
        linked_by=LINKED_BY_IMPORT,  # linked to --watch unchecked: `rematch` leaves such links
    )
    try:
        return mention.normalized()
    except (ValueError, TypeError) as exc:
        reason = str(exc)
        field_name, _, rest = reason.partition(":")
        column = columns.of_field().get(field_name)
        raise ValueError(f"{column}:{rest}" if column and rest else reason) from None


def _external_id(value: object, column: str, json_lines: bool = False) -> object:
    """The id as stored text; ValueError for one that lost digits on its way (Excel's
    5.70306E+17, or a JSON float), and for a JSON value that is no id (true, an object, "")."""
    if isinstance(value, bool) or isinstance(value, (dict, list)):
        raise ValueError(f"{column}: expected text or a number, got {_json_value_kind(value)}")
    if json_lines and isinstance(value, str) and not value.strip():
        raise ValueError(f"{column}: empty")  # an empty CSV cell stays 'missing', as before
    if isinstance(value, str) and _EXCEL_SHORTENED.fullmatch(value.strip()):
        raise ValueError(f"{column}: looks like a number Excel shortened ({value.strip()}): "
                         "digits are lost; export the column as text")
    if isinstance(value, float):
        if not value.is_integer() or abs(value) > _EXACT_FLOAT_INTEGERS:
            raise ValueError(f"{column}: looks like a number shortened to floating point "
                             f"({value!r}): digits are lost; write the id as text")
        return str(int(value))
    return value


def _text(value: object, column: str, unescape: bool) -> str:
    if isinstance(value, str):
        return _entities(value, unescape)
    if value is None:
        return ""  # a title may stand for it
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{column}: expected text, got {_json_kind(value)}")


_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _entities(text: str | None, unescape: bool) -> str | None:
    """AT&amp;T as AT&T, as collectors store it; tags (<b>) stay as written. Only entities ended by
    ';' are read: html.unescape alone would also make '&region=us' in an address '®ion=us'."""
    if not (unescape and text and "&" in text):
        return text
    return _ENTITY.sub(_entity_read, text)


def read_entities(text: str) -> str:
    """The text with its HTML entities read, as an import stores it (see _entities)."""
    return _entities(text, True) or text


def _entity_read(entity: re.Match) -> str:
    """An entity's character: a number, or a name HTML knows whole ('&region;' stays as written,
    where html.unescape would read its start '&reg' and leave '®ion;')."""
    written = entity[0]
    if written[1] == "#" or written[1:] in html.entities.html5:
        return html.unescape(written)
    return written


def _created_at(value: object, column: str, options: ReadOptions) -> str:
    if isinstance(value, (dict, list, bool)):
        raise ValueError(f"{column}: expected a time, got {_json_value_kind(value)}")
    try:
        return parse_file_timestamp(value, options.date_order, options.time_zone)
    except ValueError as exc:
        raise ValueError(f"{column}: {_number_not_time(value) or exc}") from None


def _number_not_time(value: object) -> str | None:
    """The reason for a number in the time column (what Excel makes of a tweet id pasted there);
    None for any other value."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    if not _NUMBER_NOT_TIME.fullmatch(text):
        return None
    return (f"{text[:40]} looks like a number, not a date "
            "(did a spreadsheet program rewrite this column?)")


def _optional(value: object, column: str, notes: ImportNotes, line: int) -> str | None:
    """Text or a number as text; anything else (a JSON object, list, true) is left out and
    counted, and the post kept."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    notes.warn(f"{column}: {{count}} value{{s}} left out ({_json_kind(value)}, not text); "
               "the post{s} kept", line)
    return None


def _reach(value: object, column: str, notes: ImportNotes, line: int) -> int | None:
    """A follower count read as people write it (12,300, 1.2K, 1.5M, 1200.0); one that is no
    number is left out and counted, one out of range rejects the row."""
    if value is None or value == "":
        return None
    number = _count(value)
    if number is None:
        notes.warn(f"{column}: {{count}} value{{s}} left out (not a number of followers); "
                   "the post{s} kept", line)
        return None
    if not 0 <= number <= MAX_SQLITE_INTEGER:
        raise ValueError(f"{column}: {str(value).strip()[:30]} is out of range "
                         f"(0 to {MAX_SQLITE_INTEGER})")
    return number


def _count(value: object) -> int | None:
    """12300 from 12300, 12,300, 12 300, 1.2K, 1200.0; None when it is no number."""
    if isinstance(value, str):
        return _count_text(value.strip())
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value) if value == value and abs(value) != float("inf") else None
    return None


def _count_text(text: str) -> int | None:
    if text.isascii() and text.isdigit():  # not '²', a digit int() cannot read
        return int(text)
    if _THOUSANDS.fullmatch(text):
        return int(re.sub(r"\D", "", text))
    # '10万+' (WeChat's 'over 100,000'), '1.2万人' (people), '1，5万' (a full-width comma)
    short = _SHORT_COUNT.fullmatch(_COUNT_SUFFIX.sub("", text).replace("，", ","))
    if short:
        unit = short[2].lower()
        # a comma is a decimal one in '1,5M' and '1,5万', a thousands one in '1,200万' and '1,200K'
        thousands = re.fullmatch(r"\d{1,3}(?:,\d{3})+", short[1])
        number = short[1].replace(",", "") if thousands else short[1].replace(",", ".")
        return round(float(number) * _COUNT_UNITS[unit])
    try:
        number = float(text)
    except ValueError:
        return None
    return _count(number)


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "true/false" if isinstance(value, bool) else type(value).__name__


def _json_value_kind(value: object) -> str:
    """'true', 'false', 'an object' or 'a list': what a JSON value that is no text or number is."""
    return json.dumps(value) if isinstance(value, bool) else _json_kind(value)
