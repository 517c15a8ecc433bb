# Sourced by the stages that need them: the PostgreSQL server on 127.0.0.1:5432 running (it is
# started if it is down), and the project's .venv, made by .ci/run, active.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
[ -f .venv/bin/activate ] || { echo "no .venv: run .ci/run, or create it and pip install -e '.[dev]'" >&2; exit 2; }
. .venv/bin/activate
