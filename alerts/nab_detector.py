"""The detector as `mentionwatch bench nab` runs it: the product's default settings, fixed for every series.

The settings are exactly what `detector_settings` derives from the default alert settings (sensitivity
0.5) for the series' bucket size, with `min_count` 1 (NAB values are volumes, not alert-worthy counts
of negative posts), a one-day warm-up and a one-day cooldown. Nothing is tuned per series.
"""
from __future__ import annotations

from alerts.detect import detector_settings
from alerts.detector import DetectorSettings, alert_flags, detect
from mentionwatch.config import AlertSettings

NAB_ALERT_SETTINGS = AlertSettings(sensitivity=0.5, min_count=1, warmup="1d", cooldown="1d")


def nab_settings(bucket_seconds: float) -> DetectorSettings:
    return detector_settings(NAB_ALERT_SETTINGS, bucket_seconds)


def nab_detector(bucket_seconds: float):
    """values -> anomaly_score per row (1.0 where an alert opens)."""
    settings = nab_settings(bucket_seconds)

    def run(values):
        _stats, incidents = detect(values, settings)
        return alert_flags(len(values), incidents)

    return run
