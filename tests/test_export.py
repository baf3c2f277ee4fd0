"""`mentionwatch export` and `mark`: formula injection, UTF-8/Chinese through XLSX, filters, streaming."""
from __future__ import annotations

import csv
import datetime as dt
import json

import openpyxl
import pytest

from storage import Mention, open_db, save_mentions
from mentionwatch.triage.export import xlsx_header
from mentionwatch.triage.query import EXPORT_COLUMNS, MentionFilters, export_rows

MODEL = "test-model"

# (external id, source, watches, author, reach, created_at, text, label or None)
POSTS = [
    ("p1", "twitter", ("acme",), "alice", 12_000, "2024-03-01T08:00:00Z",
     "=HYPERLINK(\"http://evil.example\",\"click\") acme refund please", "negative"),
    ("p2", "twitter", ("acme",), "@bob", 40, "2024-03-01T09:30:00Z",
     "+1 acme support was quick", "positive"),
    ("p3", "reddit", ("acme", "globex"), "carol", None, "2024-03-02T10:00:00Z",
     "-acme and globex both lost my parcel", "negative"),
    ("p4", "reddit", ("globex",), "dave", 900, "2024-03-03T11:00:00Z",
     "globex app keeps crashing on login", "negative"),
    ("p5", "appstore", ("globex",), "erin", 5, "2024-03-04T12:00:00Z",
     "globex 服务很好，下次还会再来", "positive"),
    ("p6", "appstore", ("acme",), "frank", 300, "2024-03-05T13:00:00Z",
     "\tacme neutral remark about pricing", None),
]


def _stock(path):
    db = open_db(path)
    save_mentions(db, [Mention(source=src, external_id=eid, text=text, created_at=created,
                               author=author, author_reach=reach, url=f"https://example.org/{eid}",
                               watches=watches)
                       for eid, src, watches, author, reach, created, text, _ in POSTS])
    ids = dict(db.execute("SELECT external_id, id FROM mentions").fetchall())
    for eid, *_, label in POSTS:
        if label:
            p_neg = 0.9 if label == "negative" else 0.05
            p_pos = 0.9 if label == "positive" else 0.05
            db.execute("INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [ids[eid], MODEL, label, p_neg, 1 - p_neg - p_pos, p_pos,
                        "2024-03-06T00:00:00Z"])
    db.execute("INSERT INTO alerts (id, watch, rule, severity, window_start, window_end, opened_at, "
               "updated_at) VALUES (7, 'acme', 'spike', 'high', '2024-03-01T00:00:00Z', "
               "'2024-03-02T12:00:00Z', '2024-03-02T12:00:00Z', '2024-03-02T12:00:00Z')")
    for eid in ("p1", "p3"):
        db.execute("INSERT INTO alert_mentions (alert_id, mention_id, rank) VALUES (7, ?, 1)",
                   [ids[eid]])
    db.conn.commit()
    db.close()
    return ids


@pytest.fixture
def stocked(tmp_path):
    path = tmp_path / "stocked.db"
    return path, _stock(path)


def _post(eid):
    return next(p for p in POSTS if p[0] == eid)


def _read_csv(path):
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_formula_injection_neutralised_in_csv(cli, stocked, tmp_path):
    db_path, _ = stocked
    out = tmp_path / "out.csv"
    result = cli("--db", db_path, "export", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the file as UTF-8
    rows = {row["url"].rsplit("/", 1)[1]: row for row in _read_csv(out)}
    assert rows["p1"]["text"] == "'" + _post("p1")[6]
    assert rows["p2"]["text"] == "'+1 acme support was quick"
    assert rows["p2"]["author"] == "'@bob"
    assert rows["p3"]["text"].startswith("'-acme")
    assert rows["p6"]["text"].startswith("'\tacme")
    assert rows["p4"]["text"] == _post("p4")[6]  # harmless text is left exactly as it was
    assert rows["p5"]["text"] == "globex 服务很好，下次还会再来"
    for row in rows.values():  # nothing a spreadsheet would run is left in any cell
        assert not any(value.startswith(("=", "+", "-", "@", "\t", "\r")) for value in row.values())


def _xlsx_rows(path):
    """{external id: {column: cell}} of the first sheet; the header as written."""
    sheet = openpyxl.load_workbook(path).active
    header = [cell.value for cell in sheet[1]]
    rows = {}
    for row in sheet.iter_rows(min_row=2):
        cells = dict(zip(EXPORT_COLUMNS, row))
        rows[cells["url"].value.rsplit("/", 1)[1]] = cells
    return header, rows


def test_formula_injection_neutralised_in_xlsx(cli, stocked, tmp_path):
    db_path, _ = stocked
    out = tmp_path / "out.xlsx"
    assert cli("--db", db_path, "export", "--format", "xlsx", "--out", out).exit_code == 0
    header, rows = _xlsx_rows(out)
    assert header == [xlsx_header(name) for name in EXPORT_COLUMNS]
    formula_cell = rows["p1"]["text"]
    assert formula_cell.data_type == "s"  # a string, not a formula ('f')
    # a string cell is never run: the text is exactly as posted, without the CSV's leading quote
    assert formula_cell.value == _post("p1")[6]
    assert rows["p2"]["text"].value == "+1 acme support was quick"
    assert rows["p2"]["author"].value == "@bob" and rows["p2"]["author"].data_type == "s"
    assert rows["p6"]["text"].value == _post("p6")[6]
    reach = rows["p1"]["author_reach"]
    assert reach.data_type == "n" and reach.value == _post("p1")[4]  # numbers stay numbers


def test_xlsx_text_that_looks_like_a_formula_stays_text(cli, tmp_path):
    db = open_db(tmp_path / "f.db")
    save_mentions(db, [Mention("forum", eid, text, "2024-03-01T08:00:00Z", author=author,
                               url=f"https://example.org/{eid}")
                       for eid, text, author in (("f1", "=1+1", "@united"),
                                                 ("f2", "@united lost my bag", "=cmd|' /C calc'!A0"))])
    db.close()
    out = tmp_path / "f.xlsx"
    assert cli("--db", tmp_path / "f.db", "export", "--out", out).exit_code == 0
    _, rows = _xlsx_rows(out)
    assert rows["f1"]["text"].value == "=1+1" and rows["f1"]["text"].data_type == "s"
    assert rows["f2"]["text"].value == "@united lost my bag"
    assert rows["f2"]["author"].value == "=cmd|' /C calc'!A0"
    assert rows["f2"]["author"].data_type == "s"
    formulas = openpyxl.load_workbook(out, data_only=False).active
    assert not any(cell.data_type == "f" for row in formulas.iter_rows() for cell in row)


def test_xlsx_cells_cut_to_excels_limit_are_counted_in_the_summary(cli, tmp_path):
    db = open_db(tmp_path / "long.db")
    long_text = "acme " + "the parcel never came " * 2_000  # over 32,767 characters
    save_mentions(db, [Mention("forum", eid, text, "2024-03-01T08:00:00Z", url=f"https://example.org/{eid}")
                       for eid, text in (("long", long_text), ("short", "acme is fine"))])
    db.close()
    out = tmp_path / "long.xlsx"
    result = cli("--db", tmp_path / "long.db", "export", "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(
        "; 1 cell cut to Excel's limit of 32,767 characters (csv or jsonl keep every character)")
    _, rows = _xlsx_rows(out)
    assert rows["long"]["text"].value == long_text[:32_767]
    as_csv = cli("--db", tmp_path / "long.db", "export", "--out", tmp_path / "long.csv")
    assert as_csv.exit_code == 0 and "Excel's limit" not in as_csv.stdout


def test_xlsx_cells_are_cut_as_excel_counts_an_emoji_as_two(cli, tmp_path):
    db = open_db(tmp_path / "emoji.db")
    emoji_text = "acme! " + "\U0001F621" * 20_000  # 20,006 characters, 40,006 UTF-16 units
    save_mentions(db, [Mention("forum", "angry", emoji_text, "2024-03-01T08:00:00Z", url="https://example.org/angry")])
    db.close()
    out = tmp_path / "emoji.xlsx"
    result = cli("--db", tmp_path / "emoji.db", "export", "--out", out)
    assert result.exit_code == 0 and "1 cell cut to Excel's limit" in result.stdout
    _, rows = _xlsx_rows(out)
    written = rows["angry"]["text"].value
    assert emoji_text.startswith(written) and len(written.encode("utf-16-le")) // 2 == 32_766  # 6 + 2 x 16,380: no half emoji


def test_xlsx_times_are_utc_date_times(cli, stocked, tmp_path):
    db_path, ids = stocked
    assert cli("--db", db_path, "mark", ids["p2"], "--state", "flagged").exit_code == 0
    out = tmp_path / "t.xlsx"
    assert cli("--db", db_path, "export", "--out", out).exit_code == 0
    header, rows = _xlsx_rows(out)
    assert header[EXPORT_COLUMNS.index("created_at")] == "created_at (UTC)"
    assert header[EXPORT_COLUMNS.index("triage_at")] == "triage_at (UTC)"
    created = rows["p1"]["created_at"]
    assert created.is_date and created.value == dt.datetime(2024, 3, 1, 8, 0, 0)  # 08:00:00Z
    assert created.number_format == "yyyy-mm-dd hh:mm:ss"
    marked = rows["p2"]["triage_at"]
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert marked.is_date and abs(now - marked.value) < dt.timedelta(minutes=5)
    assert rows["p1"]["triage_at"].value is None  # never marked


def test_chinese_reviews_round_trip_through_xlsx(cli, shared_file, tmp_path):
    reviews = shared_file("zh/ChnSentiCorp_htl_all.csv")
    with reviews.open(encoding="utf-8-sig", newline="") as handle:
        texts = [row["review"] for _, row in zip(range(300), csv.DictReader(handle))
                 if row["review"].strip()]
    db = open_db(tmp_path / "zh.db")
    save_mentions(db, [Mention("ctrip", f"r{i}", text, f"2018-01-01T00:{i // 60:02d}:{i % 60:02d}Z")
                       for i, text in enumerate(texts)])
    db.close()
    out = tmp_path / "zh.xlsx"
    result = cli("--db", tmp_path / "zh.db", "export", "--out", out)
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(out, read_only=True).active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    text_at = EXPORT_COLUMNS.index("text")
    assert [row[text_at] for row in rows] == texts  # exactly as stored, no formula quote
    assert any("酒店" in row[text_at] for row in rows)


@pytest.mark.parametrize("args, keep", [
    (("--watch", "acme"), lambda p: "acme" in p[2]),
    (("--watch", "globex", "--source", "reddit"), lambda p: "globex" in p[2] and p[1] == "reddit"),
    (("--sentiment", "negative"), lambda p: p[7] == "negative"),
    (("--sentiment", "positive", "--sentiment", "unscored"), lambda p: p[7] in ("positive", None)),
    (("--alert", "7"), lambda p: p[0] in ("p1", "p3")),
    (("--since", "2024-03-02", "--until", "2024-03-04T12:00:00Z"),
     lambda p: "2024-03-02" <= p[5] < "2024-03-04T12:00:00Z"),
    (("--min-reach", "300"), lambda p: p[4] is not None and p[4] >= 300),
    (("--min-reach", "0"), lambda p: True),  # no floor: unknown reach (p3) stays in
    (("--query", "globex"), lambda p: "globex" in p[6]),
    (("--query", "crashing OR parcel"), lambda p: "crashing" in p[6] or "parcel" in p[6]),
    (("--query", '"lost my" parcel!'), lambda p: "lost my parcel" in p[6]),  # '!' separates words
    (("--watch", "acme", "--sentiment", "negative", "--min-reach", "1000"), lambda p: p[0] == "p1"),
])
def test_filters_give_the_expected_rows(cli, stocked, tmp_path, args, keep):
    db_path, ids = stocked
    out = tmp_path / "f.jsonl"
    result = cli("--db", db_path, "export", "--out", out, *args)
    assert result.exit_code == 0, result.output
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    expected = [p for p in POSTS if keep(p)]
    assert expected, "a filter case must keep something"
    assert [row["mention_id"] for row in got] == [ids[p[0]] for p in expected]
    assert f"{len(expected)} mention" in result.output


def test_rows_carry_sentiment_alerts_and_watches(stocked, tmp_path):
    db_path, ids = stocked
    db = open_db(db_path)
    rows = {row["mention_id"]: row for row in export_rows(db, MentionFilters(), MODEL)}
    p3 = rows[ids["p3"]]
    assert p3["sentiment"] == "negative" and p3["p_negative"] == pytest.approx(0.9)
    assert p3["alert_ids"] == "7"
    assert sorted(p3["watches"].split(";")) == ["acme", "globex"]
    assert rows[ids["p6"]]["sentiment"] is None and rows[ids["p6"]]["alert_ids"] is None


def test_marks_and_unhandled_export(cli, stocked, tmp_path):
    db_path, ids = stocked
    marked = cli("--db", db_path, "mark", ids["p1"], ids["p3"], "--state", "handled",
                 "--by", "dana", "--note", "replied")
    assert marked.exit_code == 0 and "2 mentions marked handled" in marked.output
    assert cli("--db", db_path, "mark", ids["p4"], "--state", "ignored", "--actor", "lee").exit_code == 0
    assert cli("--db", db_path, "mark", ids["p2"], "--state", "flagged").exit_code == 0
    out = tmp_path / "todo.csv"
    assert cli("--db", db_path, "export", "--unhandled", "--out", out).exit_code == 0
    rows = _read_csv(out)
    assert sorted(int(r["mention_id"]) for r in rows) == sorted(ids[e] for e in ("p2", "p5", "p6"))
    flagged = next(r for r in rows if int(r["mention_id"]) == ids["p2"])
    assert flagged["triage_state"] == "flagged"
    out_handled = tmp_path / "done.jsonl"
    cli("--db", db_path, "export", "--state", "handled", "--out", out_handled)
    done = [json.loads(line) for line in out_handled.read_text().splitlines()]
    assert {(r["mention_id"], r["triage_by"], r["triage_note"]) for r in done} == {
        (ids["p1"], "dana", "replied"), (ids["p3"], "dana", "replied")}
    out_ignored = tmp_path / "ignored.jsonl"
    cli("--db", db_path, "export", "--state", "ignored", "--out", out_ignored)
    assert [json.loads(line)["triage_by"] for line in out_ignored.read_text().splitlines()] == ["lee"]
    out_open = tmp_path / "open.jsonl"
    cli("--db", db_path, "export", "--state", "none", "--state", "ignored", "--out", out_open)
    not_dealt_with = [json.loads(line)["mention_id"] for line in out_open.read_text().splitlines()]
    assert sorted(not_dealt_with) == sorted(ids[e] for e in ("p4", "p5", "p6"))


def test_mark_unknown_id_marks_nothing(cli, stocked):
    db_path, ids = stocked
    result = cli("--db", db_path, "mark", ids["p1"], 999_999, "--state", "handled")
    assert result.exit_code == 2
    assert "no mention with id 999999; nothing was marked" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    db = open_db(db_path)
    assert db.execute("SELECT count(*) FROM triage").fetchone()[0] == 0


def test_json_file_name_is_refused_with_a_hint(cli, stocked, tmp_path):
    db_path, _ = stocked
    result = cli("--db", db_path, "export", "--out", tmp_path / "x.json")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: Invalid value for --out: '{tmp_path / 'x.json'}': the JSON export is JSON Lines "
        "(one object per line): name the file x.jsonl, or give --format jsonl")
    assert not (tmp_path / "x.json").exists()
    asked = cli("--db", db_path, "export", "--format", "jsonl", "--out", tmp_path / "x.json")
    assert asked.exit_code == 0, asked.output
    lines = (tmp_path / "x.json").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(POSTS) and json.loads(lines[0])["text"] == POSTS[0][6]


def test_until_a_date_is_midnight_and_the_error_says_how_to_get_the_whole_day(cli, stocked,
                                                                              tmp_path):
    db_path, _ = stocked
    for command, out in (("export", tmp_path / "d.csv"), ("report", tmp_path / "r")):
        result = cli("--db", db_path, command, "--since", "2024-03-02", "--until", "2024-03-02",
                     "--out", out)
        assert result.exit_code == 2
        assert result.stderr.strip() == (
            "Error: Invalid value for --since: 2024-03-02T00:00:00Z is not before --until "
            "2024-03-02T00:00:00Z (a date means midnight at its start and --until is not "
            "included: use --until 2024-03-03 for the whole of 2024-03-02)")
    whole_day = cli("--db", db_path, "export", "--since", "2024-03-02", "--until", "2024-03-03",
                    "--out", tmp_path / "d.jsonl")
    assert whole_day.exit_code == 0 and "1 mention exported" in whole_day.output  # p3, 10:00


def test_bad_time_is_one_line_error(cli, stocked, tmp_path):
    db_path, _ = stocked
    result = cli("--db", db_path, "export", "--since", "last tuesday", "--out", tmp_path / "x.csv")
    assert result.exit_code == 2
    assert "'last tuesday' is not a time" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.csv").exists()


def test_export_reads_rows_lazily(stocked):
    """The exporter gets an iterator over the SQL cursor, not a list of every row."""
    db_path, _ = stocked
    db = open_db(db_path)
    rows = export_rows(db, MentionFilters(), MODEL)
    assert iter(rows) is rows
    first = next(rows)
    assert first["created_at"] == POSTS[0][5]


def test_bench_export_prints_its_figures(cli):
    result = cli("bench", "export", "--count", "1000", "--format", "csv", "--no-reference")
    assert result.exit_code == 0, result.output
    assert "stored 1,000 synthetic mentions" in result.output
    line = next(line for line in result.output.splitlines() if line.startswith("export csv"))
    assert "1,000 rows" in line and "rows/s" in line and "peak RSS" in line


def test_a_misspelt_watch_or_alert_is_a_mistake_not_an_empty_result(cli, stocked, tmp_path):
    db_path, _ = stocked  # no watchlist file here: the watches are known from the database
    out = tmp_path / "x.csv"
    assert cli("--db", db_path, "export", "--watch", "globex", "--out", out).exit_code == 0
    for args in (("export", "--watch", "acmee", "--out", out), ("search", "refund", "--watch", "acmee"),
                 ("alerts", "list", "--watch", "acmee")):
        result = cli("--db", db_path, *args)
        assert result.exit_code == 2, args
        assert result.stderr.strip().endswith("or the database (known: acme, globex)")
        assert "no watch named 'acmee'" in result.stderr
    missing_alert = cli("--db", db_path, "export", "--alert", "7", "--alert", "8", "--out", out)
    assert missing_alert.exit_code == 2 and missing_alert.stderr.strip() == "Error: no alert with id 8"


def test_limit_keeps_the_newest_rows_written_in_time_order(cli, stocked, tmp_path):
    """`--limit 3` of a triage export: the latest posts, not the oldest ones."""
    db_path, ids = stocked
    out = tmp_path / "latest.csv"
    result = cli("--db", db_path, "export", "--watch", "globex", "--limit", "2", "--out", out)
    assert result.exit_code == 0, result.output
    with open(out, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["mention_id"]) for row in rows] == [ids["p4"], ids["p5"]]
    everything = cli("--db", db_path, "export", "--limit", "100", "--out", tmp_path / "all.csv")
    assert everything.exit_code == 0 and "6 mentions exported" in everything.output


def test_choices_are_taken_in_any_case(cli, stocked, tmp_path):
    """Walkthrough 8: `--sentiment Negative`, `--format XLSX` and `--state Handled` were refused."""
    db_path, ids = stocked
    assert cli("--db", db_path, "mark", ids["p1"], "--state", "Handled").exit_code == 0
    out = tmp_path / "n.jsonl"
    result = cli("--db", db_path, "export", "--sentiment", "Negative", "--state", "HANDLED",
                 "--format", "JSONL", "--out", out)
    assert result.exit_code == 0, result.output
    [row] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert (row["mention_id"], row["sentiment"], row["triage_state"]) == (ids["p1"], "negative", "handled")
