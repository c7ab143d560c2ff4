#!/usr/bin/env bash
# `make repro`: on a clone whose DVC remote holds earlier results, fetch them first, so a second
# machine re-runs nothing that was already done; then run what is out of date.
# `--allow-missing`: an entry the remote lacks (never pushed) is simply re-made by `dvc repro`.
set -euo pipefail
if [ -n "$(dvc remote list)" ]; then
  echo "repro: pulling from the DVC remote first ($(dvc remote list | head -1 | awk '{print $1}'))"
  dvc pull --allow-missing || echo "repro: pull incomplete; dvc repro re-makes what is missing"
fi
dvc repro "$@"
