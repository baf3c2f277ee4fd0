"""`mentionwatch import` after the seventh first-time-user walkthrough: files that are not what
they seem (UTF-16 without a byte-order mark, gzip), column suggestions that mislead, JSON values of
the wrong type, and choices made silently inside one file (an id twice, a column twice)."""
from __future__ import annotations

import gzip
import json
import sqlite3

import pytest

HEADER = "id,text,created_at\n"
TIME = "2026-03-05T14:02:00Z"


@pytest.fixture(autouse=True)
def _database_named(tmp_path, monkeypatch):
    """The database named, as in a watchlist's folder (no note about a new database)."""
    monkeypatch.setenv("MENTIONWATCH_DB", str(tmp_path / "mentionwatch.db"))


def _stored(tmp_path, sql="select external_id, text from mentions order by id"):
    return sqlite3.connect(tmp_path / "mentionwatch.db").execute(sql).fetchall()


# 3: encodings and kinds of file


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_gets_the_encoding_to_give(cli, tmp_path, encoding):
    path = tmp_path / "utf16_nobom.csv"
    path.write_bytes(f"{HEADER}u1,Café,{TIME}\n".encode(encoding))
    result = cli("import", path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: {path}: looks like UTF-16 text without a byte-order mark (a NUL byte beside each "
        f"letter): try --encoding {encoding}"]
    assert "\x00" not in result.output
    followed = cli("import", path, "--encoding", encoding)
    assert followed.exit_code == 0, followed.output
    assert _stored(tmp_path) == [("u1", "Café")]


def test_control_characters_in_column_names_are_escaped_not_printed(cli, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text(f"id,te\x1b[31mxt,created\x00_at\u202e\nu1,hi,{TIME}\n", encoding="utf-8")
    result = cli("import", path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: {path}:1: missing columns text (did you mean --text-col 'te\\x1b[31mxt'?), created_at "
        "(did you mean --time-col 'created\\x00_at\\u202e'?) (columns are: id, te\\x1b[31mxt, "
        "created\\x00_at\\u202e)"]


def test_utf32_header_is_escaped_too(cli, tmp_path):
    path = tmp_path / "utf32.csv"
    path.write_bytes(f"{HEADER}u1,hi,{TIME}\n".encode("utf-32-le"))
    result = cli("import", path)
    assert result.exit_code == 2
    assert "\x00" not in result.output and "i\\x00\\x00\\x00d" in result.stderr


@pytest.mark.parametrize("name, pack, says", [
    ("posts.csv.gz", gzip.compress, "gzip-compressed file, not CSV, TSV or JSON Lines: unpack it "
                                    "first (gunzip {path})"),
])
def test_a_compressed_file_is_one_error_line(cli, tmp_path, name, pack, says):
    path = tmp_path / name
    path.write_bytes(pack(f"{HEADER}g1,hi,{TIME}\n".encode()))
    result = cli("import", path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"Error: {path}: this is a {says.format(path=path)}"]


# 4: column suggestions


def test_a_forced_separator_that_leaves_one_column_names_the_one_it_holds(cli, tmp_path):
    path = tmp_path / "comma.csv"
    path.write_text(f"tweet_id,text,tweet_created,name,airline\n1,hi,{TIME},ann,united\n")
    result = cli("import", path, "--delimiter", ";", "--id-col", "tweet_id")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: {path}:1: missing columns tweet_id, text, created_at: the header is one column, "
        "'tweet_id,text,tweet_created,name,airline', which contains ',': is the file separated by "
        "','? (--delimiter ',')"]
    tabs = tmp_path / "tabs.csv"
    tabs.write_text(f"id\ttext\tcreated_at\nt1\thi\t{TIME}\n")
    result = cli("import", tabs, "--delimiter", "|")
    assert result.stderr.splitlines() == [
        f"Error: {tabs}:1: missing columns id, text, created_at: the header is one column, "
        "'id text created_at', which contains tab: is the file separated by tab? (--delimiter tab)"]


def test_a_column_taken_by_another_option_is_not_suggested(cli, tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("tweet_id,name,airline\n1,ann,united\n")
    result = cli("import", path, "--id-col", "tweet_id", "--time-col", "tweet_created")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: {path}:1: missing columns text, tweet_created (columns are: tweet_id, name, airline)"]


# 7: JSON values of the wrong type


def test_json_values_of_the_wrong_type_are_named_not_called_missing(cli, tmp_path):
    path = tmp_path / "types.jsonl"
    rows = [{"id": True, "text": "a", "created_at": TIME}, {"id": {"a": 1}, "text": "a", "created_at": TIME},
            {"id": "", "text": "a", "created_at": TIME}, {"id": "j4", "text": "a", "created_at": True},
            {"id": [1], "text": "a", "created_at": TIME}, {"id": "j6", "text": "kept", "created_at": TIME}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = cli("import", path)
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        f"{path}:1: rejected: id: expected text or a number, got true",
        f"{path}:2: rejected: id: expected text or a number, got an object",
        f"{path}:3: rejected: id: empty",
        f"{path}:4: rejected: created_at: expected a time, got true",
        f"{path}:5: rejected: id: expected text or a number, got a list"]
    assert _stored(tmp_path) == [("j6", "kept")]


# 8: choices made silently inside one file


def test_the_same_id_twice_in_one_file_with_another_text_is_warned_about(cli, tmp_path):
    path = tmp_path / "dupid.csv"
    path.write_text(f"{HEADER}d1,first,{TIME}\nd1,changed,{TIME}\nd2,same,{TIME}\nd2,same,{TIME}\n")
    result = cli("import", path, "--source", "dupsrc")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"{path}: warning: 1 row not stored: an earlier row of this file has the same id with "
        "another text (ids must be unique in a file) (first on line 3)"]
    assert "2 inserted, 2 already present, 0 rejected" in result.stdout
    assert _stored(tmp_path) == [("d1", "first"), ("d2", "same")]


def test_a_column_the_import_reads_named_twice_is_refused(cli, tmp_path):
    path = tmp_path / "duphead.csv"
    path.write_text(f"id,text,text,created_at\nh1,one,two,{TIME}\n")
    result = cli("import", path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: {path}:1: the header has the column text twice: rename or remove one, so that it is "
        "clear which to import"]
    assert not (tmp_path / "mentionwatch.db").exists() or _stored(tmp_path) == []


def test_a_column_the_import_does_not_read_may_be_named_twice(cli, tmp_path):
    path = tmp_path / "unused.csv"
    path.write_text(f"id,text,note,note,created_at\nh1,one,a,b,{TIME}\n")
    result = cli("import", path)
    assert result.exit_code == 0, result.output
    assert _stored(tmp_path) == [("h1", "one")]
