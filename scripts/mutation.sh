#!/usr/bin/env bash
# Mutation testing of the deployment core (mutmut, configured in pyproject.toml [tool.mutmut]):
# ensembling, safety, the control step, the ONNX runtime's contract checks and the pose math,
# against their fast tests. Prints the score; `mutmut results` / `mutmut show NAME` in
# build/mutation list and show the survivors. Run after `source scripts/env.sh`.
#   bash scripts/mutation.sh [--max-children N]   (default 1: one test process at a time)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
stage="$root/build/mutation"
rm -rf "$stage"
mkdir -p "$stage"
# mutmut names mutants by path: put each package folder at the top, so that the path
# simhum_policy_node/controller.py is the module simhum_policy_node.controller.
ln -s "$root/src/simhum_policy_node/simhum_policy_node" "$stage/simhum_policy_node"
ln -s "$root/src/simhum_core/simhum_core" "$stage/simhum_core"
ln -s "$root/src/simhum_policy_node/test" "$stage/test_policy_node"
ln -s "$root/src/simhum_core/test" "$stage/test_core"
cp "$root/pyproject.toml" "$root/conftest.py" "$stage/"
cd "$stage"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
max_children=1
if [ "${1:-}" = "--max-children" ]; then max_children=$2; fi
start=$(date +%s)
mutmut run --max-children "$max_children" >mutmut-run.log 2>&1 || {
  tail -40 mutmut-run.log >&2
  exit 1
}
mutmut export-cicd-stats >/dev/null
python - "$(($(date +%s) - start))" <<'PY'
import json
import sys

s = json.load(open("mutants/mutmut-cicd-stats.json"))
caught = s["killed"] + s["timeout"] + s["suspicious"] + s["segfault"]
tested = caught + s["survived"]
print(
    f"mutation score {100 * caught / max(tested, 1):.1f}%: {caught} of {tested} mutants caught, "
    f"{s['survived']} survived; {s['no_tests']} more on lines no selected test runs "
    f"({100 * caught / max(tested + s['no_tests'], 1):.1f}% of all {s['total']}); "
    f"{sys.argv[1]} s"
)
PY
