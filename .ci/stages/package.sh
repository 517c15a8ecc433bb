#!/usr/bin/env bash
# The distribution as users get it: a wheel and an sdist built, the wheel installed into a
# fresh virtual environment (pip's cache already holds the dependencies the main stage
# downloaded, so TensorFlow is not fetched twice), then `tuner --help` and a 1-trial search
# from that environment, in an empty folder, with a shipped search space.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

. .venv/bin/activate
python -m pip install --quiet build
python -m build --sdist --wheel --outdir "$work/dist" . > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
ls -l "$work/dist"
deactivate

python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet -c constraints.txt "$work"/dist/*.whl  # the lock, as CI runs
cd "$work"  # away from the source tree: only the installed wheel can answer
"$work/venv/bin/tuner" --help > /dev/null
"$work/venv/bin/tuner" --version
# Not `tuner spaces | grep -q`: grep leaves at the first match, tuner's next write meets a closed
# pipe and exits 1 (click's rule for EPIPE), which pipefail turns into a failed stage.
"$work/venv/bin/tuner" spaces > "$work/spaces.txt"
grep -q mlp_quick "$work/spaces.txt"
"$work/venv/bin/tuner" search --data iris --space mlp_quick --trials 1 --epochs 2 --recheck 1 --n-jobs 1 \
    --quiet --output json > "$work/result.json"
"$work/venv/bin/python" - "$work/result.json" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
assert result["model_uri"].startswith("models:/") and result["test_score"] is not None, result
print(f"installed wheel: 1-trial search ok, test {result['metric']} {result['test_score']:.3f}")
PY
cd "$root"
