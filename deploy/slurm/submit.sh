#!/usr/bin/env bash
# A night's sweep on Slurm: N worker tasks (an array) and the finish that runs after them.
#
#   deploy/slurm/submit.sh N [tuner study create options...]
#   deploy/slurm/submit.sh 8 --space mlp --data /shared/table.parquet --target y --trials 200
#
# The study is named after the array's job id (nightly-<id>; TUNER_STUDY_PREFIX changes the
# prefix): every task of the array computes the same name, and the finish gets it here.
# Prints "study NAME", "array ID" and "finish ID". From cron (or scrontab):
#   0 1 * * *  cd /shared/tuner && . ./tuner.env && deploy/slurm/submit.sh 8 --data ... --trials 200
# where tuner.env (mode 600) activates tuner's environment and exports TUNER_STORAGE,
# MLFLOW_TRACKING_URI and MLFLOW_TRACKING_USERNAME/PASSWORD.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ] || ! [ "$1" -ge 1 ] 2>/dev/null; then
    echo "usage: $0 N [tuner study create options...]   (N worker tasks, N >= 1)" >&2
    exit 2
fi
workers=$1
shift
: "${TUNER_STORAGE:?export TUNER_STORAGE (the study database URL)}"

array=$(sbatch --parsable --array="0-$((workers - 1))" "$here/worker.sbatch" "$@")
array=${array%%;*}  # --parsable prints "id" or "id;cluster"
study="${TUNER_STUDY_PREFIX:-nightly}-${array}"
if ! finish=$(sbatch --parsable --dependency="afterany:${array}" --export="ALL,TUNER_STUDY=${study}" \
    "$here/finish.sbatch"); then
    scancel "$array"
    exit 1
fi
echo "study ${study}"
echo "array ${array%%;*}"
echo "finish ${finish%%;*}"
