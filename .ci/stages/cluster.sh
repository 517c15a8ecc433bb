#!/usr/bin/env bash
# CI stage: the cluster tests (-m cluster in tests/jobs/test_cluster.py and tests/jobs/test_cluster_finish.py).
# Several `tuner worker` and `tuner study finish` processes share one study on the PostgreSQL
# server on 127.0.0.1:5432 and one `mlflow server`, as a scheduler's job runs them: three
# workers, a worker killed, one preempted, finishes started twice, after a crash, beside the
# workers and by the last worker. About five minutes on 2 cores: kept out of the main suite.
#   .ci/stages/cluster.sh           (from .ci/run, or alone after `pip install -e ".[dev]"`)
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/stages/postgres_and_venv.sh
python -m pytest -m cluster tests/jobs/test_cluster.py tests/jobs/test_cluster_finish.py -p no:cacheprovider
