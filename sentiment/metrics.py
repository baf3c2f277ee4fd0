"""Accuracy, macro-F1, macro-recall and the confusion matrix, for any set of label indexes."""
from __future__ import annotations

from sentiment.scorer import LABELS as LABEL_NAMES


def classification_report(gold: list[int], predicted: list[int], classes: list[int] | None = None) -> dict:
    """Figures over `classes` (default: the classes present in gold). Predictions of a class
    outside them (neutral on a binary set) are simply wrong."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    classes = sorted(set(gold)) if classes is None else list(classes)
    confusion = {g: {p: 0 for p in range(len(LABEL_NAMES))} for g in classes}
    for g, p in zip(gold, predicted):
        confusion[g][p] += 1
    recalls, f1s = [], []
    for c in classes:
        true_positive = confusion[c][c]
        actual = sum(confusion[c].values())
        predicted_c = sum(row[c] for row in confusion.values())
        recall = true_positive / actual if actual else 0.0
        precision = true_positive / predicted_c if predicted_c else 0.0
        recalls.append(recall)
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    correct = sum(1 for g, p in zip(gold, predicted) if g == p)
    return {
        "n": len(gold),
        "accuracy": round(correct / len(gold), 4) if gold else 0.0,
        "macro_f1": round(sum(f1s) / len(f1s), 4) if f1s else 0.0,
        "macro_recall": round(sum(recalls) / len(recalls), 4) if recalls else 0.0,
        "confusion": confusion,
    }


def format_confusion(confusion: dict) -> str:
    """A small text table: one row per true class, one column per predicted class."""
    header = "true \\ predicted".ljust(18) + "".join(name.rjust(10) for name in LABEL_NAMES)
    lines = [header]
    for gold, row in confusion.items():
        cells = "".join(str(row[p]).rjust(10) for p in range(len(LABEL_NAMES)))
        lines.append(LABEL_NAMES[gold].ljust(18) + cells)
    return "\n".join(lines)
