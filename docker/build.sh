#!/usr/bin/env bash
# Build tuner's image from the repository root: docker/build.sh [options]
#
#   --gpu            TensorFlow with its CUDA wheels (tensorflow[and-cuda]); tag tuner:gpu
#   --tensorflow R   any TensorFlow requirement (default tensorflow-cpu at the locked version)
#   --base IMAGE     a Debian-based Python 3.11 image (default: the official python:3.11-slim)
#   --tag NAME       image tag (default tuner:cpu, or tuner:gpu with --gpu)
#   --wheelhouse     download every wheel first, with this machine's pip and its settings, into
#                    docker/inputs/wheels: the build then asks no index (a second build reuses
#                    what is there). Without it, pip in the build asks the index (through the
#                    CA certificates below), and docker/inputs/wheels is emptied.
#   --no-lock        resolve tuner's version ranges afresh instead of installing the versions
#                    of constraints.txt, the lock the tests and CI run with (the default; it
#                    replaces the old --pin). The GPU image takes the locked TensorFlow version
#                    with its CUDA wheels on top, which the lock leaves free.
#
# Extra CA certificates ($EXTRA_CA_CERTS_DIR, default /usr/local/share/ca-certificates: the
# ones update-ca-certificates installed) are given to pip in the builder stage only, for an
# HTTPS proxy with its own CA; they do not reach the final image.
set -euo pipefail
cd "$(dirname "$0")/.."

tensorflow= tag= base= wheelhouse=0 lock=1 gpu=0
while [ $# -gt 0 ]; do
    case "$1" in
        --gpu) gpu=1; tag=${tag:-tuner:gpu} ;;
        --tensorflow) tensorflow=$2; shift ;;
        --base) base=$2; shift ;;
        --tag) tag=$2; shift ;;
        --wheelhouse) wheelhouse=1 ;;
        --no-lock) lock=0 ;;
        *) echo "unknown option $1 (see the top of $0)" >&2; exit 2 ;;
    esac
    shift
done
tag=${tag:-tuner:cpu}
python=${PYTHON:-python3}

mkdir -p docker/inputs/certs
rm -f docker/inputs/certs/*.crt docker/inputs/constraints.txt
certs=${EXTRA_CA_CERTS_DIR:-/usr/local/share/ca-certificates}
if [ -d "$certs" ]; then
    find "$certs" -name '*.crt' -type f -exec cp {} docker/inputs/certs/ \;
fi
if [ "$lock" = 1 ]; then
    # The lock without TensorFlow's own line: the image installs tensorflow-cpu or
    # tensorflow[and-cuda] (other names) at that version instead.
    locked_tf=$(sed -n 's/^tensorflow==\([^ ]*\).*/\1/p' constraints.txt)
    grep -v -E '^tensorflow==' constraints.txt > docker/inputs/constraints.txt
fi
if [ -z "$tensorflow" ]; then
    tensorflow=$([ "$gpu" = 1 ] && echo "tensorflow[and-cuda]" || echo tensorflow-cpu)
    [ "$lock" = 1 ] && tensorflow="$tensorflow==$locked_tf"
fi

start=$(date +%s)
if [ "$wheelhouse" = 0 ]; then
    rm -f docker/inputs/wheels/*.whl  # a wheelhouse left from another build would stand in for the index
fi
if [ "$wheelhouse" = 1 ]; then
    mkdir -p docker/inputs/wheels
    constraints=()
    [ -f docker/inputs/constraints.txt ] && constraints=(--constraint docker/inputs/constraints.txt)
    "$python" docker/requirements.py pyproject.toml "$tensorflow" > docker/inputs/requirements.txt
    # hatchling: tuner's build backend, which pip installs in its isolated build environment.
    "$python" -m pip download --quiet --only-binary=:all: --dest docker/inputs/wheels \
        "${constraints[@]}" --requirement docker/inputs/requirements.txt hatchling
    echo "wheelhouse: $(ls docker/inputs/wheels | wc -l) wheels, $(du -sh docker/inputs/wheels | cut -f1), $(($(date +%s) - start)) s"
fi

# Without buildx, a current docker CLI refuses BuildKit: use the classic builder (this
# Dockerfile needs nothing of BuildKit's).
if ! docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=0; fi
args=(--file docker/Dockerfile --tag "$tag" --build-arg "TENSORFLOW=$tensorflow")
[ -n "$base" ] && args+=(--build-arg "BASE=$base")
built=$(date +%s)
docker build "${args[@]}" .
echo "built $tag in $(($(date +%s) - built)) s: $(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}')"
