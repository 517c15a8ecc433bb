#!/usr/bin/env bash
# CI stage: docker/ for real (tests/deploy/test_docker.py): Debian's Docker engine and docker-compose
# 1.29, debootstrap for an offline base image. The test starts dockerd, builds the images (the
# base and a PostgreSQL stand-in are kept under tags; Docker's layer cache makes a second run
# fast), runs the stack, and stops dockerd with its bridge and iptables rules; this script
# installs the packages, runs it, and cleans up after a run that was cut short.
#   .ci/stages/docker.sh            (from .ci/run, or alone after `pip install -e ".[dev]"`)
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    docker.io docker-compose debootstrap iptables iproute2 >/dev/null

[ -f .venv/bin/activate ] || { echo "no .venv: run .ci/run, or create it and pip install -e '.[dev]'" >&2; exit 2; }
. .venv/bin/activate

engine_before=$([ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null && echo yes || echo no)
timings=$(mktemp)
cleanup() {
    # A run cut short (Ctrl-C, a timeout) may leave the engine the test started: stop it, and
    # remove the bridge and iptables rules it leaves. An engine that ran before us stays.
    if [ "$engine_before" = no ] && [ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        docker ps -aq --filter label=com.docker.compose.project | xargs -r docker rm -f -v >/dev/null 2>&1 || true
        kill -TERM "$(cat /var/run/docker.pid)" || true
        for _ in $(seq 60); do [ -f /var/run/docker.pid ] || break; sleep 1; done
        (cd tests && python -c 'import infra; infra.remove_docker_leftovers()') || true
    fi
    echo "--- timings"; cat "$timings"; rm -f "$timings"
}
trap cleanup EXIT

start=$(date +%s)
TUNER_INFRA_TIMINGS=$timings python -m pytest -m docker tests/deploy/test_docker.py -p no:cacheprovider
echo "docker stage: $(($(date +%s) - start)) s"
