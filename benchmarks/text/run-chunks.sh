#!/usr/bin/env bash
# The creative-writing benchmark of benchmarks/RESULTS.md in resumable chunks: STEP inputs at a time (default 5),
# each run under the shared CPU lock for at most 19 minutes (`tot bench` stops cleanly on SIGINT and resumes).
#   benchmarks/text/run-chunks.sh [FIRST_ROW] [LAST_ROW] [OUT] [STEP]
set -u
cd "$(dirname "$0")/../.."
first=${1:-0}; last=${2:-100}; out=${3:-benchmarks/results/text.jsonl}; step=${4:-5}
for ((start = first; start < last; start += step)); do
  stop=$((start + step < last ? start + step : last))
  for attempt in $(seq 1 20); do
    echo "$(date -Is) rows $start:$stop attempt $attempt" >&2
    flock /tmp/tot-cpu.lock timeout -s INT 1140 .venv/bin/tot bench text --rows "$start:$stop" --out "$out" --json
    status=$?
    [ "$status" -eq 0 ] && break
    [ "$status" -ne 130 ] && [ "$status" -ne 124 ] && { echo "tot bench failed with $status" >&2; exit "$status"; }
    sleep 20  # let the other helpers take the lock
  done
done
