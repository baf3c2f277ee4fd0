"""Shared fixtures: the real public data in ../shared/data, temporary databases, the CLI runner,
and the one rule for tests that cannot run everywhere: `skip_unless_ci` (skipped on a developer's
machine that lacks something, a failure in CI, where every test must run)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest
from click.testing import CliRunner

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("MENTIONWATCH_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_unless_ci(message: str) -> NoReturn:
    """Skip the calling test for a missing tool, file or permission; in CI (CI=true) fail it
    instead, so that nothing there passes by being skipped silently."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _require(path: Path) -> Path:
    if not path.exists():
        skip_unless_ci(f"real data not found at {path} (../shared/data beside the repository)")
    return path


@pytest.fixture
def shared_data() -> Path:
    """The ../shared/data folder: skipped outside CI when missing, a failure in CI."""
    return _require(SHARED_DATA)


@pytest.fixture
def shared_file():
    """shared_file('airline/Tweets.csv') -> the path, with the same skip/fail rule."""
    return lambda relative: _require(SHARED_DATA / relative)


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    """ONNX exports go to a folder of this test session, not the user's cache."""
    folder = tmp_path_factory.getbasetemp() / "mentionwatch-cache"
    previous = os.environ.get("MENTIONWATCH_CACHE")
    os.environ["MENTIONWATCH_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("MENTIONWATCH_CACHE", None)
    else:
        os.environ["MENTIONWATCH_CACHE"] = previous


@pytest.fixture
def db(tmp_path):
    from storage import open_db

    database = open_db(tmp_path / "test.db")
    yield database
    database.close()


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Invoke the mentionwatch CLI inside a temporary folder; returns (runner result)."""
    from mentionwatch.cli import main

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args, **kwargs):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)

    return invoke


@pytest.fixture(autouse=True)
def _secrets_stay_with_their_test():
    """Values a test's watchlist read with ${VAR} are remembered process-wide for redaction
    (mentionwatch.logging_setup.remember_secrets): forgotten after the test, so one test's
    `http://127.0.0.1:1` does not hide part of another test's URLs."""
    from mentionwatch import logging_setup

    before = set(logging_setup._remembered)
    token_paths_before = set(logging_setup._remembered_token_paths)
    paths_before = dict(logging_setup._remembered_paths)
    yield
    logging_setup._remembered.intersection_update(before)
    logging_setup._remembered_token_paths.intersection_update(token_paths_before)
    logging_setup._remembered_paths.clear()
    logging_setup._remembered_paths.update(paths_before)


@pytest.fixture(autouse=True)
def _site_pauses_stay_with_their_test():
    """A long pause a site asked for holds every request to it from this process
    (crawler.pollers.base._SITE_HOLDS): forgotten after the test, as the recorded sites are shared."""
    from crawler.pollers import base

    yield
    with base._SITE_HOLDS_LOCK:
        base._SITE_HOLDS.clear()


@pytest.fixture
def model_id():
    """The id of the built-in sentiment model: what detection reads scores of by default."""
    from mentionwatch.config import SentimentConfig
    from sentiment import model_id_for

    return model_id_for(SentimentConfig(model="builtin"))


def pytest_sessionfinish(session, exitstatus):
    """Tell scripts/test.sh the session reached its end (see there: a run cut short must fail)."""
    marker = os.environ.get("MENTIONWATCH_TESTS_FINISHED")
    if marker and not os.environ.get("PYTEST_XDIST_WORKER"):  # the run's end is the controller's
        Path(marker).write_text(str(int(exitstatus)), encoding="utf-8")
