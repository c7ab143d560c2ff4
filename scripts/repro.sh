#!/usr/bin/env bash
# `make repro`: on a clone whose DVC remote holds earlier results, fetch them first, so a second
# machine re-runs nothing that was already done; say what the remote had and how many calls will be
# transcribed (callscribe/redo.py); then run what is out of date.
# `--allow-missing`: an entry the remote lacks (never pushed) is simply re-made by `dvc repro`.
set -euo pipefail
remote="$(dvc remote list | awk 'NR == 1 {print $1}')"
if [ -n "$remote" ]; then
  echo "repro: pulling from the DVC remote first ($remote)"
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  dvc pull --allow-missing 2>&1 | tee "$log" || echo "repro: pull incomplete; dvc repro re-makes what is missing"
  python -m callscribe.redo --pulled "$log" --remote "$remote"
else
  python -m callscribe.redo
fi
dvc repro "$@"
