"""Do the detector's settings carry over to series they were not chosen on? (`mentionwatch bench nab-grid`)

The NAB goal is scored on Twitter series this project does not have, so a setting that wins on the
series here only because it fits one of their windows is worth nothing. This module scores a grid
of settings around the product's defaults (observation window x z bar x ratio bar) on every
labelled series, then selects leave-one-series-out: for each series, the best setting on all the
*other* series is scored on it, and the held-out scores add up to one NAB score. A selection that
over-fits gains on the series it was chosen on and loses on the one it was not.
"""
from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable

from alerts.detect import BASE_RATIO, BASE_THRESHOLD, SMOOTH_SECONDS
from alerts.detector import DetectorSettings, alert_flags, detect
from alerts.nab import LabelledSeries, normalized_score, score_file, series_bucket_seconds
from alerts.nab_detector import nab_settings

GRID_SMOOTH_SECONDS = (1800.0, 3600.0, 7200.0)
GRID_Z = (4.0, 5.0, 6.0)
GRID_RATIO = (2.5, 3.0, 4.0)
PROFILE = "standard"


@dataclass(frozen=True, order=True)
class Cell:
    """One setting of the grid: how long a window is added up, and the z and ratio bars."""

    smooth_seconds: float
    z: float
    ratio: float

    @property
    def label(self) -> str:
        minutes = self.smooth_seconds / 60
        window = f"{minutes / 60:g}h" if minutes >= 60 else f"{minutes:g}min"
        return f"window {window}, z {self.z:g}, ratio {self.ratio:g}"


@dataclass
class Fold:
    """One series held out: the setting(s) that scored best on the others, and its score with them."""

    held_out: str
    chosen: list[Cell]  # more than one on a tie; the held-out score is then their mean
    held_out_raw: float


def grid_cells() -> list[Cell]:
    return [Cell(s, z, r) for s in GRID_SMOOTH_SECONDS for z in GRID_Z for r in GRID_RATIO]


def kept_cell() -> Cell:
    """The setting the product ships (what `bench nab` runs)."""
    return Cell(SMOOTH_SECONDS, BASE_THRESHOLD, BASE_RATIO)


def cell_settings(cell: Cell, bucket_seconds: float) -> DetectorSettings:
    """`bench nab`'s settings with the cell's window and bars (everything else unchanged)."""
    return dataclasses.replace(nab_settings(bucket_seconds), smooth=max(1, round(cell.smooth_seconds / bucket_seconds)),
                               threshold=cell.z, min_ratio=cell.ratio)


def raw_scores_of_cell(cell: Cell, series: list[LabelledSeries]) -> dict[str, float]:
    """The cell's raw standard-profile score on each series."""
    scores = {}
    for one in series:
        settings = cell_settings(cell, series_bucket_seconds(one.timestamps))
        flags = alert_flags(len(one.values), detect(one.values, settings)[1])
        scores[one.name] = score_file(one.timestamps, [bool(f) for f in flags], one.spans, PROFILE, one.name).score
    return scores


def raw_scores(cells: Iterable[Cell], series: list[LabelledSeries],
               progress: Callable[[Cell, dict[str, float]], None] | None = None) -> dict[Cell, dict[str, float]]:
    """Every cell's raw scores per series, computed on all cores (cells are independent)."""
    cells = list(cells)
    results: dict[Cell, dict[str, float]] = {}
    with ProcessPoolExecutor(max_workers=max(1, min(len(cells), os.cpu_count() or 1))) as pool:
        for cell, scores in zip(cells, pool.map(raw_scores_of_cell, cells, [series] * len(cells))):
            results[cell] = scores
            if progress is not None:
                progress(cell, scores)
    return results


def corpus_score(raw_by_series: dict[str, float], window_counts: dict[str, int]) -> float:
    """The normalised NAB score (standard profile) of per-series raw scores."""
    return normalized_score(sum(raw_by_series.values()), list(window_counts.values()), PROFILE)


def leave_one_out(raw: dict[Cell, dict[str, float]]) -> list[Fold]:
    """For each series: choose the best cell on the other series, and score that choice on it."""
    names = sorted(next(iter(raw.values())))
    folds = []
    for held_out in names:
        on_others = {cell: sum(v for name, v in scores.items() if name != held_out) for cell, scores in raw.items()}
        best = max(on_others.values())
        chosen = sorted(cell for cell, total in on_others.items() if total >= best - 1e-9)
        held_out_raw = sum(raw[cell][held_out] for cell in chosen) / len(chosen)
        folds.append(Fold(held_out, chosen, held_out_raw))
    return folds
