#!/usr/bin/env bash
# Set up mentionwatch in ./.venv from this folder's own files (Python 3.11 is all it needs).
# torch is installed first and pinned, so nothing pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test]"
# Training text for `mentionwatch model build` (and its test): vaderSentiment's source archive,
# fetched from the package index into .venv/share/mentionwatch/corpora and checked by sha256.
.venv/bin/python -c "from sentiment.corpora import vader_sdist; vader_sdist()"
echo "mentionwatch is installed: run it as .venv/bin/mentionwatch (or 'source .venv/bin/activate' first)."
