#!/usr/bin/env bash
# Print every benchmark's figures (record them in benchmarks/RESULTS.md).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
for b in benchmarks/bench_*.py; do
  echo "=== $b"
  $PY "$b" || echo "($b failed with exit $?)"
done
