#!/usr/bin/env bash
# Two checkouts of tuner timed side by side: the same `tuner search`, alternated, in fresh folders,
# with one environment (each checkout put first on PYTHONPATH). Prints one JSON line per run:
# wall seconds, exit status, held-out score and the winner's parameters. Why alternated: these
# machines are noisy, and a drift hits both sides alike.
#
#   git worktree add /tmp/before HEAD~5
#   benchmarks/two_checkouts.sh /tmp/before . 3 > benchmarks/results/two_checkouts/DATE-LABEL.jsonl
#   benchmarks/two_checkouts.sh /tmp/before . 3 search --data wine --trials 10
set -euo pipefail
before=$(cd "$1" && pwd) after=$(cd "$2" && pwd) rounds=${3:-3}
shift $(( $# < 3 ? $# : 3 ))
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(search --data digits)
for round in $(seq "$rounds"); do
    for tree in before after; do
        root=$([ "$tree" = before ] && echo "$before" || echo "$after")
        dir=$(mktemp -d)
        start=$(date +%s.%N)
        rc=0
        (cd "$dir" && PYTHONPATH="$root" python -m tuner "${args[@]}" --quiet --output json > result.json 2> err.log) || rc=$?
        end=$(date +%s.%N)
        python - "$tree" "$root" "$round" "$start" "$end" "$rc" "$dir/result.json" <<'PY'
import json, sys
tree, root, rnd, start, end, rc, path = sys.argv[1:]
result = json.load(open(path)) if rc == "0" else {}
print(json.dumps({"tree": tree, "root": root, "round": int(rnd), "wall_s": round(float(end) - float(start), 1),
                  "rc": int(rc), "test_score": result.get("test_score"), "best_params": result.get("best_params")}))
PY
        rm -rf "$dir"
    done
done
