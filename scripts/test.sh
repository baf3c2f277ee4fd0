#!/usr/bin/env bash
# Run the test suite. Installs the browser the report tests use (Debian's chromium) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# A test run cut short inside the pytest process (something calling os._exit) would end with exit
# code 0 and no summary; conftest.py leaves this file only when the session really finished.
finished="$(mktemp -u /tmp/mentionwatch-tests-finished.XXXXXX)"
status=0
# Two test processes (pytest-xdist): many tests wait on real servers, schedulers and clocks, so two
# share 2 cores well; MENTIONWATCH_TEST_WORKERS=0 runs them in this one process.
# (Not with '-p no:xdist', nor in a .venv set up before pytest-xdist was a test dependency.)
workers=(-n "${MENTIONWATCH_TEST_WORKERS:-2}")
if [[ " $* " == *"no:xdist"* ]] || ! .venv/bin/python -c "import xdist" 2>/dev/null; then workers=(); fi
MENTIONWATCH_TESTS_FINISHED="$finished" .venv/bin/python -m pytest "${workers[@]}" "$@" || status=$?
if [ ! -e "$finished" ]; then
  echo "scripts/test.sh: the test run stopped before its end (no pytest summary): counted as a failure" >&2
  exit 1
fi
recorded="$(cat "$finished")"
rm -f "$finished"
if [ "$status" = 0 ] && [ "$recorded" != 0 ]; then  # the process was ended after a failing session
  echo "scripts/test.sh: pytest finished with status $recorded but the process exited 0: counted as a failure" >&2
  exit "$recorded"
fi
exit "$status"
