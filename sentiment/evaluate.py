"""Reading labeled files for `mentionwatch sentiment eval` and measuring a scorer on them.

Supported: CSV or TSV with a header (text and label columns named by the user), or a plain text
file with one text per line plus `labels_file` with one label per line (the TweetEval layout:
val_text.txt + val_labels.txt). Labels are mapped to negative/neutral/positive by `label_map`
(e.g. "0=negative,1=neutral,2=positive"); without one, label names like "negative" or "pos" are
recognised. On a binary set (only negative and positive labels) a neutral prediction is wrong.
For the built-in model, texts found in its training corpora are left out (`sentiment.overlap`).
"""
from __future__ import annotations

import codecs
import csv
import io
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mentionwatch.importer import EXCEL_SEPARATOR_LINE, other_separator
from mentionwatch.legacy_text import byte_order_mark_encoding, not_utf8_hint
from sentiment.metrics import LABEL_NAMES, classification_report


_UNDECODED_BYTE = re.compile("[\udc80-\udcff]")  # what 'surrogateescape' makes of a bad byte


class LabeledFileError(Exception):
    """A problem with the labeled file, phrased as one line: file, line, field, what is wrong."""


@dataclass
class LabeledSet:
    texts: list[str]
    labels: list[int]
    # the classes declared with --labels: macro figures average over all of them, also over one
    # that happens to be missing from a slice (empty: the classes present in `labels`)
    classes: tuple[int, ...] = ()
    # where the rows with no text were ('file.csv:12'): left out, as no model can read a label there
    without_text: list[str] = field(default_factory=list)


def parse_label_map(spec: str | None) -> dict[str, int]:
    """'0=negative,1=positive' -> {'0': 0, '1': 2}."""
    if not spec:
        return {}
    mapping = {}
    for part in spec.split(","):
        raw, sep, name = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in LABEL_NAMES or not raw.strip():
            raise LabeledFileError(f"--labels: {part.strip()!r} is not VALUE=negative|neutral|positive")
        mapping[raw.strip()] = LABEL_NAMES.index(name)
    return mapping


def _label_index(raw: str, mapping: dict[str, int], where: str) -> int:
    value = raw.strip()
    if mapping:
        if value not in mapping:
            raise LabeledFileError(f"{where}: label {value!r} is not in --labels ({', '.join(mapping)})")
        return mapping[value]
    lowered = value.lower()
    for index, name in enumerate(LABEL_NAMES):
        if lowered in (name, name[:3]):
            return index
    raise LabeledFileError(f"{where}: label {value!r} is not negative/neutral/positive: "
                           "give a mapping, e.g. --labels 0=negative,1=neutral,2=positive")


def read_labeled(path: Path, text_col: str | None = None, label_col: str | None = None,
                 labels: str | None = None, labels_file: Path | None = None,
                 encoding: str = "utf-8", limit: int | None = None, delimiter: str | None = None) -> LabeledSet:
    """The labeled texts of `path` (the first `limit` with a text); files are read as `encoding` text
    (a leading UTF-8 byte-order mark is dropped), and bytes that are not such text are refused with
    their line. Rows with no text are left out, and where they were is kept (`without_text`).
    A table's separator is `delimiter`, else Excel's `sep=` first line, else the one that makes its
    header name both columns (a tab for .tsv/.tab, a comma otherwise, when none does)."""
    mapping = parse_label_map(labels)
    if labels_file is not None:
        labeled = _read_line_files(path, labels_file, mapping, encoding, limit)
    elif not text_col or not label_col:
        raise LabeledFileError(f"{path}: give --text-col and --label-col "
                               "(or --labels-file for one-text-a-line files)")
    else:
        labeled = _read_table(path, (text_col, label_col, delimiter), mapping, encoding, limit)
    labeled.classes = tuple(sorted(set(mapping.values())))
    return labeled


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name == "utf-8"


def _open_text(path: Path, encoding: str):
    """utf-8-sig for UTF-8: Excel's "CSV UTF-8" starts with a byte-order mark. A UTF-16 or UTF-32
    byte-order mark (Excel's "Unicode Text") wins over `encoding`, as in `import`. Undecodable
    bytes become lone surrogates (surrogateescape), found per line by `_refuse_undecoded`."""
    with path.open("rb") as handle:
        encoding = byte_order_mark_encoding(handle.read(4)) or encoding
    return path.open(encoding="utf-8-sig" if _is_utf8(encoding) else encoding,
                     errors="surrogateescape", newline="")


def _refuse_undecoded(path: Path, line: int, text: str, encoding: str) -> None:
    if _UNDECODED_BYTE.search(text):
        reason = (f"not UTF-8 text ({not_utf8_hint(path)})" if _is_utf8(encoding)
                  else f"not {encoding} text (check --encoding)")
        raise LabeledFileError(f"{path}:{line}: {reason}")


def _read_lines(path: Path, encoding: str) -> list[str]:
    """One entry per line: split at \\n (a \\r before it dropped) and nothing else, so a U+2028 or
    form feed inside a tweet does not shift the texts against their labels."""
    try:
        with _open_text(path, encoding) as handle:
            text = handle.read()
    except OSError as exc:
        raise LabeledFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:  # bytes even surrogateescape cannot keep (UTF-16, say)
        raise LabeledFileError(f"{path}: cannot be read as {encoding} text ({exc.reason}); "
                               "check --encoding") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":  # the newline that ends the last line
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    for number, line in enumerate(lines, 1):
        _refuse_undecoded(path, number, line, encoding)
    return lines


def _read_line_files(path: Path, labels_file: Path, mapping: dict[str, int],
                     encoding: str = "utf-8", limit: int | None = None) -> LabeledSet:
    texts = _read_lines(path, encoding)
    raw_labels = _read_lines(labels_file, encoding)
    while raw_labels and not raw_labels[-1].strip():
        raw_labels.pop()
    while len(texts) > len(raw_labels) and not texts[-1].strip():  # blank lines at the end only
        texts.pop()
    if len(texts) != len(raw_labels):
        raise LabeledFileError(f"{labels_file}: {len(raw_labels)} labels for {len(texts)} texts in {path}")
    if not texts:
        raise LabeledFileError(f"{path}: no texts (the file is empty)")
    labeled = LabeledSet([], [])
    for number, (text, raw) in enumerate(zip(texts, raw_labels), 1):
        if limit is not None and len(labeled.texts) == limit:
            break
        _add_labeled(labeled, text, raw, mapping, f"{path}:{number}", f"{labels_file}:{number}")
    if not labeled.texts:
        raise LabeledFileError(f"{path}: no texts (every line is blank)")
    return labeled


def _read_table(path: Path, layout: tuple[str, str, str | None], mapping: dict[str, int],
                encoding: str = "utf-8", limit: int | None = None) -> LabeledSet:
    """A CSV is read strictly by CSV's quoting rules: a quote left open to the end of the file, or a
    stray one, is an error naming its row. A TSV is read as it always was, leniently ('"Great"
    movie', common in tweet sets, is the text 'Great movie'), only a quote left open to the end of
    the file is refused. A quote that a later one closes by accident still merges the rows between
    them into one text (README: no rule tells such a text from one Excel quotes over lines)."""
    text_col, label_col, delimiter = layout
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    labeled = LabeledSet([], [])
    row_starts = 1
    try:
        with _open_text(path, encoding) as handle:
            lines = _RecordLines(handle)
            delimiter, skipped = _table_delimiter(path, lines, (text_col, label_col), delimiter)
            reader = csv.reader(lines, delimiter=delimiter, strict=delimiter != "\t")
            header = next(reader, [])
            _refuse_undecoded(path, 1 + skipped, "".join(header), encoding)
            for column in (text_col, label_col):
                if column not in header:
                    other = other_separator(header, delimiter, {text_col, label_col})
                    hint = (f": is the file separated by {other}? (--delimiter {other})" if other
                            else f" (columns: {', '.join(header)})")
                    raise LabeledFileError(f"{path}:{1 + skipped}: no column {column!r}{hint}")
            text_at, label_at = header.index(text_col), header.index(label_col)
            row_starts = reader.line_num + 1 + skipped  # a quoted text may run over several lines: its first
            lines.record = []
            for row in reader:
                if delimiter == "\t":
                    _refuse_a_quote_open_at_the_end(lines)
                if row:  # an empty line is no row
                    _add_row(labeled, row, (text_at, label_at, len(header)), mapping,
                             (path, row_starts, label_col, encoding, delimiter))
                row_starts = reader.line_num + 1 + skipped
                lines.record = []
                if limit is not None and len(labeled.texts) == limit:
                    break
    except OSError as exc:
        raise LabeledFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:  # bytes even surrogateescape cannot keep (UTF-16, say)
        raise LabeledFileError(f"{path}: cannot be read as {encoding} text ({exc.reason}); "
                               "check --encoding") from None
    except csv.Error as exc:
        raise LabeledFileError(f"{path}:{row_starts}: {_malformed_row(exc)}") from None
    if not labeled.texts:
        raise LabeledFileError(f"{path}: no labeled rows" + (" with a text" if labeled.without_text else ""))
    return labeled


_SEPARATORS = (",", ";", "\t", "|")
_SEPARATOR_NAMES = {",": "a comma", ";": "a semicolon", "\t": "a tab", "|": "a '|'"}


def _table_delimiter(path: Path, lines: "_RecordLines", columns: tuple[str, str],
                     given: str | None) -> tuple[str, int]:
    """The separator, and how many lines before the header were read to find it (Excel's `sep=`
    line). The header line is given back to `lines`, so the reader still starts at it."""
    first = next(lines, "")
    excel_separator = EXCEL_SEPARATOR_LINE.fullmatch(first.rstrip("\r\n").strip(" "))  # 'sep=\t' keeps its tab
    if excel_separator:
        lines.record = []
        return given or excel_separator[1], 1
    lines.give_back(first)
    if given:
        return given, 0
    default = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    for separator in (default, *_SEPARATORS):
        header = next(csv.reader([first], delimiter=separator), [])
        if all(column in header for column in columns):
            return separator, 0
    return default, 0


class _RecordLines:
    """The file's lines for csv.reader, keeping those of the row being read (`record`) and whether
    the file has ended (`at_end`)."""

    def __init__(self, handle):
        self.handle = handle
        self.record: list[str] = []
        self.at_end = False
        self._given_back: list[str] = []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self._given_back:
            line = self._given_back.pop()
            self.record.append(line)
            return line
        try:
            line = next(self.handle)
        except StopIteration:
            self.at_end = True
            raise
        self.record.append(line)
        return line

    def give_back(self, line: str) -> None:
        """`line`, read to look at it, is read again next (and is not part of a record yet)."""
        if line:
            self._given_back.append(line)
        self.record = []


_END_OF_FILE = "\x00end of the file\x00"


def _refuse_a_quote_open_at_the_end(lines: _RecordLines) -> None:
    """The lenient reader takes the end of the file inside a quote as the end of the text, with
    every row after the quote in it: never a text the file meant (csv.Error, as a strict read).
    Told by reading the last row again, leniently, with one more line after it: a quote still
    open takes that line into the row."""
    if lines.at_end and lines.record:
        last = "".join(lines.record)
        line_end = "" if last.endswith(("\n", "\r")) else "\n"
        again = csv.reader(io.StringIO(last + line_end + _END_OF_FILE + "\n", newline=""), delimiter="\t")
        if any(_END_OF_FILE in field for field in next(again, [])):
            raise csv.Error("unexpected end of data")


def _malformed_row(error: csv.Error) -> str:
    """What is wrong with a row the csv module could not read, in the words `import` uses."""
    if "unexpected end of data" in str(error):
        return ('a quote (") opened on this line is not closed where the row ends (a quote inside '
                'a text is written "" in a quoted field)')
    if "expected after" in str(error):
        return 'a quoted field has a stray quote (") inside: write it as "" or leave the field unquoted'
    return f"not a valid CSV/TSV row: {error}"


def _add_row(labeled: LabeledSet, row: list[str], columns: tuple[int, int, int], mapping: dict[str, int],
             at: tuple) -> None:
    """One row of a table into `labeled`: its text and label, or where it was when it has no text."""
    text_at, label_at, width = columns
    path, line, label_col, encoding, delimiter = at
    if len(row) <= max(text_at, label_at):
        raise LabeledFileError(f"{path}:{line}: {label_col}: the row has too few fields")
    if any(extra.strip() for extra in row[width:]):
        raise LabeledFileError(f"{path}:{line}: the row has more fields than the header "
                               f"(a text with {_SEPARATOR_NAMES.get(delimiter, repr(delimiter))} in it must be "
                               "in double quotes)")
    text, raw_label = row[text_at], row[label_at]
    _refuse_undecoded(path, line, text + raw_label, encoding)
    _add_labeled(labeled, text, raw_label, mapping, f"{path}:{line}", f"{path}:{line}: {label_col}")


def _add_labeled(labeled: LabeledSet, text: str, raw_label: str, mapping: dict[str, int], text_at: str,
                 label_at: str) -> None:
    """The text and its label into `labeled`; a text that is blank only where it was: its label, if
    any, is not read, as nothing is scored against it."""
    if not text.strip():
        labeled.without_text.append(text_at)
        return
    labeled.labels.append(_label_index(raw_label, mapping, label_at))
    labeled.texts.append(text)


def leave_out_seen(labeled: LabeledSet) -> tuple[LabeledSet, int]:
    """The texts the built-in model never saw in training, and how many were left out."""
    from sentiment.overlap import builtin_training_index

    index = builtin_training_index()
    kept = [(text, label) for text, label in zip(labeled.texts, labeled.labels) if not index.seen(text)]
    unseen = LabeledSet([t for t, _ in kept], [l for _, l in kept], labeled.classes)
    return unseen, len(labeled.texts) - len(unseen.texts)


def evaluate(scorer, labeled: LabeledSet) -> dict:
    """Scores every text; returns the report plus the time it took."""
    started = time.perf_counter()
    predicted = [LABEL_NAMES.index(s.label) for s in scorer.score_texts(labeled.texts)]
    report = classification_report(labeled.labels, predicted, labeled.classes or None)
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report
