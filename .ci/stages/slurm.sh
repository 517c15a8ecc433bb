#!/usr/bin/env bash
# CI stage: deploy/slurm for real (tests/deploy/test_slurm.py): Debian's slurm-wlm and munge on this one
# machine. The test writes the configuration at run time, starts munged, slurmctld and slurmd,
# submits deploy/slurm/submit.sh against the PostgreSQL server on 127.0.0.1:5432 and an
# `mlflow server`, and stops the daemons; this script installs the packages, makes sure
# PostgreSQL runs, runs the test, and cleans up after a run that was cut short.
#   .ci/stages/slurm.sh             (from .ci/run, or alone after `pip install -e ".[dev]"`)
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends slurm-wlm munge >/dev/null

. .ci/stages/postgres_and_venv.sh

munge_before=$(munge -n >/dev/null 2>&1 && echo yes || echo no)
marker=$(mktemp)
timings=$(mktemp)
cleanup() {
    # A run cut short may leave the daemons the test started (their pid files are in its
    # temporary folder, newer than this script's start): stop those, and only those.
    for pidfile in /tmp/tuner-slurm-*/slurmd.pid /tmp/tuner-slurm-*/slurmctld.pid; do
        [ -f "$pidfile" ] && [ "$pidfile" -nt "$marker" ] && kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
    done
    if [ "$munge_before" = no ] && [ -f /run/munge/munged.pid ]; then
        kill -TERM "$(cat /run/munge/munged.pid)" 2>/dev/null || true
    fi
    rm -f "$marker"
    echo "--- timings"; cat "$timings"; rm -f "$timings"
}
trap cleanup EXIT

start=$(date +%s)
TUNER_INFRA_TIMINGS=$timings python -m pytest -m slurm tests/deploy/test_slurm.py -p no:cacheprovider
echo "slurm stage: $(($(date +%s) - start)) s"
