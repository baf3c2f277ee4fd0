"""`mentionwatch import` with exports from other tools: stray quotes, Excel's ids and dates,
time zone names, separators, encodings, follower counts, nested JSON and HTML entities."""
from __future__ import annotations

import codecs
import json
import sqlite3

import pytest

HEADER = "id,text,created_at\n"
TIME = "2026-03-05T14:02:00Z"


def _stored(tmp_path, sql="select external_id, text from mentions order by id"):
    return sqlite3.connect(tmp_path / "mentionwatch.db").execute(sql).fetchall()


@pytest.fixture(autouse=True)
def _database_named(tmp_path, monkeypatch):
    """The database named, as in a watchlist's folder: an import that would create one in a folder
    without a watchlist adds a note to its output (tests/test_walk4_fixes.py)."""
    monkeypatch.setenv("MENTIONWATCH_DB", str(tmp_path / "mentionwatch.db"))


def _csv(tmp_path, body: str, name="posts.csv", header=HEADER):
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return path


# D1: quotes


def test_an_unclosed_quote_costs_its_line_not_the_rest_of_the_file(cli, tmp_path):
    rows = "".join(f"q{n},row {n},{TIME}\n" for n in range(4, 51))
    path = _csv(tmp_path, f"q1,fine,{TIME}\n"
                          f'q2,"He said "hi" to me,{TIME}\n'
                          f'q3,"unclosed quote start,{TIME}\n' + rows)
    result = cli("import", path)
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        f'{path}:3: rejected: malformed CSV: a quoted field has a stray quote (") inside: write it '
        'as "" or leave the field unquoted',
        f'{path}:4: rejected: malformed CSV: a quote (") opened on this line is not closed where '
        "the row ends; read on from the next line",
    ]
    assert "48 inserted, 0 already present, 2 rejected" in result.stdout
    assert ("q50", "row 50") in _stored(tmp_path)
    assert not [text for _, text in _stored(tmp_path) if "said" in text]  # never 'He said hi" to me'


def test_a_quote_closed_lines_later_costs_one_line_and_quotes_in_plain_fields_are_kept(cli, tmp_path):
    path = _csv(tmp_path, f'a1,"opened here,{TIME}\n'
                          f'a2,He said "hi" to me,{TIME}\n'
                          f'a3,"closed ""here"" and\nover two lines",{TIME}\n'
                          f"a4,last,{TIME}\n")
    result = cli("import", path)
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        f'{path}:2: rejected: malformed CSV: a quote (") opened on this line is not closed where '
        "the row ends; read on from the next line"]
    assert _stored(tmp_path) == [("a2", 'He said "hi" to me'),
                                 ("a3", 'closed "here" and\nover two lines'), ("a4", "last")]


# D2: ids that lost digits


def test_ids_excel_shortened_are_rejected_not_merged(cli, tmp_path):
    path = _csv(tmp_path, f"5.70306E+17,first,{TIME}\n5.70306E+17,second,{TIME}\n"
                          f"570306133677760513,kept,{TIME}\n")
    result = cli("import", path)
    assert result.exit_code == 3
    reason = ("id: looks like a number Excel shortened (5.70306E+17): digits are lost; "
              "export the column as text")
    assert result.stderr.splitlines() == [f"{path}:2: rejected: {reason}", f"{path}:3: rejected: {reason}"]
    assert "1 inserted, 0 already present, 2 rejected" in result.stdout


def test_a_float_id_in_json_lines_that_lost_digits_is_rejected(cli, tmp_path):
    path = tmp_path / "ids.jsonl"
    path.write_text('{"id": 5.70306133677760513e17, "text": "lost", "created_at": "2026-03-05"}\n'
                    '{"id": 12.0, "text": "whole", "created_at": "2026-03-05"}\n'
                    '{"id": 570306133677760513, "text": "int", "created_at": "2026-03-05"}\n')
    result = cli("import", path)
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        f"{path}:1: rejected: id: looks like a number shortened to floating point "
        "(5.703061336777605e+17): digits are lost; write the id as text"]
    assert _stored(tmp_path, "select external_id from mentions order by id") == [
        ("12",), ("570306133677760513",)]


# D3: zone names


@pytest.mark.parametrize("written, stored", [
    ("Tue, 24 Feb 2015 11:35:52 CET", "2015-02-24T10:35:52Z"),
    ("Thu, 05 Mar 2026 09:02:00 BST", "2026-03-05T08:02:00Z"),
    ("2015-02-24 11:35:52 CEST", "2015-02-24T09:35:52Z"),
    ("Thu Mar 05 2026 14:02:00 GMT+0100 (CET)", "2026-03-05T13:02:00Z"),
    ("Thu Mar 05 2026 14:02:00 GMT+0100 (Mitteleuropäische Normalzeit)", "2026-03-05T13:02:00Z"),
    ("Tue, 24 Feb 2015 11:35:52 PST", "2015-02-24T19:35:52Z"),
    ("Tue Feb 24 11:35:52 PST 2015", "2015-02-24T19:35:52Z"),
    ("2026-03-05T14:02:00", "2026-03-05T14:02:00Z"),  # no zone: UTC
])
def test_zone_names_with_one_meaning_are_read_as_their_offset(written, stored):
    from storage.timeutil import parse_file_timestamp

    assert parse_file_timestamp(written) == stored


@pytest.mark.parametrize("written, stored", [
    ("01-Dec-2026", "2026-12-01T00:00:00Z"),  # Meltwater's exports
    ("01-Dec-2026 10:03", "2026-12-01T10:03:00Z"),
    ("1 December 2026 10:03:05", "2026-12-01T10:03:05Z"),
    ("20261201", "2026-12-01T00:00:00Z"),  # compact: not Unix seconds of 1970
    (20261201, "2026-12-01T00:00:00Z"),
    ("1700000000", "2023-11-14T22:13:20Z"),  # Unix seconds as before
])
def test_more_date_forms_of_other_tools_exports(written, stored):
    from storage.timeutil import parse_file_timestamp

    assert parse_file_timestamp(written) == stored


@pytest.mark.parametrize("written, reason", [
    ("Tue, 24 Feb 2015 11:35:52 XYZ", "unknown time zone 'XYZ': give a UTC offset such as +0100"),
    ("2026-03-05 14:02 IST", "time zone 'IST' is ambiguous (India, Ireland or Israel): give a UTC "
                             "offset such as +0100"),
    ("Tue, 24 Feb 2015 11:35:52 CST", "time zone 'CST' is ambiguous (US Central or China): give a "
                                      "UTC offset such as +0100"),
])
def test_an_unknown_or_ambiguous_zone_name_in_a_file_is_refused(written, reason):
    from storage.timeutil import parse_file_timestamp

    with pytest.raises(ValueError) as refused:
        parse_file_timestamp(written)
    assert str(refused.value) == reason


def test_collected_dates_keep_reading_rfc_zone_names_and_learn_the_european_ones():
    from storage.timeutil import parse_timestamp

    assert parse_timestamp("Tue, 24 Feb 2015 11:35:52 CST") == "2015-02-24T17:35:52Z"  # RFC 822
    assert parse_timestamp("Tue, 24 Feb 2015 11:35:52 GMT") == "2015-02-24T11:35:52Z"
    assert parse_timestamp("Tue, 24 Feb 2015 11:35:52 CET") == "2015-02-24T10:35:52Z"
    assert parse_timestamp("05/03/2026 14:02") == "2026-03-05T14:02:00Z"  # as it always was


def test_import_rejects_a_row_whose_zone_is_unknown(cli, tmp_path):
    path = _csv(tmp_path, 'z1,cet,"Tue, 24 Feb 2015 11:35:52 CET"\n'
                          'z2,unknown,"Tue, 24 Feb 2015 11:35:52 XYZ"\n')
    result = cli("import", path)
    assert result.stderr.splitlines() == [
        f"{path}:3: rejected: created_at: unknown time zone 'XYZ': give a UTC offset such as +0100"]
    assert _stored(tmp_path, "select created_at from mentions") == [("2015-02-24T10:35:52Z",)]


# D4: numeric dates


def test_ambiguous_slash_dates_need_date_order(cli, tmp_path):
    path = _csv(tmp_path, "d1,ambiguous,03/05/2026 14:02\n"
                          "d2,only month first,03/25/2026 14:02\n"
                          "d3,twelve hour,3/5/2026 2:02 PM\n"
                          "d4,two digit year,03/05/26\n"
                          "d5,dots are day first,05.03.2026 14:02\n")
    guessed = cli("import", path)
    assert guessed.exit_code == 3
    assert guessed.stderr.splitlines() == [
        f"{path}:2: rejected: created_at: '03/05/2026 14:02' may be day/month or month/day: give "
        "--date-order dmy or mdy",
        f"{path}:4: rejected: created_at: '3/5/2026 2:02 PM' may be day/month or month/day: give "
        "--date-order dmy or mdy",
        f"{path}:5: rejected: created_at: '03/05/26' may be day/month or month/day: give "
        "--date-order dmy or mdy"]
    told = cli("import", path, "--date-order", "mdy")
    assert told.exit_code == 0, told.output
    assert _stored(tmp_path, "select external_id, created_at from mentions order by external_id") == [
        ("d1", "2026-03-05T14:02:00Z"), ("d2", "2026-03-25T14:02:00Z"), ("d3", "2026-03-05T14:02:00Z"),
        ("d4", "2026-03-05T00:00:00Z"), ("d5", "2026-03-05T14:02:00Z")]


def test_day_first_order_reads_day_first_and_refuses_what_is_no_such_date():
    from storage.timeutil import parse_file_timestamp

    assert parse_file_timestamp("03/05/2026 14:02", "dmy") == "2026-05-03T14:02:00Z"
    assert parse_file_timestamp("25/03/2026") == "2026-03-25T00:00:00Z"  # one order only
    assert parse_file_timestamp("5/3/2026 12:30 am", "dmy") == "2026-03-05T00:30:00Z"
    with pytest.raises(ValueError, match="is not a date read as day/month/year"):
        parse_file_timestamp("03/25/2026", "dmy")
    with pytest.raises(ValueError, match="hour 14 with AM/PM"):
        parse_file_timestamp("3/5/2026 14:02 PM", "mdy")


# D5: follower counts


def test_reach_written_as_people_write_it_is_read_and_an_unreadable_one_left_out(cli, tmp_path):
    path = _csv(tmp_path, f"r1,a,{TIME},\"12,300\"\nr2,b,{TIME},1.2K\nr3,c,{TIME},1.5M\n"
                          f"r4,d,{TIME},1200.0\nr5,e,{TIME},lots\nr6,f,{TIME}, 42 \n",
                header="id,text,created_at,Followers\n")
    result = cli("import", path, "--reach-col", "Followers")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"{path}: warning: Followers: 1 value left out (not a number of followers); the post kept "
        "(first on line 6)"]
    assert _stored(tmp_path, "select external_id, author_reach from mentions order by id") == [
        ("r1", 12300), ("r2", 1200), ("r3", 1500000), ("r4", 1200), ("r5", None), ("r6", 42)]


def test_a_reach_out_of_range_names_the_files_column(cli, tmp_path):
    path = _csv(tmp_path, f"r1,a,{TIME},-5\n", header="id,text,created_at,Followers\n")
    result = cli("import", path, "--reach-col", "Followers")
    assert result.stderr.splitlines() == [
        f"{path}:2: rejected: Followers: -5 is out of range (0 to 9223372036854775807)"]


# D6: nested JSON


def test_json_lines_columns_may_be_dotted_paths_and_objects_in_optional_fields_are_left_out(cli, tmp_path):
    path = tmp_path / "nested.jsonl"
    rows = [{"id": "j1", "text": "nested", "created_at": TIME,
             "user": {"screen_name": "alice", "followers_count": 12300}},
            {"id": "j2", "text": "object author", "created_at": TIME, "user": {"screen_name": {"x": 1}},
             "lang": {"code": "en"}},
            {"id": "j3", "text": None, "title": "title only", "created_at": TIME}]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    result = cli("import", path, "--author-col", "user.screen_name", "--reach-col",
                 "user.followers_count", "--url-col", "links.0")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"{path}: warning: user.screen_name: 1 value left out (an object, not text); the post kept "
        "(first on line 2)",
        f"{path}: warning: lang: 1 value left out (an object, not text); the post kept (first on line 2)",
        f"{path}: warning: no line has links.0 (--url-col)"]
    assert _stored(tmp_path, "select external_id, author, author_reach, lang from mentions order by id") == [
        ("j1", "alice", 12300, None), ("j2", None, None, None), ("j3", None, None, None)]


# D7/D9: encodings and kinds of file


@pytest.mark.parametrize("separator, name", [("\t", "unicode.txt"), (",", "unicode.csv")])
def test_a_utf16_file_is_read_by_its_byte_order_mark(cli, tmp_path, separator, name):
    path = tmp_path / name
    text = separator.join(["id", "text", "created_at"]) + "\r\n" + separator.join(
        ["u1", "Café 😀 中文", TIME]) + "\r\n"
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    result = cli("import", path, "--encoding", "cp1252")
    assert result.exit_code == 0, result.output
    assert _stored(tmp_path) == [("u1", "Café 😀 中文")]


def test_a_utf32_file_is_read_by_its_byte_order_mark(cli, tmp_path):
    """Reread: UTF-32's little-endian mark starts with UTF-16's, and the file was read as UTF-16
    (every column name came out as \x00t\x00e\x00x\x00t)."""
    path = tmp_path / "u32.csv"
    path.write_bytes(f"id,text,created_at\nu1,Café 😀 中文,{TIME}\n".encode("utf-32"))  # with its mark
    result = cli("import", path)
    assert result.exit_code == 0, result.output
    assert _stored(tmp_path) == [("u1", "Café 😀 中文")]


def test_a_utf16_file_cut_short_says_what_was_stored_before(cli, tmp_path):
    path = tmp_path / "cut.tsv"
    text = f"id\ttext\tcreated_at\r\nu1\tfirst\t{TIME}\r\nu2\tsecond\t{TIME}\r\n"
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le")[:-1])
    result = cli("import", path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: {path}:3: cannot be read as utf-16 text (truncated data): the 1 new mention before "
        "it was stored, nothing after it; check --encoding or the end of the file"]


def test_a_utf8_file_given_a_single_byte_encoding_is_told_so(cli, tmp_path):
    marked = tmp_path / "marked.csv"
    marked.write_bytes(codecs.BOM_UTF8 + f"{HEADER}b1,Café,{TIME}\n".encode())
    result = cli("import", marked, "--encoding", "cp1252")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"{marked}: warning: the file starts with a UTF-8 byte-order mark: read as UTF-8, not cp1252"]
    plain = tmp_path / "plain.csv"
    plain.write_bytes(f"{HEADER}b2,Crème brûlée,{TIME}\n".encode())
    result = cli("import", plain, "--encoding", "latin-1")
    assert result.stderr.splitlines() == [
        f"{plain}: warning: the file looks like UTF-8 text but is read as iso8859-1 (--encoding): "
        "leave --encoding out if letters come out wrong (è as Ã¨)"]
    assert _stored(tmp_path)[0] == ("b1", "Café")


@pytest.mark.parametrize("name, start, says", [
    ("export.csv", b"PK\x03\x04\x14\x00", "this is an Excel workbook or ZIP archive, not CSV: save it "
                                          "as CSV UTF-8 (Excel: File > Save As > CSV UTF-8)"),
    ("report.csv", b"%PDF-1.4\n", "this is a PDF document, not CSV, TSV or JSON Lines"),
])
def test_a_workbook_archive_or_pdf_is_one_error_line(cli, tmp_path, name, start, says):
    path = tmp_path / name
    path.write_bytes(start + b"\x00\x01binary")
    result = cli("import", path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"Error: {path}: {says}"]


# D8: separators


def test_a_semicolon_separated_file_is_read_by_its_header(cli, tmp_path):
    path = tmp_path / "euro.csv"
    path.write_bytes("id;text;created_at;author\r\ns1;Café, crème;05/03/2026 14:02;müller\r\n"
                     .encode("cp1252"))
    result = cli("import", path, "--encoding", "cp1252", "--date-order", "dmy")
    assert result.exit_code == 0, result.output
    assert _stored(tmp_path, "select text, created_at, author from mentions") == [
        ("Café, crème", "2026-03-05T14:02:00Z", "müller")]


def test_delimiter_forces_a_separator(cli, tmp_path):
    path = _csv(tmp_path, f"p1|a|b|{TIME}\n", header="id|text|note|created_at\n")
    forced = cli("import", path, "--delimiter", ",")
    assert forced.exit_code == 2 and "missing columns id" in forced.stderr
    assert cli("import", path, "--delimiter", "|").exit_code == 0
    wrong = cli("import", path, "--delimiter", "::")
    assert wrong.exit_code == 2
    assert wrong.stderr.strip() == "Error: --delimiter: '::' is not one of ',', ';', 'tab', '|'"


# D10: HTML entities


def test_html_entities_are_unescaped_unless_kept_and_tags_stay(cli, tmp_path):
    path = _csv(tmp_path, f"h1,AT&amp;T &lt;3,{TIME}\nh2,I&#39;m <b>done</b>,{TIME}\n")
    assert cli("import", path).exit_code == 0
    assert _stored(tmp_path) == [("h1", "AT&T <3"), ("h2", "I'm <b>done</b>")]
    assert "AT&T" in cli("search", "AT", "--json").stdout
    kept = cli("import", path, "--source", "raw", "--keep-entities")
    assert kept.exit_code == 0
    assert _stored(tmp_path, "select text from mentions where source = 'raw' order by id") == [
        ("AT&amp;T &lt;3",), ("I&#39;m <b>done</b>",)]


# D11: rows of empty cells


def test_rows_of_empty_cells_are_skipped_like_blank_lines(cli, tmp_path):
    path = _csv(tmp_path, f"t1,ok,{TIME},,\r\n,,,,\r\n,,\r\n  , ,,,\r\n", header="id,text,created_at,,\r\n")
    result = cli("import", path)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{path}: 1 inserted, 0 already present, 0 rejected"


# D12: wording


def test_cut_texts_are_counted_only_when_stored(cli, tmp_path):
    path = _csv(tmp_path, "1," + "a" * 100_050 + f",{TIME}\n2,short,{TIME}\n")
    first = cli("import", path)
    assert "2 inserted, 0 already present, 0 rejected, 1 text cut to 100,000 characters" in first.stdout
    again = cli("import", path)
    assert again.stdout.strip() == f"{path}: 0 inserted, 2 already present, 0 rejected"


def test_an_excel_date_number_gets_a_hint(cli, tmp_path):
    path = _csv(tmp_path, "x1,serial,46086.584722\n")
    result = cli("import", path)
    assert result.stderr.splitlines() == [
        f"{path}:2: rejected: created_at: 46086.584722 looks like an Excel date number: format the "
        "column as a date (or give Unix seconds)"]


# a re-test of the fixes above


def test_a_quoted_text_over_many_lines_is_one_post_even_when_its_lines_look_like_rows(cli, tmp_path):
    """A pasted table inside a post (1,500 lines, each shaped like a row) is text, not 1,500 posts."""
    pasted = "\n".join(f"{n},injected row {n},{TIME}" for n in range(1500))
    path = _csv(tmp_path, f'long,"{pasted}",{TIME}\nafter,next post,{TIME}\n')
    result = cli("import", path)
    assert result.exit_code == 0, result.output
    assert [external_id for external_id, _ in _stored(tmp_path)] == ["long", "after"]


@pytest.mark.parametrize("written, stored", [
    ("Mar 5, 2026 2:02 PM", "2026-03-05T14:02:00Z"),
    ("Tue, 24 Feb 2015 11:35:52 PM", "2015-02-24T23:35:52Z"),
    ("Thu, 05 Mar 2026 2:02:00 PM -0500", "2026-03-05T19:02:00Z"),
    ("05 Mar 2026 14:02 cet", "2026-03-05T13:02:00Z"),
])
def test_am_pm_and_zone_names_in_any_case_are_read_not_dropped(written, stored):
    from storage.timeutil import parse_file_timestamp

    assert parse_file_timestamp(written) == stored


@pytest.mark.parametrize("written, reason", [
    ("05 Mar 2026 14:02 ist", "ambiguous"),
    ("05 Mar 2026 14:02 Europe/Berlin", "unknown time zone or word 'Europe/Berlin'"),
])
def test_a_word_a_date_cannot_read_is_refused_not_taken_as_utc(written, reason):
    from storage.timeutil import parse_file_timestamp

    with pytest.raises(ValueError, match=reason):
        parse_file_timestamp(written)


def test_only_entities_ended_by_a_semicolon_are_read(cli, tmp_path):
    address = "https://shop.example/item?id=1&region=us&currency=eur&copy=2&not=3"
    path = _csv(tmp_path, f'e1,"{address} AT&amp;T tea&not coffee",{TIME}\n')
    assert cli("import", path).exit_code == 0
    assert _stored(tmp_path) == [("e1", f"{address} AT&T tea&not coffee")]


@pytest.mark.parametrize("shortened", ["5.70306e+17", "5.7E17", "5E+17"])
def test_every_form_of_a_shortened_id_is_refused(cli, tmp_path, shortened):
    path = _csv(tmp_path, f"{shortened},text,{TIME}\n1e3,a real id,{TIME}\n")
    result = cli("import", path)
    assert "looks like a number Excel shortened" in result.stderr
    assert _stored(tmp_path) == [("1e3", "a real id")]


def test_a_reach_with_a_dot_between_thousands_is_a_whole_count(cli, tmp_path):
    path = _csv(tmp_path, f"r1,text,{TIME},12.300\n", header="id,text,created_at,author_reach\n")
    assert cli("import", path).exit_code == 0
    assert _stored(tmp_path, "select author_reach from mentions") == [(12300,)]


# a code review of the fixes above


@pytest.mark.parametrize("written, stored", [
    ("05 Mar 2026 14:02 GMT+1", "2026-03-05T13:02:00Z"),           # was read as one minute
    ("05 Mar 2026 14:02 UTC-5", "2026-03-05T19:02:00Z"),
    ("Thu, 05 Mar 2026 14:02:00 +05:30", "2026-03-05T08:32:00Z"),  # was dropped: taken as UTC
    ("05 Mar 2026 14:02 GMT+01:00", "2026-03-05T13:02:00Z"),
    ("05 JUNE 2026 14:02 CET", "2026-06-05T13:02:00Z"),            # a month in capitals hid the zone
    ("THU, 05 MAR 2026 14:02:00 CET", "2026-03-05T13:02:00Z"),
])
def test_offsets_as_people_write_them_are_read_by_files_and_collectors(written, stored):
    from storage.timeutil import parse_file_timestamp, parse_timestamp

    assert parse_file_timestamp(written) == stored
    assert parse_timestamp(written) == stored


def test_a_date_without_a_time_is_not_given_its_offset_as_a_time():
    from storage.timeutil import parse_file_timestamp

    with pytest.raises(ValueError, match="unrecognised timestamp"):
        parse_file_timestamp("March 5, 2026 UTC+01:00")  # was stored as 01:00


def test_an_entity_html_does_not_know_whole_stays_as_written(cli, tmp_path):
    path = _csv(tmp_path, f'e1,"see &region; &notit; &pounds; but &eacute; and &#233;",{TIME}\n')
    assert cli("import", path).exit_code == 0
    assert _stored(tmp_path) == [("e1", "see &region; &notit; &pounds; but é and é")]


def test_a_reach_of_a_superscript_digit_is_left_out_not_the_post(cli, tmp_path):
    path = _csv(tmp_path, f"r1,text,{TIME},\u00b2\n", header="id,text,created_at,author_reach\n")
    result = cli("import", path)
    assert result.exit_code == 0, result.output
    assert _stored(tmp_path, "select external_id, author_reach from mentions") == [("r1", None)]
