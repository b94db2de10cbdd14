#!/usr/bin/env bash
# chain.sh — run a sprint training verb until the run completes, resuming from its latest
# checkpoint each time it stops at its time budget (train.max_hours), e.g. under a batch
# scheduler whose jobs have a wall-time limit.
#
# Usage:
#   scripts/chain.sh [--max-runs N] [--max-failures N] [--] COMMAND [ARGS...]
#   scripts/chain.sh -- sprint distill --config configs/sprint_1600m.yaml --set train.max_hours=3.9
#
# The first launch runs COMMAND ARGS as given; every relaunch appends `--resume latest` (after a
# time-budget stop) or `--resume auto` (after a failure: latest if a checkpoint exists, else a
# fresh start).
#
# Exit codes of the training verbs (package train: ExitOK, ExitError, ExitResume):
#   0    the run completed (train.max_steps), or was stopped by SIGINT/SIGTERM after saving a
#        checkpoint: chaining stops
#   75   stopped at train.max_hours after saving a checkpoint: relaunch with --resume latest
#   else the run failed (1: error, 2: internal error, 137: killed, ...); the last good checkpoint
#        stays loadable: relaunched, up to --max-failures failures in a row
#
# chain.sh exits 0 when the run completed, with the last failing code after --max-failures
# failures in a row, with 3 when --max-runs launches were made without completing, and with
# 130/143 when it was itself interrupted (the signal is passed on to the running command,
# which saves a checkpoint and exits).
set -u

max_runs=1000
max_failures=3
while [ $# -gt 0 ]; do
  case "$1" in
    --max-runs) max_runs=$2; shift 2 ;;
    --max-failures) max_failures=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
if [ $# -eq 0 ]; then
  echo "chain.sh: no command given (see --help)" >&2
  exit 2
fi

child=0
stopping=0
forward() {
  stopping=$1
  if [ "$child" -ne 0 ]; then kill -s "$2" "$child" 2>/dev/null; fi
}
trap 'forward 130 INT' INT
trap 'forward 143 TERM' TERM

say() { printf 'chain.sh: %s\n' "$*" >&2; }

resume=()
failures=0
for ((run = 1; run <= max_runs; run++)); do
  say "launch $run: $* ${resume[*]+${resume[*]}}"
  "$@" ${resume[@]+"${resume[@]}"} &
  child=$!
  # wait returns early when a trapped signal arrives; keep waiting for the child to exit.
  while :; do
    wait "$child"
    rc=$?
    if ! kill -0 "$child" 2>/dev/null; then break; fi
  done
  child=0
  if [ "$stopping" -ne 0 ]; then
    say "interrupted; the command exited with $rc"
    exit "$stopping"
  fi
  case "$rc" in
    0)
      say "done (launch $run exited 0)"
      exit 0 ;;
    75)
      failures=0
      resume=(--resume latest)
      say "time budget reached; resuming from the latest checkpoint" ;;
    *)
      failures=$((failures + 1))
      if [ "$failures" -ge "$max_failures" ]; then
        say "launch $run failed with exit code $rc; $failures failures in a row, giving up"
        exit "$rc"
      fi
      resume=(--resume auto)
      say "launch $run failed with exit code $rc; retrying from the latest checkpoint ($failures/$max_failures)"
      sleep "${CHAIN_RETRY_SLEEP:-10}" ;;
  esac
done
say "$max_runs launches without completing"
exit 3
