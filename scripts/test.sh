#!/usr/bin/env bash
# The README's test command: set up (idempotent), lint, then run every package's tests.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
set +u  # colcon's setup scripts read unset variables
# shellcheck disable=SC1091
source "$root/scripts/env.sh"
set -u
cd "$root"
echo "[test] ruff"
ruff check .
ruff format --check .
# The tests write bags, stores and models under the temporary folder (797 MB in one run); on
# a nearly full disk they fail by the dozen with errors far from the cause, so say so first.
tmp=${TMPDIR:-/tmp}
free_gb=$(df -Pk "$tmp" | awk 'NR == 2 {print int($4 / 1048576)}')
if [ "$free_gb" -lt "${SIMHUM_TEST_MIN_FREE_GB:-3}" ]; then
  echo "[test] error: $free_gb GB free on the disk of $tmp; the tests write about 1 GB" \
       "there (SIMHUM_TEST_MIN_FREE_GB, default 3, asked for) and the LeRobot check's" \
       "venv takes 12 GB once" >&2
  exit 1
fi
echo "[test] pytest"
python -m pytest "$@"
