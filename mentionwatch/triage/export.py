"""Writing selected mentions to CSV, JSONL or XLSX for the people who follow up on them.

Rows are streamed: each writer takes an iterator and keeps only the current row in memory
(xlsxwriter runs with constant_memory=True). Formula injection is neutralised: in CSV a text cell
starting with =, +, -, @, tab or carriage return gets a leading single quote (OWASP's advice), as
does one where =, +, - or @ (or a full-width form) follows leading whitespace, which spreadsheets
drop; and every field is quoted, since a spreadsheet whose list separator is ';' (German or
French Windows) splits an unquoted field at each ';' and the piece after one could start a
formula; in XLSX every text is written as a string cell, which Excel never runs, so it keeps
its exact value, up to Excel's 32,767 characters a cell: a longer text is cut there, and the
export counts the cut cells (`ExportResult.cut_cells`) for the command to say so. XLSX times are
real Excel date-times in UTC.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mentionwatch.triage.atomic import replacing
from mentionwatch.triage.query import EXPORT_COLUMNS

FORMATS = ("csv", "jsonl", "xlsx")
STREAM_FORMATS = ("csv", "jsonl")  # those that can go to standard output (`--out -`)
# the full-width forms (＝ ＋ － ＠) too, cheaply: Excel set up for Japanese or Chinese input may
# take them for the ASCII signs
FORMULA_STARTS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
FORMULA_TRIGGERS = FORMULA_STARTS + ("\t", "\r")  # OWASP's list, the full-width forms added
XLSX_MAX_ROWS = 1_048_576  # Excel's limit per sheet, header row included
XLSX_MAX_CELL_CHARS = 32_767  # counted in UTF-16 units, as Excel counts
_XLSX_WIDTHS = {"text": 80, "title": 30, "url": 40, "author": 18, "created_at": 20, "watches": 14,
                "triage_at": 20}
XLSX_TIME_COLUMNS = ("created_at", "triage_at")  # written as Excel date-times, headed "... (UTC)"
XLSX_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


@dataclass
class ExportResult:
    rows: int
    path: Path
    sheets: int = 1
    cut_cells: int = 0  # XLSX texts cut to XLSX_MAX_CELL_CHARS


def neutralise(value):
    """A text value that a spreadsheet would run as a formula, made inert with a leading quote.

    Excel and LibreOffice drop leading spaces before they look for a formula, so " =1+1" counts
    too; any Unicode whitespace (tab, line feed, no-break space, ideographic space) is skipped.
    Numbers (scores, reach) are never quoted: -0.5 stays a number. A text already starting with
    quotes before such a start ("'@united") gets one more, so that import, which takes off one
    quote where this function would have put it, gives back the text as stored."""
    if not isinstance(value, str):
        return value
    unquoted = value.lstrip("'")
    if unquoted.startswith(FORMULA_TRIGGERS) or unquoted.lstrip().startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_mentions(rows: Iterable[dict], path: Path, fmt: str) -> ExportResult:
    """Write rows (dicts keyed by EXPORT_COLUMNS) to `path` in format csv, jsonl or xlsx.

    An existing file at `path` is replaced only when the new one is complete: after an error or
    an interruption it is left as it was.
    """
    writers = {"csv": write_csv, "jsonl": write_jsonl, "xlsx": write_xlsx}
    if fmt not in writers:
        raise ValueError(f"unknown export format {fmt!r} (use {', '.join(FORMATS)})")
    with replacing(path) as temporary:
        result = writers[fmt](rows, temporary)
    result.path = path
    return result


def export_to_stream(rows: Iterable[dict], binary, fmt: str) -> int:
    """Write rows as csv or jsonl to a binary stream (standard output); returns the row count.

    UTF-8 without a byte-order mark, which a program reading a pipe does not expect (a file for
    Excel gets one); the stream is flushed but not closed."""
    writers = {"csv": _csv_rows, "jsonl": _jsonl_rows}
    if fmt not in writers:
        raise ValueError(f"the {fmt} format cannot be written to standard output "
                         f"(use {' or '.join(STREAM_FORMATS)})")
    handle = io.TextIOWrapper(binary, encoding="utf-8", newline="")
    try:
        count = writers[fmt](rows, handle)
        handle.flush()
    finally:
        handle.detach()  # the stream stays open for whoever owns it
    return count


def write_csv(rows: Iterable[dict], path: Path) -> ExportResult:
    # utf-8-sig writes a byte-order mark: without it Excel reads UTF-8 as the local code page
    # and Chinese or emoji come out garbled.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        count = _csv_rows(rows, handle)
    return ExportResult(count, path)


def _csv_rows(rows: Iterable[dict], handle) -> int:
    count = 0
    writer = csv.writer(handle, quoting=csv.QUOTE_ALL)  # quoted fields are never split
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow([neutralise(row[name]) for name in EXPORT_COLUMNS])
        count += 1
    return count


def write_jsonl(rows: Iterable[dict], path: Path) -> ExportResult:
    """One JSON object per line; values as stored (JSON is not run as formulas)."""
    with path.open("w", encoding="utf-8") as handle:
        count = _jsonl_rows(rows, handle)
    return ExportResult(count, path)


def _jsonl_rows(rows: Iterable[dict], handle) -> int:
    count = 0
    for row in rows:
        handle.write(json.dumps({name: row[name] for name in EXPORT_COLUMNS}, ensure_ascii=False))
        handle.write("\n")
        count += 1
    return count


def write_xlsx(rows: Iterable[dict], path: Path) -> ExportResult:
    """An Excel workbook; a new sheet starts whenever one reaches Excel's row limit."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {
        "constant_memory": True,  # rows are flushed to disk as soon as the next row starts
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
    })
    formats = {"header": workbook.add_format({"bold": True}),
               "time": workbook.add_format({"num_format": XLSX_TIME_FORMAT})}
    count, sheets, sheet, sheet_row, cut_cells = 0, 0, None, XLSX_MAX_ROWS, 0
    try:
        for row in rows:
            if sheet_row >= XLSX_MAX_ROWS:
                sheets += 1
                sheet = _new_sheet(workbook, sheets, formats)
                sheet_row = 1
            cut_cells += _write_xlsx_row(sheet, sheet_row, row, formats)
            sheet_row += 1
            count += 1
        if sheet is None:
            sheets = 1
            _new_sheet(workbook, 1, formats)
    finally:
        workbook.close()
    return ExportResult(count, path, sheets, cut_cells)


def xlsx_header(name: str) -> str:
    return f"{name} (UTC)" if name in XLSX_TIME_COLUMNS else name


def _new_sheet(workbook, number: int, formats: dict):
    sheet = workbook.add_worksheet("mentions" if number == 1 else f"mentions {number}")
    for column, name in enumerate(EXPORT_COLUMNS):
        sheet.set_column(column, column, _XLSX_WIDTHS.get(name, 12))
        sheet.write_string(0, column, xlsx_header(name), formats["header"])
    sheet.freeze_panes(1, 0)
    return sheet


def _write_xlsx_row(sheet, row_number: int, row: dict, formats: dict) -> int:
    """Write one mention; returns how many of its texts were cut to Excel's cell limit."""
    cut = 0
    for column, name in enumerate(EXPORT_COLUMNS):
        value = row[name]
        if value is None:
            continue
        moment = _utc_moment(value) if name in XLSX_TIME_COLUMNS else None
        if moment is not None:
            sheet.write_datetime(row_number, column, moment, formats["time"])
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            sheet.write_number(row_number, column, value)
        else:
            # a string cell is never a formula, whatever it starts with: no quote needed
            text = str(value)
            fitting = _fitting_a_cell(text)
            cut += fitting != text
            sheet.write_string(row_number, column, fitting)
    return cut


def _fitting_a_cell(text: str) -> str:
    """The text cut to what an Excel cell holds: XLSX_MAX_CELL_CHARS UTF-16 units, which is how
    Excel counts (an emoji is two), never splitting a character."""
    if len(text) * 2 <= XLSX_MAX_CELL_CHARS:  # fast path: even all-emoji text fits
        return text
    units = text.encode("utf-16-le")
    if len(units) <= 2 * XLSX_MAX_CELL_CHARS:
        return text
    return units[:2 * XLSX_MAX_CELL_CHARS].decode("utf-16-le", errors="ignore")


def _utc_moment(value) -> dt.datetime | None:
    """A stored UTC time ('2015-02-24T19:35:52Z') as the naive datetime Excel takes (it has no
    time zones); None for anything else, which is then written as text."""
    if not (isinstance(value, str) and value.endswith("Z")):
        return None
    try:
        return dt.datetime.fromisoformat(value[:-1])  # far faster than strptime, per cell
    except ValueError:
        return None
