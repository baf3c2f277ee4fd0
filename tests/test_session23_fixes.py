"""Fixes of the twenty-third session: items left alone before (an interrupted import's count, …)."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest


def _stored_mentions(path) -> int:
    try:
        with sqlite3.connect(path, timeout=0.2) as connection:
            return connection.execute("SELECT count(*) FROM mentions").fetchone()[0]
    except sqlite3.OperationalError:  # not made yet, or locked for a moment
        return 0


def test_ctrl_c_during_an_import_says_how_many_mentions_were_stored(tmp_path):
    """Ctrl-C left only 'Interrupted.': the user could not tell whether anything was stored, nor
    that the same import run again adds the rest."""
    rows = ["id,text,created_at"] + [f"{n},post number {n} about acme,2026-11-{1 + n % 28:02d}T10:00:00Z"
                                      for n in range(300_000)]
    (tmp_path / "big.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    database = tmp_path / "m.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "mentionwatch", "--db", str(database), "import", str(tmp_path / "big.csv"),
         "--watch", "acme", "--batch-size", "500"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a test run started in the background ignores SIGINT (the shell's doing): Ctrl-C as typed
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while _stored_mentions(database) < 1000:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the import stored nothing in 2 minutes"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stored = _stored_mentions(database)
    if stored == 300_000:
        pytest.fail("the import ended before Ctrl-C reached it: make the file bigger")
    assert process.returncode == 130, err
    assert "Traceback" not in err and "Aborted" not in err
    assert err.strip().splitlines()[-1] == (
        f"Interrupted: {stored:,} new mentions were stored before it; the same import run again adds the "
        "rest (rows already stored are counted, not stored twice)")


# ------------------------------------------------------------------ sentiment eval: the separator

def _labeled_texts(path, **kwargs):
    from sentiment.evaluate import read_labeled

    labeled = read_labeled(path, "text", "label", **kwargs)
    return list(zip(labeled.texts, labeled.labels))


def test_sentiment_eval_reads_a_semicolon_file_and_excels_sep_line(tmp_path):
    """A file Excel saved with ';' (most of Europe) was refused: 'no column text (columns: text;label)'."""
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text('text;label\n"fine; ok";neutral\nbad, awful;negative\n', encoding="utf-8")
    assert _labeled_texts(semicolons) == [("fine; ok", 1), ("bad, awful", 0)]
    excel = tmp_path / "excel.csv"
    excel.write_text('sep=;\r\ntext;label\r\nok;neutral\r\nx;"bad\r\n', encoding="utf-8")
    from sentiment.evaluate import LabeledFileError

    with pytest.raises(LabeledFileError, match=r"excel\.csv:4: a quote"):  # lines counted from the sep= line
        _labeled_texts(excel)
    excel.write_text('sep=;\r\ntext;label\r\nok;neutral\r\n', encoding="utf-8")
    assert _labeled_texts(excel) == [("ok", 1)]


def test_sentiment_eval_delimiter_wins_and_a_wrong_one_is_one_line(tmp_path, cli):
    from sentiment.evaluate import LabeledFileError

    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("text;label\nfine;neutral\n", encoding="utf-8")
    with pytest.raises(LabeledFileError, match=r"semi\.csv:1: no column 'text' \(columns: text;label\)"):
        _labeled_texts(semicolons, delimiter="|")  # the separator given is the one used
    tabbed = tmp_path / "tabs.txt"
    tabbed.write_text("text\tlabel\nhello, you\tpositive\n", encoding="utf-8")
    assert _labeled_texts(tabbed) == [("hello, you", 2)]  # found by its header, whatever the suffix
    assert _labeled_texts(tabbed, delimiter="\t") == [("hello, you", 2)]
    result = cli("sentiment", "eval", tabbed, "--text-col", "text", "--label-col", "label", "--delimiter", "x")
    assert result.exit_code == 2
    assert result.output.strip() == "Error: --delimiter: 'x' is not one of ',', ';', 'tab', '|'"
