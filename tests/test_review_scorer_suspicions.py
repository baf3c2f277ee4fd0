"""Scorer loading in the service, from a review: a model folder that is briefly missing (being
replaced) is one error line per score run, never a trip to the Hugging Face hub, and is used again
once it is back.

A real tiny Hugging Face model folder and a real SQLite file; only the hub probe is replaced.
"""
from __future__ import annotations

import logging
import os

import pytest

import sentiment.scorer as scorer_module
from scheduler import Service
from storage import open_db, save_mentions
from test_review_scoring_fixes import _last_run, _mention, _scored_by, _tiny_model, _write_watchlist


@pytest.mark.parametrize("written", ["absolute", "./model"])
def test_a_briefly_missing_model_folder_is_one_line_no_hub_and_used_again(tmp_path, monkeypatch, caplog,
                                                                         written):
    probes = []
    monkeypatch.setattr(scorer_module, "_reachable_hub_endpoint", lambda *a, **k: probes.append(1))
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "model"
    _tiny_model(folder)
    name = str(folder) if written == "absolute" else written
    svc = Service(_write_watchlist(tmp_path, f"{{model: {name}}}"), blocking=False)
    db = open_db(svc.db_path)
    save_mentions(db, [_mention(1, "acme is great")])
    svc._run_job("score", "score")
    assert _scored_by(db) == {f"path:{folder}": 1}

    os.rename(folder, tmp_path / "model.old")  # a deployment replacing the folder
    save_mentions(db, [_mention(2, "acme is awful")])
    with caplog.at_level(logging.DEBUG):
        for _ in range(2):
            svc._run_job("score", "score")
            status, detail = _last_run(db, "score")
            assert status == "error" and f"there is no folder {folder}" in detail["error"]
    assert probes == []
    said = [r.getMessage() for r in caplog.records if r.name == "mentionwatch.service"]
    assert len(said) == 2 and all(f"there is no folder {folder}" in line for line in said), said
    assert "hf:" not in caplog.text

    os.rename(tmp_path / "model.old", folder)
    svc._run_job("score", "score")
    assert _last_run(db, "score") == ("ok", {"scored": 1, "skipped": 0, "model": f"path:{folder}"})
    assert _scored_by(db) == {f"path:{folder}": 2}
    db.close()
