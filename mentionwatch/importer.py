"""Reading mentions from a CSV, TSV or JSONL file for `mentionwatch import`.

Rows become `Mention`s; a row that cannot become one is reported with its line number and reason,
and the rest of the file is still imported. That includes a row with bytes that are not text in the
file's encoding: they are read as lone surrogates ('surrogateescape') so the row can be found and
rejected, instead of being changed silently into U+FFFD.
"""
from __future__ import annotations

import codecs
import csv
import difflib
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from storage import Mention
from storage.mentions import LINKED_BY_IMPORT

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

DEFAULT_ENCODING = "utf-8"
MAX_SHOWN_COLUMNS = 100  # in the missing-column error; more are counted, not listed
MAX_COLUMN_NAME_CHARS = 60
_UNDECODED_BYTE = re.compile("[\udc80-\udcff]")  # what 'surrogateescape' makes of a bad byte
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")


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


class ImportFileError(Exception):
    """The file as a whole cannot be imported (unreadable, or a required column is missing)."""


@dataclass
class RowProblem:
    line: int
    reason: str


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


def read_mentions(path: Path, columns: ColumnMap, source: str, watches: tuple[str, ...],
                  problems: list[RowProblem], encoding: str = DEFAULT_ENCODING,
                  ) -> Iterator[tuple[int, Mention]]:
    """Yield (line number, Mention) for each row; rows that are broken go to `problems`."""
    problem = file_name_problem(path)
    if problem:
        raise ImportFileError(problem)
    suffix = path.suffix.lower()
    text_file = _TextFile(path, encoding)
    if suffix in JSON_LINES_SUFFIXES:
        rows = _jsonl_rows(text_file, problems)
    else:
        rows = _csv_rows(text_file, "\t" if suffix in (".tsv", ".tab") else ",", columns, problems)
    for line, row in rows:
        mention = _row_to_mention(row, columns, source, watches)
        if isinstance(mention, str):
            problems.append(RowProblem(line, mention))
        else:
            yield line, mention


@dataclass(frozen=True)
class _TextFile:
    path: Path
    encoding: str

    def open(self):
        # utf-8-sig: skip the byte-order mark Excel puts at the start of a "CSV UTF-8" file
        encoding = "utf-8-sig" if codecs.lookup(self.encoding).name == "utf-8" else self.encoding
        try:
            return self.path.open("r", encoding=encoding, errors="surrogateescape", newline="")
        except OSError as exc:
            raise ImportFileError(f"{self.path}: cannot read: {exc.strerror or exc}") from None

    def not_text_reason(self) -> str:
        """Why a row with undecodable bytes is rejected."""
        if codecs.lookup(self.encoding).name == "utf-8":
            return "not UTF-8 text (try --encoding cp1252)"
        return f"not {self.encoding} text (check --encoding)"


def _has_undecoded_bytes(values) -> bool:
    return any(isinstance(v, str) and _UNDECODED_BYTE.search(v) for v in values)


def _csv_rows(text_file: _TextFile, delimiter: str, columns: ColumnMap,
              problems: list[RowProblem]) -> Iterator[tuple[int, dict]]:
    path = text_file.path
    with text_file.open() as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFileError(f"{path}: the file is empty") from None
        except csv.Error as exc:
            raise ImportFileError(f"{path}:1: unreadable header: {exc}") from None
        if _has_undecoded_bytes(header):
            raise ImportFileError(f"{path}:1: header is {text_file.not_text_reason()}")
        header = [name.strip() for name in header]
        required = {"--id-col": columns.id, "--text-col": columns.text,
                    "--time-col": columns.created_at, **dict(columns.named)}
        missing = {option: name for option, name in required.items() if name not in header}
        if missing:
            raise ImportFileError(f"{path}:1: {missing_columns_message(missing, header)}")
        line = reader.line_num + 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                problems.append(RowProblem(line, f"malformed CSV: {exc}"))
                line = reader.line_num + 1
                continue
            if values and len(values) != len(header):
                problems.append(RowProblem(
                    line, f"expected {len(header)} fields, found {len(values)}"))
            elif _has_undecoded_bytes(values):
                problems.append(RowProblem(line, text_file.not_text_reason()))
            elif values:
                yield line, dict(zip(header, values))
            line = reader.line_num + 1


def missing_columns_message(missing: dict[str, str], header: list[str]) -> str:
    """'missing column created_at (did you mean --time-col tweet_created?) (columns are: ...)':
    `missing` maps each option to the column it names; every column of the file is listed, uncut."""
    described = []
    for option, name in missing.items():
        close = closest_column(name, header)
        described.append(f"{name} (did you mean {option} {close}?)" if close else name)
    shown = [_short(name) for name in header[:MAX_SHOWN_COLUMNS]]
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


def _jsonl_rows(text_file: _TextFile, problems: list[RowProblem]) -> Iterator[tuple[int, dict]]:
    with text_file.open() as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            if _UNDECODED_BYTE.search(text):
                problems.append(RowProblem(line, text_file.not_text_reason()))
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(RowProblem(line, f"invalid JSON: {exc.msg}"))
                continue
            if not isinstance(row, dict):
                problems.append(RowProblem(line, "expected a JSON object"))
                continue
            yield line, row


def _row_to_mention(row: dict, columns: ColumnMap, source: str,
                    watches: tuple[str, ...]) -> Mention | str:
    """A Mention ready for storage, or the reason this row cannot be one."""
    mention = Mention(
        source=source,
        external_id=row.get(columns.id),
        text=row.get(columns.text),
        created_at=row.get(columns.created_at),
        url=row.get(columns.url),
        author=row.get(columns.author),
        author_reach=row.get(columns.reach),
        title=row.get(columns.title),
        lang=row.get(columns.lang),
        watches=watches,
        linked_by=LINKED_BY_IMPORT,  # linked to --watch unchecked: `rematch` leaves such links
    )
    try:
        return mention.normalized()
    except (ValueError, TypeError) as exc:
        reason = str(exc)
        for field, column in (("external_id", columns.id), ("text", columns.text),
                              ("created_at", columns.created_at)):
            reason = reason.replace(f"{field}:", f"{column}:", 1) if reason.startswith(field) else reason
        return reason
