#!/usr/bin/env bash
# CI stage: the fault tests (tests/e2e/test_faults.py, -m faults). Each breaks something for real and
# waits for tuner to ride it out or stop cleanly: workers killed with SIGKILL, a private
# PostgreSQL (initdb) stopped mid-trial, an `mlflow server` stopped mid-trial, a store made
# unwritable (setpriv without the capabilities that let root ignore permission bits). Minutes
# of deliberate outages: kept out of the main suite's quarter of an hour.
#   .ci/stages/faults.sh            (from .ci/run, or alone after `pip install -e ".[dev]"`)
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/stages/postgres_and_venv.sh
python -m pytest -m faults tests/e2e/test_faults.py -p no:cacheprovider
