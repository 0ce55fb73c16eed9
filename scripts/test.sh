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
echo "[test] pytest"
python -m pytest "$@"
