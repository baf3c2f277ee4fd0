"""Small fixes from the sixth walkthrough (sources and sentiment)."""
from __future__ import annotations


def test_sentiment_eval_warns_when_a_declared_label_has_no_text(cli, tmp_path):
    """A file sorted by label, cut with --limit: every text positive, so the macro figures average
    in a 'negative' that was never tried (accuracy 1.0, macro-F1 0.5, and no word about why)."""
    rows = ["text,label"] + [f"the new parcel lockers on maple street {n} are a delight,1" for n in range(3)]
    rows += ["the refund never came and support hung up on me twice,0"]
    labelled = tmp_path / "sorted.csv"
    labelled.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = cli("sentiment", "eval", labelled, "--text-col", "text", "--label-col", "label",
                 "--labels", "0=negative,1=positive", "--limit", "3")
    assert result.exit_code == 0, result.output
    assert ("Warning: no negative text among the 3 scored (the file may be sorted by label: --limit took "
            "the first rows)") in result.stderr
    whole = cli("sentiment", "eval", labelled, "--text-col", "text", "--label-col", "label",
                "--labels", "0=negative,1=positive")
    assert "Warning" not in whole.stderr


def test_a_source_without_a_type_lists_the_types(tmp_path):
    import pytest

    from mentionwatch.config import ConfigError, load_config

    watchlist = tmp_path / "w.yaml"
    watchlist.write_text("watches:\n  - name: acme\n    query: {any: [acme]}\n    sources:\n"
                         "      - options: {urls: ['http://127.0.0.1:1/x.xml']}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(watchlist)
    assert str(raised.value).startswith(f"{watchlist}:5: watches[0].sources[0].type: is missing: every source "
                                        "needs a type, one of reddit, hackernews")
    assert "Field required" not in str(raised.value)


def test_rematch_with_nothing_to_change_does_not_ask_for_yes(cli, tmp_path):
    from storage import open_db

    (tmp_path / "mentionwatch.yaml").write_text(
        "database: m.db\nwatches:\n  - {name: acme, query: {any: [acme]}}\n", encoding="utf-8")
    open_db(tmp_path / "m.db").close()
    result = cli("rematch")
    assert result.exit_code == 0, result.output
    assert "acme: nothing to change." in result.output
    assert "--yes" not in result.output
