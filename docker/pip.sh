#!/bin/sh
# pip as the image's builder stage runs it (this file never reaches the final image).
#
# /build comes from docker/inputs/ in the build context, filled by docker/build.sh:
#   certs/*.crt       extra CA certificates, for a network whose HTTPS proxy presents its own
#                     CA (added to pip's bundle here, in the builder stage only; the classic
#                     builder has no build secrets, BuildKit's --secret would need buildx)
#   wheels/*.whl      a complete wheelhouse: pip then never asks an index (offline builds)
#   constraints.txt   pins: the lock (the repository's constraints.txt) without TensorFlow
set -eu
if [ ! -f /build/ca.pem ] && ls /build/certs/*.crt >/dev/null 2>&1; then
    cat "$(/opt/venv/bin/python -c 'import pip._vendor.certifi as c; print(c.where())')" \
        /build/certs/*.crt > /build/ca.pem
fi
if [ -f /build/ca.pem ]; then export PIP_CERT=/build/ca.pem; fi
if ls /build/wheels/*.whl >/dev/null 2>&1; then export PIP_NO_INDEX=1 PIP_FIND_LINKS=/build/wheels; fi
if [ -f /build/constraints.txt ]; then export PIP_CONSTRAINT=/build/constraints.txt; fi
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
exec /opt/venv/bin/python -m pip "$@"
