"""Spike alerts: series of negative mentions per watch, a causal detector, alerts with explanations,
their lifecycle (open -> acknowledged -> resolved), apprise notifications, and NAB scoring.

Entry points: `alerts.detect.run_detection`, `alerts.detect.backtest`, `alerts.notify.send_pending`,
`alerts.lifecycle.acknowledge/resolve/add_note`, `alerts.nab.run_benchmark`.
"""
