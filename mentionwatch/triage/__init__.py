"""Triage, export and reports: what a PR team works with after an alert.

`query` selects mentions with filters, `export` writes them to CSV/JSONL/XLSX, `marks` records
flagged/handled/ignored states, `risk` scores each watch, `charts` and `report` build the HTML
report, `browse` serves a read-only Datasette view of the database, and `bench` measures exports.
"""
