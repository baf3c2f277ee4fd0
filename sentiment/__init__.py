"""Sentiment scoring: negative / neutral / positive probabilities for every stored mention.

Public interface (used by the CLI, the service and the alerts):
`load_scorer(sentiment_cfg) -> Scorer`, `Scorer.model_id`, `Scorer.score_texts(texts) -> [Score]`,
`model_id_for(sentiment_cfg)` (no model loading) and `score_unscored(db, scorer, limit, progress)`.
"""
from sentiment.scorer import ModelLoadError, Score, Scorer, load_scorer, model_id_for
from sentiment.store import ScoreRunResult, score_unscored

__all__ = ["ModelLoadError", "Score", "ScoreRunResult", "Scorer", "load_scorer", "model_id_for",
           "score_unscored"]
