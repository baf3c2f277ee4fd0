"""The built-in sentiment model: a real forward pass, hard inputs, and scoring stored mentions."""
from __future__ import annotations

import numpy as np
import pytest

from mentionwatch.config import SentimentConfig
from sentiment import ModelLoadError, Score, load_scorer, model_id_for, score_unscored
from sentiment.metrics import classification_report
from sentiment.scorer import BuiltinScorer, label_mapping
from sentiment.textprep import clean, emoji_as_words, is_chinese, mention_text
from storage import Mention, save_mentions

pytestmark = pytest.mark.usefixtures("onnx_cache")

CLEAR = {
    "I love this phone, the camera is amazing and the battery lasts forever. Best purchase ever!": "positive",
    "Thank you so much @united, the crew was wonderful and we landed early. Great flight!": "positive",
    "This is the worst service I have ever had. Rude staff, lost my bag, never again.": "negative",
    "Terrible app, crashes every time I open it and support never answers. Awful.": "negative",
    "这家酒店太差了，房间又脏又吵，服务员态度恶劣，再也不来了。": "negative",
    "菜都凉了，送了两个小时，难吃死了，差评！": "negative",
    "房间干净整洁，服务热情周到，早餐也很丰盛，非常满意，下次还住这里。": "positive",
    "味道很好，送餐速度快，分量足，好吃！": "positive",
}


@pytest.fixture(scope="module")
def torch_scorer():
    return BuiltinScorer(SentimentConfig(), backend="torch")


@pytest.fixture(scope="module")
def default_scorer():
    # not the process's kept scorer: one another module's test loaded first (with tests run in two
    # processes, any module may come first) exported its ONNX file into that module's cache folder
    return load_scorer(SentimentConfig(), cache=False)


def _check_probabilities(score: Score) -> None:
    probabilities = [score.p_negative, score.p_neutral, score.p_positive]
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
    assert score.label == ("negative", "neutral", "positive")[int(np.argmax(probabilities))]


@pytest.mark.parametrize("scorer_name", ["torch_scorer", "default_scorer"])
def test_builtin_model_gets_clear_english_and_chinese_texts_right(scorer_name, request):
    scorer = request.getfixturevalue(scorer_name)
    scores = scorer.score_texts(list(CLEAR))
    for (text, expected), score in zip(CLEAR.items(), scores):
        _check_probabilities(score)
        assert score.label == expected, text
        strength = score.p_positive if expected == "positive" else score.p_negative
        assert strength > 0.5, text


def test_default_path_is_onnx_and_agrees_with_torch_fp32(default_scorer, torch_scorer, onnx_cache):
    assert default_scorer.backend == "onnx"
    assert list(onnx_cache.glob("*.onnx"))  # exported once, into the cache folder
    texts = list(CLEAR) + ["ok I guess", "the flight left at 5pm", "meh, not sure about the new update"]
    fast = default_scorer.score_texts(texts)
    reference = torch_scorer.score_texts(texts)
    differences = [max(abs(a.p_negative - b.p_negative), abs(a.p_neutral - b.p_neutral),
                       abs(a.p_positive - b.p_positive)) for a, b in zip(fast, reference)]
    # int8 moves a probability a little, not a lot: on the 2,000 TweetEval tweets 0.035 on average,
    # 0.18 at the 99th percentile, most on texts near a class boundary (a broken graph moves 0.5+)
    assert max(differences) < 0.2
    assert sorted(differences)[len(differences) // 2] < 0.02
    assert [a.label for a in fast][:len(CLEAR)] == [b.label for b in reference][:len(CLEAR)]
    fp32 = BuiltinScorer(SentimentConfig(), precision="fp32", backend="onnx").score_texts(texts)
    assert [s.p_negative for s in fp32] == pytest.approx([s.p_negative for s in reference], abs=1e-4)


def test_a_score_does_not_depend_on_the_other_mentions_in_its_batch(default_scorer):
    texts = list(CLEAR) + ["ok I guess", "meh, not sure about the new update",
                           "Delayed again. " * 60, "Great crew, thanks!", ""]
    together = default_scorer.score_texts(texts)
    for text, in_batch in zip(texts, together):
        alone = default_scorer.score_texts([text])[0]
        assert [alone.p_negative, alone.p_neutral, alone.p_positive] == pytest.approx(
            [in_batch.p_negative, in_batch.p_neutral, in_batch.p_positive], abs=1e-4), text


def test_scorer_is_loaded_once_and_model_id_needs_no_loading(default_scorer):
    assert load_scorer(SentimentConfig()) is load_scorer(SentimentConfig())  # kept by the process
    assert default_scorer.model_id == model_id_for(SentimentConfig())
    assert default_scorer.model_id.startswith("builtin-")


def test_hard_inputs_are_scored_without_breaking_the_batch(default_scorer):
    hard = ["", "   ", "a" * 100_000, "good " * 30_000, bytes(range(256)).decode("latin-1"),
            "\x00\x01\x02\ufffd\ufffd", "🙂🙂🔥", "ผลิตภัณฑ์นี้ดีมาก", "Это ужасно", "😡" * 500,
            None, b"\xff\xfe raw bytes", "差" * 100_000, "服务太差\ud800了", "好\x00评"]
    scores = default_scorer.score_texts(hard + ["I hate this, awful."])
    assert len(scores) == len(hard) + 1
    for score in scores:
        _check_probabilities(score)
    assert scores[0].label == scores[1].label == "neutral"  # nothing to judge
    assert scores[-1].label == "negative"  # the normal text after the junk is still right


def test_chinese_model_is_the_mean_of_its_ngram_and_e5_regressions(default_scorer):
    from sentiment.builtin import ZH_E5_WEIGHT
    from sentiment.zh_encoder import embed

    chinese = default_scorer.chinese
    texts = [clean(text) for text, _ in CLEAR.items() if is_chinese(text)]
    expected = [label == "positive" for text, label in CLEAR.items() if is_chinese(text)]
    w = chinese.weights
    ngram = 1 / (1 + np.exp(-(chinese.vectorizer.transform(texts) @ w.ngram_coef + w.ngram_intercept)))
    e5 = 1 / (1 + np.exp(-(embed(texts) @ w.e5_coef + w.e5_intercept)))
    assert ZH_E5_WEIGHT == 0.5
    assert chinese.p_positive(texts) == pytest.approx(0.5 * ngram + 0.5 * e5, abs=1e-6)
    # each part reads these clear reviews right on its own: neither is dead weight
    assert list(ngram > 0.5) == expected and list(e5 > 0.5) == expected


def test_e5_embeddings_are_normalized_and_independent_of_their_batch():
    from sentiment.zh_encoder import DIMENSIONS, embed

    texts = ["这家酒店太差了", "味道很好，送餐速度快", "", "bad\ud800 text\x00"]
    together = embed(texts)
    assert together.shape == (4, DIMENSIONS) and embed([]).shape == (0, DIMENSIONS)
    assert np.linalg.norm(together, axis=1) == pytest.approx(1.0, abs=1e-3)
    for row, text in enumerate(texts):
        assert np.abs(embed([text])[0] - together[row]).max() < 1e-5
    assert together[0] @ together[1] < 0.99  # different texts, different vectors


def test_text_preparation():
    assert clean("@someone look https://t.co/x  great\x00 stuff") == "@user look http great stuff"
    assert len(clean("x" * 100_000)) <= 2000
    assert clean("bad\ud800 text") == "bad text"  # tokenizers reject lone surrogates
    assert is_chinese("这家酒店很好 hotel") and not is_chinese("hello 你")
    assert mention_text("body", "Title") == "Title. body"
    assert mention_text("Title and body", "Title") == "Title and body"
    assert mention_text(None, None) == ""
    assert clean("so good 😍") == "so good 😍"  # hub models that know emoji get them as they are


def test_emoji_of_a_mention_without_words_are_spelled_out_for_the_builtin_encoder():
    assert emoji_as_words("😡😡!") == "pouting face pouting face !"
    assert emoji_as_words("@user 😭 http") == "@user loudly crying face http"
    # skin tones, joiners, variation selectors and flag letters are dropped, not named
    assert emoji_as_words("👍🏽 ❤️ 🇺🇸 👨‍👩‍👧") == "thumbs up sign heavy black heart man woman girl"
    # with words of its own a mention is read as it is (as the model was trained)
    assert emoji_as_words("delayed again 😡") == "delayed again 😡"
    assert emoji_as_words("太慢了 😡") == "太慢了 😡"
    assert emoji_as_words("→ :)") == "→ :)"


def test_emoji_only_mentions_are_read_by_the_builtin_model(default_scorer):
    # MiniLM's vocabulary has no emoji: unnamed, each of these was one "unknown" token, all neutral.
    # 🤮 and 🥰 are newer than the Emoji Sentiment Ranking: the model reads their names
    scores = default_scorer.score_texts(["😡😡😡", "😭😭", "🤮", "😍", "😊", "🥰"])
    assert [s.label for s in scores] == ["negative"] * 3 + ["positive"] * 3
    for score in scores:
        _check_probabilities(score)
    assert min(scores[2].p_negative, scores[5].p_positive) > 0.8


def test_emoji_the_ranking_knows_are_scored_by_how_people_used_them(default_scorer):
    """'heavy black heart' (❤) read as words scored negative, 'thumbs down sign' (👎) neutral; the
    Emoji Sentiment Ranking counts how 1.6 million labelled tweets used each emoji."""
    from sentiment.emoji_lexicon import emoji_only_probabilities

    texts = ["❤️", "@user 👎👎!", "👍🏽", "💔", "great flight ❤️", "🙄", "Acme的服务太差了 😡"]
    scores = default_scorer.score_texts(texts)
    assert [s.label for s in scores[:4]] == ["positive", "negative", "positive", "negative"]
    heart = emoji_only_probabilities("❤")
    assert (scores[0].p_negative, scores[0].p_positive) == pytest.approx((heart[0], heart[2]), abs=1e-6)
    # with words, or an emoji the ranking lacks: the model's, as when scored alone
    for text, score in zip(texts[4:], scores[4:]):
        [alone] = default_scorer.score_texts([text])
        assert score.p_negative == pytest.approx(alone.p_negative, abs=1e-4), text
    assert scores[4].label == "positive"


def _mention(i: int, text: str, title: str | None = None) -> Mention:
    return Mention(source="test", external_id=str(i), text=text, created_at="2026-01-01T00:00:00Z",
                   title=title, watches=("acme",))


def test_score_unscored_scores_each_mention_once(db, default_scorer):
    texts = ["Acme support is useless, waited 3 hours", "Love my new Acme blender!",
             "Acme opens a store in Leeds", "x" * 100_000, "Acme的服务太差了，非常失望"]
    save_mentions(db, [_mention(i, t) for i, t in enumerate(texts)]
                  + [_mention(99, "it broke after two days, refund please", title="Acme kettle")])
    seen = []
    first = score_unscored(db, default_scorer, progress=lambda done, total: seen.append((done, total)))
    assert (first.scored, first.skipped) == (6, 0)
    assert seen[-1] == (6, 6)
    rows = list(db.query("SELECT m.external_id, s.* FROM scores s JOIN mentions m ON m.id = s.mention_id"))
    assert len(rows) == 6 and {r["model_id"] for r in rows} == {default_scorer.model_id}
    by_id = {r["external_id"]: r for r in rows}
    direct = default_scorer.score_texts(["Acme kettle. it broke after two days, refund please"])[0]
    # title + text is what was scored
    assert by_id["99"]["p_negative"] == pytest.approx(direct.p_negative, abs=1e-4)
    assert by_id["0"]["label"] == "negative" and by_id["1"]["label"] == "positive"
    assert by_id["4"]["label"] == "negative"

    assert score_unscored(db, default_scorer).scored == 0  # nothing left for this model
    save_mentions(db, [_mention(100, "Acme is fine"), _mention(101, "Acme rocks"), _mention(102, "meh")])
    limited = score_unscored(db, default_scorer, limit=2)
    assert limited.scored == 2
    assert score_unscored(db, default_scorer).scored == 1


class _FailsOnMarker(BuiltinScorer):
    """The real model, except that texts containing MARKER make it raise (a corrupt input)."""

    def _probabilities(self, texts):
        if any("MARKER" in t for t in texts):
            raise RuntimeError("cannot score this text")
        return super()._probabilities(texts)


def test_a_text_that_breaks_the_model_is_skipped_and_the_rest_stored(db):
    scorer = _FailsOnMarker(SentimentConfig(), backend="torch")
    save_mentions(db, [_mention(1, "great"), _mention(2, "MARKER bad"), _mention(3, "awful")])
    result = score_unscored(db, scorer)
    assert (result.scored, result.skipped) == (2, 1)
    stored = {r["mention_id"] for r in db.query("SELECT mention_id FROM scores")}
    assert len(stored) == 2


def test_metrics_on_binary_sets_count_neutral_as_wrong():
    report = classification_report([0, 0, 2, 2], [0, 1, 2, 2])
    assert report["accuracy"] == 0.75
    assert report["macro_recall"] == pytest.approx((0.5 + 1.0) / 2, abs=1e-4)
    assert report["confusion"][0][1] == 1
    assert set(report["confusion"]) == {0, 2}


def test_label_mapping_explains_unknown_labels():
    assert label_mapping("m", {0: "NEGATIVE", 1: "Neutral", 2: "pos"}, {}) == [0, 1, 2]
    assert label_mapping("m", {i: f"{i + 1} stars" for i in range(5)}, {}) == [0, 0, 1, 2, 2]
    with pytest.raises(ModelLoadError, match="label_map"):
        label_mapping("m", {0: "LABEL_0", 1: "LABEL_1"}, {})


def test_save_artifact_replaces_the_file_whole(tmp_path):
    """The weights are written beside the file and renamed over it: no half-written model file."""
    from sentiment.builtin import (
        ZH_FEATURES, ChineseWeights, artifact_info, load_builtin, new_net, save_artifact,
    )

    target = tmp_path / "model.safetensors"
    target.write_bytes(b"the previous model")
    target.chmod(0o640)
    chinese = ChineseWeights(np.zeros(ZH_FEATURES), 0.0, np.full(384, 0.5), 0.25)
    save_artifact(new_net(), chinese, {"seed": 5}, target)
    assert [path.name for path in tmp_path.iterdir()] == ["model.safetensors"]
    assert target.stat().st_mode & 0o777 == 0o640
    assert artifact_info(target) == {"seed": 5}
    _, loaded = load_builtin(target)
    assert loaded.weights.e5_intercept == 0.25
