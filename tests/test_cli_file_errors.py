"""Files and folders the command line cannot use: one line naming the path and why, never a
traceback. A database or watchlist under a regular file or a missing mount, an unwritable
`model build --output`, a missing or unfetched model file, a NAB labels file that is not JSON, a
`.json` file given to `import`, and the backstop for any other file-system error."""
from __future__ import annotations

import logging
import os
import sys

import pytest

from storage import open_db


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "afile"
    path.write_text("not a folder\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("under", [("sub", "x.db"), ("x.db",)])
def test_a_database_under_a_regular_file_is_one_line(cli, a_file, under):
    """Walkthrough 14b: right under the file (afile/x.db) SQLite's 'unable to open database file'
    was all `run` said, and `status` answered 'no such database'."""
    database = a_file.joinpath(*under)
    for command in (["init"], ["status"], ["stats"], ["restore", a_file]):
        result = cli("--db", database, *command)
        assert result.exit_code == 2, (command, result.output)
        assert _one_error_line(result) == f"Error: {database}: {a_file} is a file, not a folder (check --db)"


def test_restore_onto_a_folder_is_refused(cli, tmp_path):
    """Fourth review: `restore` set the folder aside as "the replaced database" and put the backup
    in its place."""
    open_db(tmp_path / "ok.db").close()
    (tmp_path / "somedir").mkdir()
    result = cli("--db", tmp_path / "somedir", "restore", tmp_path / "ok.db", "--yes")
    assert result.exit_code == 2
    assert _one_error_line(result) == f"Error: {tmp_path / 'somedir'}: is a folder, not a database file (check --db)"
    assert (tmp_path / "somedir").is_dir() and not list(tmp_path.glob("somedir.before-restore*"))


def test_a_path_through_a_file_is_named_with_what_gave_it(cli, a_file, tmp_path, monkeypatch):
    """Third review: MENTIONWATCH_DB's path was said to come from --db or the watchlist; and a
    backup under a file was told to 'mkdir -p' it."""
    monkeypatch.setenv("MENTIONWATCH_DB", str(a_file / "x.db"))
    assert _one_error_line(cli("stats")) == (
        f"Error: {a_file / 'x.db'}: {a_file} is a file, not a folder (check MENTIONWATCH_DB)")
    monkeypatch.delenv("MENTIONWATCH_DB")
    (tmp_path / "w.yaml").write_text(f"database: {a_file / 'x.db'}\nwatches: []\n", encoding="utf-8")
    assert _one_error_line(cli("--config", tmp_path / "w.yaml", "stats")) == (
        f"Error: {a_file / 'x.db'}: {a_file} is a file, not a folder (check database: in {tmp_path / 'w.yaml'})")
    open_db(tmp_path / "ok.db").close()
    refused = cli("--db", tmp_path / "ok.db", "backup", a_file / "b.db")
    assert refused.exit_code == 2
    assert _one_error_line(refused) == f"Error: {a_file / 'b.db'}: {a_file} is a file, not a folder"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_a_database_under_a_folder_that_cannot_be_made_is_one_line(cli):
    result = cli("--db", "/proc/nope/x.db", "init")
    assert result.exit_code == 1
    assert _one_error_line(result) == ("Error: cannot create the database /proc/nope/x.db: "
                                       "/proc/nope: No such file or directory")


def test_a_watchlist_under_a_regular_file_is_one_line(cli, a_file, tmp_path):
    result = cli("--config", a_file / "w.yaml", "--db", tmp_path / "w.db", "init")
    assert result.exit_code == 1
    assert _one_error_line(result) == (f"Error: cannot write the watchlist {a_file / 'w.yaml'}: "
                                       f"{a_file}: is a file, not a folder")
    assert not (tmp_path / "w.db").exists()  # stopped before anything else was made


@pytest.fixture
def root_logging_kept():
    """`run` sets up the service's log handler on the root logger: put the test's back after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


@pytest.mark.usefixtures("root_logging_kept")
def test_the_service_under_a_regular_file_says_cannot_start(cli, a_file, tmp_path):
    config = tmp_path / "watch.yaml"
    config.write_text(f"database: {a_file / 'sub' / 'x.db'}\nwatches: []\n", encoding="utf-8")
    result = cli("--config", config, "run")
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert "cannot start: cannot create the database" in line
    assert "a part of this path is a file, not a folder" in line


@pytest.mark.usefixtures("root_logging_kept")
def test_a_file_system_error_elsewhere_is_not_called_the_database(cli, tmp_path, monkeypatch):
    """Every OSError while the service started was told as 'cannot create the database'."""
    import scheduler

    def no_more_files(_service):
        raise OSError(24, "Too many open files", str(tmp_path / "models" / "mine" / "config.json"))

    monkeypatch.setattr(scheduler.Service, "_install_signal_handlers", no_more_files)
    config = tmp_path / "watch.yaml"
    config.write_text(f"database: {tmp_path / 'x.db'}\nwatches: []\n", encoding="utf-8")
    result = cli("--config", config, "run")
    assert result.exit_code == 1
    assert _one_error_line(result).endswith(
        f"cannot start: {tmp_path / 'models' / 'mine' / 'config.json'}: Too many open files")


def test_a_start_problem_with_a_bytes_or_number_file_name_is_told(tmp_path):
    """Review: Path(b'…') and Path(987) raised TypeError: a traceback instead of the one line."""
    from mentionwatch.commands.service import _start_problem

    database = tmp_path / "x.db"
    assert _start_problem(OSError(13, "Permission denied", os.fsencode(database)), database) == (
        f"cannot create the database {database}: {os.fsencode(database)}: Permission denied")
    assert _start_problem(OSError(9, "Bad file descriptor", 987), database) == "987: Bad file descriptor"


def test_any_other_file_system_error_is_one_line(cli, tmp_path):
    """The backstop in MainGroup: here a labels 'file' that is a folder."""
    (tmp_path / "data").mkdir()
    (tmp_path / "labels").mkdir()
    result = cli("bench", "nab", tmp_path / "data", "--labels", tmp_path / "labels")
    assert result.exit_code == 1
    assert _one_error_line(result) == f"Error: {tmp_path / 'labels'}: Is a directory"


def test_a_labels_file_that_is_not_json_is_named(cli, tmp_path):
    (tmp_path / "data").mkdir()
    labels = tmp_path / "labels.json"
    labels.write_text("timestamp,value\n", encoding="utf-8")
    for command in ("nab", "nab-grid"):
        result = cli("bench", command, tmp_path / "data", "--labels", labels)
        assert result.exit_code == 2
        assert _one_error_line(result) == (f"Error: {labels}: not a NAB labels file: not JSON "
                                           "(Expecting value)")
    labels.write_text("[1, 2]", encoding="utf-8")
    result = cli("bench", "nab", tmp_path / "data", "--labels", labels)
    assert result.exit_code == 2 and _one_error_line(result).startswith(
        f"Error: {labels}: not a NAB labels file: expected a JSON object")


def test_model_build_to_a_folder_that_cannot_be_written_stops_before_training(cli, a_file):
    result = cli("model", "build", "--output", a_file / "model.safetensors")
    assert result.exit_code == 1
    assert _one_error_line(result) == (f"Error: cannot write the model to {a_file / 'model.safetensors'}: "
                                       f"{a_file}: is a file, not a folder")
    assert result.stdout == ""  # no training step started


def test_a_trial_build_never_replaces_the_built_in_model(cli):
    """`--limit` is a quick trial: it wrote a 0.48-accurate model over the one every score uses."""
    from sentiment.builtin import ARTIFACT

    before = ARTIFACT.stat().st_mtime_ns
    result = cli("model", "build", "--limit", "100", "--epochs", "1")
    assert result.exit_code == 2
    assert _one_error_line(result) == ("Error: --limit trains a trial model: give it --output FILE (the built-in "
                                       "model is only rebuilt in full)")
    assert result.stdout == "" and ARTIFACT.stat().st_mtime_ns == before


def test_model_info_without_the_weights_file_says_how_to_make_it(cli, tmp_path, monkeypatch):
    """As in a checkout where the model file is missing, or is the Git LFS pointer to it."""
    missing = tmp_path / "model.safetensors"
    monkeypatch.setattr("sentiment.builtin.ARTIFACT", missing)
    result = cli("model", "info")
    assert result.exit_code == 1
    assert _one_error_line(result) == (f"Error: {missing}: the built-in model's weights file is "
                                       "missing; make it with 'mentionwatch model build'")
    missing.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 11181446\n",
                       encoding="utf-8")
    pointer = cli("model", "info")
    assert pointer.exit_code == 1
    line = _one_error_line(pointer)
    assert line.startswith(f"Error: {missing}: not a weights file (") and "mentionwatch model build" in line


def test_import_refuses_a_json_file_with_a_hint(cli, tmp_path):
    posts = tmp_path / "posts.json"
    posts.write_text('[{"id": "1", "text": "acme", "created_at": "2024-01-01"}]', encoding="utf-8")
    result = cli("--db", tmp_path / "m.db", "import", posts)
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert line.startswith(f"Error: {posts}: import reads JSON Lines (one JSON object per line)")
    assert "name it posts.jsonl" in line and "jq -c '.[]'" in line
    assert not (tmp_path / "m.db").exists()
