"""Walkthrough 11: a watchlist named by $MENTIONWATCH_CONFIG that does not exist is a mistake for
every command (not an empty watchlist beside ./mentionwatch.db), and `export` refuses a --format
that disagrees with the --out file's extension."""
from __future__ import annotations

import pytest

from storage import open_db

READING_COMMANDS = [["stats"], ["alerts", "list"], ["alerts", "show", "1"], ["backup", "copy.db"],
                    ["search", "acme"], ["status"], ["export", "--out", "all.csv"]]


@pytest.mark.parametrize("command", READING_COMMANDS, ids=" ".join)
def test_a_watchlist_named_by_the_variable_that_does_not_exist_is_refused(cli, tmp_path, monkeypatch,
                                                                           command):
    monkeypatch.delenv("MENTIONWATCH_DB", raising=False)
    open_db(tmp_path / "mentionwatch.db").close()  # a database here must not be used instead
    typo = tmp_path / "elsewhere" / "mentionwatch.yml"
    monkeypatch.setenv("MENTIONWATCH_CONFIG", str(typo))
    result = cli(*command)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {typo}: no such file (create one with 'mentionwatch init')\n"
    assert result.stdout == ""
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "all.csv").exists()


def test_without_the_variable_or_a_watchlist_here_the_database_here_is_used(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("MENTIONWATCH_DB", raising=False)
    monkeypatch.delenv("MENTIONWATCH_CONFIG", raising=False)
    open_db(tmp_path / "mentionwatch.db").close()
    for command in (["stats"], ["alerts", "list"]):
        result = cli(*command)
        assert result.exit_code == 0, result.output


def test_init_creates_the_watchlist_the_variable_names(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("MENTIONWATCH_DB", raising=False)
    watchlist = tmp_path / "new" / "watch.yaml"
    monkeypatch.setenv("MENTIONWATCH_CONFIG", str(watchlist))
    result = cli("init")
    assert result.exit_code == 0, result.output
    assert watchlist.is_file() and (tmp_path / "new" / "mentionwatch.db").is_file()
    assert cli("stats").exit_code == 0


@pytest.mark.parametrize("fmt, name, named", [("csv", "w.xlsx", "xlsx"), ("xlsx", "w.csv", "csv"),
                                              ("jsonl", "w.XLSX", "xlsx"), ("csv", "w.jsonl", "jsonl"),
                                              ("xlsx", "w.json", "jsonl")])
def test_export_format_disagreeing_with_the_file_extension_is_refused(cli, tmp_path, fmt, name, named):
    open_db(tmp_path / "m.db").close()
    result = cli("--db", tmp_path / "m.db", "export", "--format", fmt, "--out", name)
    assert result.exit_code == 2, result.output
    suffix = name.rsplit(".", 1)[1].lower()
    assert result.stderr == (f"Error: Invalid value for --out: '{name}' ends in .{suffix} but --format is "
                             f"{fmt}: name the file w.{fmt}, or give --format {named}\n")
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("fmt, name", [("csv", "w.csv"), ("XLSX", "w.xlsx"), ("jsonl", "w.json"),
                                       ("xlsx", "w.txt"), ("csv", "w.tsv")])
def test_export_format_agreeing_with_or_free_of_the_extension_is_written(cli, tmp_path, fmt, name):
    open_db(tmp_path / "m.db").close()
    result = cli("--db", tmp_path / "m.db", "export", "--format", fmt, "--out", name)
    assert result.exit_code == 0, result.output
    assert (tmp_path / name).is_file()
