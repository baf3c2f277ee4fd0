"""Scorers: turn texts into negative / neutral / positive probabilities, fast.

`load_scorer(sentiment_cfg)` gives the built-in model (`builtin`, offline) or any Hugging Face
model by id or local path. Both batch texts by length (sorted by token count, padded per batch),
run under `torch.inference_mode` with all cores, and cut texts to `max_length` tokens. The built-in
model runs through ONNX Runtime by default (exported once and cached, see `onnx_backend`), or
through torch on a GPU when one is present.
"""
from __future__ import annotations

import contextlib

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sentiment.textprep import clean, emoji_as_words, emoji_of_wordless, is_chinese

log = logging.getLogger(__name__)

LABELS = ("negative", "neutral", "positive")
HUB_HINT = "offline? set sentiment.model to a local path or 'builtin'"
DEFAULT_MAX_LENGTH = 128  # SentimentConfig's default: the int8 file made for it keeps its old name


class ModelLoadError(Exception):
    """A model that cannot be loaded or used; the message is the one line the user sees."""


@dataclass(frozen=True)
class Score:
    label: str
    p_negative: float
    p_neutral: float
    p_positive: float


def scores_from_probabilities(probabilities: np.ndarray) -> list[Score]:
    return [Score(LABELS[int(np.argmax(row))], float(row[0]), float(row[1]), float(row[2]))
            for row in probabilities]


BUILTIN_LANGUAGES = ("en", "zh")  # what the built-in model reads (see the README's Sentiment)


def unreadable_watches(config) -> list[str]:
    """One line for each watch whose `languages` the built-in model reads none of (a Japanese or
    Korean watch): its mentions would come out neutral, and its negative spikes never seen."""
    if config.sentiment.model != "builtin":
        return []
    return [f"watch {watch.name} takes only {', '.join(watch.query.languages)} posts, which the built-in "
            "sentiment model cannot read (English and Chinese only): most will come out neutral; set "
            "sentiment.model to a multilingual model (README: Sentiment)"
            for watch in config.watches
            if watch.query.languages and not set(watch.query.languages) & set(BUILTIN_LANGUAGES)]


def model_id_for(sentiment_cfg) -> str:
    """The id stored with every score, worked out without loading the model.

    It names the weights (the built-in file's hash, the model's folder or hub id), the label_map,
    and `max_length` when it is not the default: a text cut at another length gets another score,
    and mixing those under one id would leave the history scored at the old length. The default
    adds nothing, so the ids of scores stored before max_length counted stay as they were.
    backend and precision are left out on purpose (see the README's Speed)."""
    if sentiment_cfg.model == "builtin":
        return builtin_weights_id() + _length_part(sentiment_cfg)
    path = Path(sentiment_cfg.model).expanduser()
    model_id = f"path:{path.resolve()}" if path.exists() else f"hf:{sentiment_cfg.model}"
    if sentiment_cfg.label_map:
        mapping = ",".join(f"{k}={v}" for k, v in sorted(sentiment_cfg.label_map.items()))
        model_id += "#" + hashlib.sha256(mapping.encode()).hexdigest()[:8]
    return model_id + _length_part(sentiment_cfg)


def builtin_weights_id() -> str:
    """The built-in model's id without settings: its weights file's hash (names the ONNX files)."""
    from sentiment.artifact import artifact_hash  # not sentiment.builtin: that imports torch

    return f"builtin-minilm-{artifact_hash()}"


def _length_part(sentiment_cfg) -> str:
    max_length = getattr(sentiment_cfg, "max_length", DEFAULT_MAX_LENGTH)
    return "" if max_length == DEFAULT_MAX_LENGTH else f"#len{max_length}"


def configured_model_id(sentiment_cfg) -> str | None:
    """`model_id_for`, or None when the setting gives no id (the built-in model's file missing,
    say): for the commands that only report on stored scores, where that must not stop them."""
    try:
        return model_id_for(sentiment_cfg)
    except Exception:  # noqa: BLE001 - whatever the setting's problem, the scoring itself reports it
        return None


def resolve_device(wanted: str) -> str:
    """The torch device for `sentiment.device`; ModelLoadError (one line) when the device named
    is not on this machine or not in this torch build."""
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelLoadError(f"sentiment.device: {wanted} requested but no CUDA GPU or CUDA build "
                                 "of torch is available; use auto or cpu")
        _, _, number = wanted.partition(":")
        if number and int(number) >= torch.cuda.device_count():
            raise ModelLoadError(f"sentiment.device: {wanted} requested but this machine has "
                                 f"{torch.cuda.device_count()} CUDA GPU(s) (cuda:0 is the first); "
                                 "use auto, cpu or cuda")
    elif wanted == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ModelLoadError("sentiment.device: mps requested but no Apple GPU is available; "
                                 "use auto or cpu")
    return wanted


def use_all_cores() -> None:
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))


def length_batches(token_counts: list[int], batch_size: int) -> list[list[int]]:
    """Indexes grouped into batches of similar length, so padding stays small."""
    order = sorted(range(len(token_counts)), key=lambda i: token_counts[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


class Scorer:
    """Base: subclasses set `model_id` and implement `_probabilities(cleaned_texts)`."""

    model_id: str = ""
    batch_size: int = 32
    max_length: int = 128

    def score_texts(self, texts: list[str]) -> list[Score]:
        """One Score per text, in order. Empty texts are neutral without asking the model."""
        cleaned = [clean(t if isinstance(t, str) else _as_text(t)) for t in texts]
        result = np.zeros((len(cleaned), 3), dtype=np.float64)
        result[:, 1] = 1.0
        present = [i for i, text in enumerate(cleaned) if text]
        if present:
            result[present] = self._probabilities([cleaned[i] for i in present])
        return scores_from_probabilities(result)

    def _probabilities(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _tokenized_batches(self, tokenizer, texts: list[str]):
        """(indexes, encoded batch) pairs: texts sorted by token count, padded per batch."""
        ids = tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        for batch in length_batches([len(x) for x in ids], self.batch_size):
            width = max(len(ids[i]) for i in batch)
            input_ids = np.full((len(batch), width), tokenizer.pad_token_id or 0, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            yield batch, input_ids, mask


def _as_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


class BuiltinScorer(Scorer):
    """The committed MiniLM fine-tune (+ the Chinese n-gram and e5 model) on ONNX Runtime or torch."""

    def __init__(self, sentiment_cfg, precision: str | None = None, backend: str | None = None):
        from sentiment import builtin

        self.model_id = model_id_for(sentiment_cfg)
        self.batch_size = sentiment_cfg.batch_size
        self.max_length = sentiment_cfg.max_length
        self.tokenizer = builtin.load_tokenizer()
        self.net, self.chinese = builtin.load_builtin()
        self.device = resolve_device(sentiment_cfg.device)
        self.backend = backend or sentiment_cfg.backend
        if self.backend == "auto":
            self.backend = "torch" if self.device != "cpu" else "onnx"
        use_all_cores()
        self.session = None
        self.precision = "fp32"
        if self.backend == "onnx":
            from sentiment import onnx_backend

            self.precision = precision or onnx_backend.DEFAULT_PRECISION
            try:
                # int8 scales measured on batches of another length make another file
                calibrated_on = "" if self.max_length == DEFAULT_MAX_LENGTH else f"-len{self.max_length}"
                # the exported graphs read any length: named after the weights alone
                self.session = onnx_backend.session_for(self.net, builtin_weights_id(), self.precision,
                                                        self._calibration_batches, calibrated_on)
            except Exception as exc:  # export needs onnx/onnxscript; torch always works
                log.warning("ONNX Runtime path unavailable (%s); scoring with torch", exc)
                self.backend = "torch"
        if self.backend == "torch":
            self.net.to(self.device)

    def _calibration_batches(self):
        """What int8 activation scales are measured on (once, when the int8 file is made)."""
        from sentiment.build import DEV_SHARE
        from sentiment.corpora import calibration_texts

        texts = [clean(text) for text in calibration_texts(DEV_SHARE)]
        for _, input_ids, mask in self._tokenized_batches(self.tokenizer, texts):
            yield {"input_ids": input_ids, "attention_mask": mask}

    @property
    def description(self) -> str:
        if self.backend == "onnx":
            return f"{self.model_id} (ONNX Runtime {self.precision})"
        return f"{self.model_id} (torch fp32 on {self.device})"

    def _probabilities(self, texts: list[str]) -> np.ndarray:
        from sentiment.builtin import ZH_TRANSFORMER_WEIGHT

        probabilities = np.zeros((len(texts), 3), dtype=np.float64)
        by_ranking = _emoji_only_scores(texts)  # MiniLM knows no emoji: wordless posts by the ranking
        to_model = [i for i in range(len(texts)) if i not in by_ranking]
        spelled_out = [emoji_as_words(texts[i]) for i in to_model]  # or by their names
        for batch, input_ids, mask in self._tokenized_batches(self.tokenizer, spelled_out) if to_model else ():
            probabilities[[to_model[i] for i in batch]] = self._run(input_ids, mask)
        for i, shares in by_ranking.items():
            probabilities[i] = shares
        chinese = [i for i, text in enumerate(texts) if is_chinese(text)]
        if chinese:
            p_positive = self.chinese.p_positive([texts[i] for i in chinese])
            polarity = np.stack([1 - p_positive, np.zeros_like(p_positive), p_positive], axis=1)
            probabilities[chinese] = (ZH_TRANSFORMER_WEIGHT * probabilities[chinese]
                                      + (1 - ZH_TRANSFORMER_WEIGHT) * polarity)
        return probabilities

    def _run(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.session is not None:
            return self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})[0]
        import torch

        with torch.inference_mode():
            out = self.net(torch.from_numpy(input_ids).to(self.device),
                           torch.from_numpy(mask).to(self.device))
        return out.float().cpu().numpy()


def _emoji_only_scores(texts: list[str]) -> dict[int, np.ndarray]:
    """{position: probabilities} of the mentions made of emoji the Emoji Sentiment Ranking knows."""
    from sentiment.emoji_lexicon import emoji_only_probabilities

    scores = {}
    for position, text in enumerate(texts):
        emoji = emoji_of_wordless(text)
        shares = emoji_only_probabilities(emoji) if emoji else None
        if shares is not None:
            scores[position] = shares
    return scores


class HubScorer(Scorer):
    """Any sequence-classification model from the Hugging Face hub or a local folder."""

    def __init__(self, sentiment_cfg):
        import torch

        self.model_id = model_id_for(sentiment_cfg)
        self.batch_size = sentiment_cfg.batch_size
        self.max_length = sentiment_cfg.max_length
        self.device = resolve_device(sentiment_cfg.device)
        name = sentiment_cfg.model
        looked_for = sentiment_cfg.folder_looked_for() if hasattr(sentiment_cfg, "folder_looked_for") else None
        self.tokenizer, self.model = _load_hub_model(name, looked_for)
        self.max_length = min(self.max_length, _model_limit(self.tokenizer, self.model.config))
        self.class_of_output = label_mapping(name, self.model.config.id2label, sentiment_cfg.label_map)
        use_all_cores()
        self.model.to(self.device).eval()
        self._torch = torch

    @property
    def description(self) -> str:
        return f"{self.model_id} (torch fp32 on {self.device})"

    def _probabilities(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        probabilities = np.zeros((len(texts), 3), dtype=np.float64)
        projection = np.zeros((len(self.class_of_output), 3))
        for output, label_index in enumerate(self.class_of_output):
            projection[output, label_index] = 1.0
        with torch.inference_mode():
            for batch, input_ids, mask in self._tokenized_batches(self.tokenizer, texts):
                logits = self.model(input_ids=torch.from_numpy(input_ids).to(self.device),
                                    attention_mask=torch.from_numpy(mask).to(self.device)).logits
                probabilities[batch] = torch.softmax(logits.float(), -1).cpu().numpy() @ projection
        return probabilities


def _model_limit(tokenizer, model_config) -> int:
    """The most tokens the model can read: its tokenizer's model_max_length when it says (tokenizers
    without one report a huge number), else its position embeddings (RoBERTa keeps 2 of them for
    padding). A longer text would make the model raise, and the batch would be scored one by one
    with the long texts left unscored."""
    limits = []
    told = getattr(tokenizer, "model_max_length", None)
    if isinstance(told, int) and 0 < told < 100_000:
        limits.append(told)
    positions = getattr(model_config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        offset = 2 if getattr(model_config, "model_type", "") in ("roberta", "xlm-roberta", "camembert") else 0
        limits.append(positions - offset)
    return min(limits) if limits else 10**9


def _load_hub_model(name: str, folder_beside: Path | None = None):
    """Tokenizer and model from a local folder, the local hub cache, or the hub itself.

    folder_beside: where the watchlist looked for a folder of that name (see SentimentConfig).

    The hub is asked only when the model is not cached, and only after one quick request shows it
    answers: unreachable, huggingface_hub retries each file for about 25 seconds, logging every try.
    """
    folder = Path(name).expanduser()
    if folder.exists():
        problem = not_a_model_folder(folder)
        if problem:
            raise ModelLoadError(f"model {name} could not be loaded: {problem}")
        return _from_pretrained(name, local_files_only=True, where=f"from {folder}")
    problem = missing_model_folder(name)
    if problem:
        raise ModelLoadError(problem)
    try:
        return _transformers_load(name, local_files_only=True)  # downloaded before: no network needed
    except Exception as exc:  # not in the cache (OSError), or a cached copy that fails: ask the hub
        log.debug("%s is not usable from the local cache: %r", name, exc)
    endpoint = _reachable_hub_endpoint()
    if endpoint is None:  # a name such as models/mine may be a folder that went missing, too
        raise ModelLoadError(f"model {name} could not be loaded: there is no folder "
                             f"{folder_beside or folder.absolute()}, and the Hugging Face hub cannot be "
                             f"reached ({HUB_HINT})")
    return _from_pretrained(name, local_files_only=False, where=f"from {endpoint}")


def missing_model_folder(name: str) -> str | None:
    """Why a model written as a folder path ('/...', './...', '~/...') cannot be loaded, found out
    without loading anything: the folder is not there. None for 'builtin', a hub id or a folder
    that exists (whether it holds a usable model is only known by loading it)."""
    folder = Path(name).expanduser()
    if name == "builtin" or not name.startswith(("/", ".", "~")) or folder.exists():
        return None
    return f"model {name} could not be loaded: there is no folder {folder.absolute()}"


# a Hugging Face model folder has config.json and at least one of these for its tokenizer
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json",
                    "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")


def not_a_model_folder(folder: Path) -> str | None:
    """Why an existing path plainly holds no Hugging Face model (a file; a folder without
    config.json or tokenizer files), as one complete line; None when it may be one."""
    if not folder.is_dir():
        return "it is a file, not a model folder"
    missing = []
    if not (folder / "config.json").is_file():
        missing.append("no config.json")
    if not any((folder / file).is_file() for file in _TOKENIZER_FILES):
        missing.append("no tokenizer file such as tokenizer.json or vocab.txt")
    if missing:
        return f"not a model folder ({'; '.join(missing)})"
    return None


def _from_pretrained(name: str, *, local_files_only: bool, where: str):
    try:
        return _transformers_load(name, local_files_only=local_files_only)
    except Exception as exc:  # OSError for missing files, ValueError for odd folders, hub errors...
        log.debug("loading %s failed: %r", name, exc)
        reason = _one_line(str(exc)) or type(exc).__name__
        raise ModelLoadError(f"model {name} could not be loaded {where}: {reason}") from None


def _one_line(message: str, limit: int = 300) -> str:
    """A library's message, many lines, as one line: joined, not cut after its first line (which
    may end in "one of:"); a long one is shortened at a word, with '...'."""
    text = " ".join(message.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."


def _transformers_load(name: str, *, local_files_only: bool):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    # its load report, and its progress bars over files already here, are not ours to print; a
    # download's progress is shown
    with _transformers_quiet(bars=not local_files_only):
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_files_only)
        model, loading = AutoModelForSequenceClassification.from_pretrained(
            name, local_files_only=local_files_only, output_loading_info=True)
    untrained = sorted(set(loading.get("missing_keys") or ()) | {str(k[0]) if isinstance(k, tuple) else str(k)
                                                                  for k in loading.get("mismatched_keys") or ()})
    if untrained:
        # transformers fills such layers with random numbers: every load would score differently
        raise ValueError(f"it is not a trained sentiment classifier: its files lack {', '.join(untrained[:3])}"
                         f"{' …' if len(untrained) > 3 else ''} (a base or sentence-embedding model?), "
                         "which would be random numbers; use a model fine-tuned for sentiment, or 'builtin'")
    return tokenizer, model


@contextlib.contextmanager
def _transformers_quiet(bars: bool):
    from transformers.utils import logging as transformers_logging

    verbosity = transformers_logging.get_verbosity()
    bars_were_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.set_verbosity_error()
    if not bars:
        transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)
        if bars_were_on:
            transformers_logging.enable_progress_bar()


def _reachable_hub_endpoint(timeout_seconds: float = 5.0) -> str | None:
    """The hub's address if one request to it gets any answer (proxy settings apply), else None."""
    import httpx
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return None
    try:
        httpx.head(constants.ENDPOINT, timeout=timeout_seconds)
    except httpx.HTTPError as exc:
        log.debug("the hub at %s does not answer: %r", constants.ENDPOINT, exc)
        return None
    return constants.ENDPOINT


_STARS = {"1": "negative", "2": "negative", "3": "neutral", "4": "positive", "5": "positive"}


def label_mapping(name: str, id2label: dict, label_map: dict[str, str]) -> list[int]:
    """For each model output, the index of negative/neutral/positive it counts towards."""
    classes = []
    for index in sorted(int(i) for i in id2label):
        raw = str(id2label.get(index, id2label.get(str(index), index)))
        candidates = (raw, raw.lower(), str(index), f"LABEL_{index}")
        mapped = next((label_map[c] for c in candidates if c in label_map), None)
        if mapped is None and not label_map:
            mapped = _recognise(raw)
        if mapped is None:
            shown = ", ".join(str(id2label[k]) for k in sorted(id2label, key=int))
            raise ModelLoadError(
                f"model {name}: cannot tell what its label {raw!r} means (labels: {shown}); "
                f"set sentiment.label_map, e.g. {{{raw}: negative}}")
        classes.append(LABELS.index(mapped))
    return classes


def _recognise(raw: str) -> str | None:
    text = raw.strip().lower()
    for prefix, label in (("neg", "negative"), ("neu", "neutral"), ("pos", "positive")):
        if text.startswith(prefix):
            return label
    first = text.split(" ")[0]
    if text.endswith(("star", "stars")) and first in _STARS:
        return _STARS[first]
    return None


_LOADED: dict[tuple, Scorer] = {}


def load_scorer(sentiment_cfg, cache: bool = True) -> Scorer:
    """The scorer for this configuration, loaded once per process and kept (with cache=False:
    loaded now and not kept, for a caller that holds it and drops it when done, as the service
    does). The key holds the model id, so new weights (`mentionwatch model build`) are loaded
    anew under their own id."""
    key = (sentiment_cfg.model_dump_json(), configured_model_id(sentiment_cfg))
    if cache and key in _LOADED:
        return _LOADED[key]
    if sentiment_cfg.model == "builtin":
        try:
            scorer: Scorer = BuiltinScorer(sentiment_cfg)
        except ModelLoadError:
            raise
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"model builtin could not be loaded: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - safetensors' SafetensorError: not a weights file
            raise ModelLoadError(_damaged_builtin(exc)) from None
    else:
        scorer = HubScorer(sentiment_cfg)
    if cache:
        _LOADED[key] = scorer
    return scorer


def _damaged_builtin(exc: Exception) -> str:
    """One line for a built-in model that cannot be loaded for a reason other than a missing file.
    A weights file that is no safetensors file (an unfetched Git LFS pointer, a file cut short) is
    said as `mentionwatch model info` says it; anything else (out of memory, a missing package) as
    what it is, for the file is not to blame."""
    from mentionwatch.logging_setup import redact

    reason = redact(_one_line(str(exc))) or type(exc).__name__
    if type(exc).__name__ != "SafetensorError":
        return f"model builtin could not be loaded: {type(exc).__name__}: {reason[:300]}"
    from sentiment import builtin

    return (f"model builtin could not be loaded: {builtin.ARTIFACT}: not a weights file ({reason}; a Git "
            "LFS pointer not fetched?): fetch it, or make it with 'mentionwatch model build'")
    return (f"model builtin could not be loaded: {type(exc).__name__}: {reason} ({builtin.ARTIFACT} damaged? "
            "a Git LFS pointer not fetched?): fetch it, or make it with 'mentionwatch model build'")
