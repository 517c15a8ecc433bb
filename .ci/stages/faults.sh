#!/usr/bin/env bash
# CI stage: the fault tests (tests/test_faults.py, -m faults). Each breaks something for real and
# waits for tuner to ride it out or stop cleanly: workers killed with SIGKILL, a private
# PostgreSQL (initdb) stopped mid-trial, an `mlflow server` stopped mid-trial, a store made
# unwritable (setpriv without the capabilities that let root ignore permission bits). Minutes
# of deliberate outages: kept out of the main suite's quarter of an hour.
#   .ci/stages/faults.sh            (from .ci/run, or alone after `pip install -e ".[dev]"`)
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
[ -f .venv/bin/activate ] || { echo "no .venv: run .ci/run, or create it and pip install -e '.[dev]'" >&2; exit 2; }
. .venv/bin/activate
python -m pytest -m faults tests/test_faults.py -p no:cacheprovider
